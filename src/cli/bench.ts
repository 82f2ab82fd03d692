/**
 * `zqueue bench`: request/reply load against anyone's service (`--connect`),
 * or a handler module through zqueue serve on each backend and thread count
 * (`--handler`). A live line while it runs, a table at the end, a versioned
 * JSON document with --json; exit 1 when a request errored or timed out.
 */
import { availableParallelism } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import * as zmq from 'zeromq';
import { Broker } from '../broker.js';
import { connectUrlFor } from '../endpoints.js';
import { endpoint, loadOptions, resolveTable, type ResolvedOf } from '../options.js';
import { LOAD_SCHEMA, runLoad, type LoadResult } from '../load/run.js';
import { UsageError, type CommandSpec, type Parsed } from './flags.js';

export const spec: CommandSpec = {
  name: 'bench',
  summary: "measure a REQ/REP service's throughput and latency (--connect), or a handler through zqueue serve (--handler)",
  usage: '--connect ENDPOINT | --handler FILE [options]',
  sections: [
    { table: loadOptions, keys: ['connect', 'handler', 'clients', 'durationS', 'requests', 'rateRps', 'sizeBytes', 'message', 'timeoutMs', 'json', 'clientsPerProcess'] },
    { title: 'Security (tcp)', table: loadOptions, keys: ['curveServerKey', 'curveSecretKey'] },
  ],
  notes: '  Exit 1 when any request errored or timed out, or not every client got a first reply.',
};

type LoadOptions = ResolvedOf<typeof loadOptions>;

export async function run(parsed: Parsed): Promise<void> {
  const o = resolveTable('bench', loadOptions, parsed.of(loadOptions)) as LoadOptions;
  if ((o.connect === '') === (o.handler === '')) throw new UsageError('zqueue bench: give one of --connect ENDPOINT or --handler FILE');
  const keys = curveKeys(o);
  const out = (text: string): void => void (o.json ? process.stderr : process.stdout).write(`${text}\n`);
  if (o.connect !== '') {
    const endpoints = o.connect.split(',').map((e) => e.trim()).filter((e) => e !== '');
    for (const e of endpoints) endpoint('connect', e, 'connect');
    const r = await load(o, endpoints, keys, o.connect);
    out(table([{ label: o.connect, r }]));
    if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    verdict([r]);
    return;
  }
  const handler = resolvePath(o.handler);
  const backends = ['tcp', 'ipc', 'inproc'];
  const runs: { backend: string; threads: number; r: LoadResult }[] = [];
  for (const backend of backends) {
    for (let threads = 1; threads <= availableParallelism(); threads++) {
      const broker = await Broker.create({ handler, threads, frontend: 'tcp://127.0.0.1:*', backend: backend === 'tcp' ? 'tcp://127.0.0.1:*' : backend });
      try {
        await broker.device.waitForWorkers(threads);
        runs.push({ backend, threads, r: await load(o, [connectUrlFor(broker.frontendEndpoint)], keys, `${backend} backend, ${threads} thread${threads > 1 ? 's' : ''}`) });
      } finally {
        await broker.close();
      }
    }
  }
  out(`zqueue bench: ${handler} through zqueue serve (tcp frontend)\n`);
  out(table(runs.map(({ backend, threads, r }) => ({ label: `${backend} / ${threads}`, r })), 'backend / threads'));
  if (o.json) process.stdout.write(`${JSON.stringify({ schema: LOAD_SCHEMA, handler, runs: runs.map(({ backend, threads, r }) => ({ backend, threads, ...r })) })}\n`);
  verdict(runs.map((x) => x.r));
}

function curveKeys(o: LoadOptions): { curveServerKey: string; curvePublicKey: string; curveSecretKey: string } {
  if (o.curveServerKey === '') return { curveServerKey: '', curvePublicKey: '', curveSecretKey: '' };
  if (o.curveSecretKey !== '') return { curveServerKey: o.curveServerKey, curvePublicKey: o.curvePublicKey, curveSecretKey: o.curveSecretKey };
  const pair = zmq.curveKeyPair();
  return { curveServerKey: o.curveServerKey, curvePublicKey: pair.publicKey, curveSecretKey: pair.secretKey };
}

/** One run, with a live line on stderr: req/s so far, errors, timeouts, time left. */
async function load(o: LoadOptions, endpoints: string[], keys: ReturnType<typeof curveKeys>, label: string): Promise<LoadResult> {
  const tty = process.stderr.isTTY;
  const durationMs = o.durationS * 1000;
  let last = 0;
  process.stderr.write(`${label}: ${o.clients} clients connecting…\n`);
  const r = await runLoad(
    {
      endpoints,
      clients: o.clients,
      durationMs,
      requests: o.requests,
      rateRps: o.rateRps,
      size: o.sizeBytes,
      message: o.message,
      timeoutMs: o.timeoutMs,
      clientsPerGenerator: o.clientsPerProcess,
      ...keys,
    },
    {
      progress: (p) => {
        if (!tty && p.elapsedMs - last < 2000) return;
        last = p.elapsedMs;
        const rps = Math.round((p.count / Math.max(1, p.elapsedMs)) * 1000);
        const left = Math.max(0, (durationMs - p.elapsedMs) / 1000);
        const line = `${label}: ${(p.elapsedMs / 1000).toFixed(1)} s, ${rps.toLocaleString('en-US')} req/s, ${p.errors} errors, ${p.timeouts} timeouts, ${o.requests > 0 ? `${p.count}/${o.requests} requests, at most ` : ''}${left.toFixed(0)} s left`;
        process.stderr.write(tty ? `\r${line.padEnd(100)}` : `${line}\n`);
      },
    },
  );
  if (tty) process.stderr.write('\n');
  return r;
}

function table(rows: readonly { label: string; r: LoadResult }[], first = 'target'): string {
  const ms = (us: number): string => (us / 1000).toFixed(2);
  return [
    `| ${first} | clients | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | requests | errors | timeouts |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(({ label, r }) =>
      r.warmup_failed !== null
        ? `| ${label} | ${r.clients} | not measured: ${r.warmup_failed} | | | | | | | | |`
        : `| ${label} | ${r.clients} | ${r.throughput_rps.toLocaleString('en-US')} | ${ms(r.latency.p50_us)} | ${ms(r.latency.p90_us)} | ${ms(r.latency.p99_us)} | ${ms(r.latency.p99_9_us)} | ${ms(r.latency.max_us)} | ${r.requests} | ${r.errors} | ${r.timeouts} |`,
    ),
  ].join('\n');
}

/** Exit 1 (a thrown error, which main prints as one line) when anything went wrong. */
function verdict(results: readonly LoadResult[]): void {
  const errors = results.reduce((n, r) => n + r.errors, 0);
  const timeouts = results.reduce((n, r) => n + r.timeouts, 0);
  const cold = results.filter((r) => r.warmup_failed !== null).length;
  if (errors + timeouts + cold === 0) return;
  const first = results.find((r) => r.first_error !== null)?.first_error;
  throw new Error(`${errors} requests errored, ${timeouts} timed out${cold > 0 ? `, ${cold} run(s) never warmed up` : ''}${first !== undefined && first !== null ? ` (first: ${first})` : ''}`);
}
