/**
 * `zqueue bench`: request/reply load against anyone's service (`--connect`),
 * or a handler module through zqueue serve on each backend and thread count
 * (`--handler`). A live line while it runs, a table at the end, a versioned
 * JSON document with --json, and the exports of src/load/exports.ts; exit 1
 * when a request errored or timed out.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve as resolvePath } from 'node:path';
import * as zmq from 'zeromq';
import { Broker } from '../serve/broker.js';
import { connectUrlFor } from '../endpoints.js';
import { endpoint, handlerPath, resolveTable, type ResolvedOf } from '../options.js';
import { loadOptions } from './options.js';
import { runLoad, type LoadResult } from '../load/run.js';
import { cpuPerRequest, threadCpu, type CpuPerRequest, type ThreadCpu } from '../load/cpu.js';
import { BENCH_SCHEMA, benchEnvironment, type BenchDocument, type BenchRun } from '../load/document.js';
import { HdrLog, resultTable, writeExports, type ExportFormat } from '../load/exports.js';
import { UsageError, type CommandSpec, type Parsed } from './flags.js';

export const spec: CommandSpec = {
  name: 'bench',
  summary: "measure a REQ/REP service's throughput and latency (--connect), or a handler through zqueue serve (--handler)",
  usage: '--connect ENDPOINT | --handler FILE [options]',
  sections: [
    {
      table: loadOptions,
      keys: [
        'connect',
        'handler',
        'clients',
        'inFlight',
        'durationS',
        'requests',
        'rateRps',
        'sizeBytes',
        'message',
        'timeoutMs',
        'repeats',
        'cpuPid',
        'json',
        'clientsPerProcess',
      ],
    },
    {
      title: 'Exports',
      table: loadOptions,
      keys: ['exportJson', 'exportCsv', 'exportMarkdown', 'exportGithubBenchmark', 'exportBmf', 'exportHdr'],
    },
    { title: 'Security (tcp)', table: loadOptions, keys: ['curveServerKey', 'curveSecretKey'] },
  ],
  notes:
    '  Exit 1 when any request errored or timed out, or not every client got a first reply.\n  zqueue ' +
    'bench compare BASE.json HEAD.json compares two saved runs (see zqueue bench compare --help).',
};

type LoadOptions = ResolvedOf<typeof loadOptions>;

interface Target {
  readonly label: string;
  readonly backend: string | null;
  readonly threads: number | null;
  /** Measures one run: against the endpoints given, or through a broker it starts and closes. */
  measure(o: LoadOptions, hooks: RunHooks): Promise<Measured>;
}

interface Measured {
  readonly r: LoadResult;
  readonly cpu: CpuPerRequest | null;
  readonly cpuPid: number | null;
}

interface RunHooks {
  readonly keys: CurveKeys;
  readonly hdr: HdrLog | undefined;
  readonly label: string;
}

export async function run(parsed: Parsed): Promise<void> {
  const o = resolveTable('bench', loadOptions, parsed.of(loadOptions)) as LoadOptions;
  if ((o.connect === '') === (o.handler === '')) throw new UsageError('zqueue bench: give one of --connect ENDPOINT or --handler FILE');
  // Where the results go is checked before anything is measured: a typo must not cost the run.
  const files: Partial<Record<ExportFormat, string>> = {};
  if (o.exportJson !== '') files.json = o.exportJson;
  if (o.exportCsv !== '') files.csv = o.exportCsv;
  if (o.exportMarkdown !== '') files.markdown = o.exportMarkdown;
  if (o.exportGithubBenchmark !== '') files['github-benchmark'] = o.exportGithubBenchmark;
  if (o.exportBmf !== '') files.bmf = o.exportBmf;
  if (o.exportHdr !== '') files.hdr = o.exportHdr;
  for (const [format, file] of Object.entries(files)) writable(`--export-${format}`, file);
  if (o.handler !== '') handlerPath('handler', o.handler);
  const keys = curveKeys(o);
  const out = (text: string): void => void (o.json ? process.stderr : process.stdout).write(`${text}\n`);
  const kind = o.connect !== '' ? 'connect' : 'handler';
  const targetText = kind === 'connect' ? o.connect : resolvePath(o.handler);
  const targets = kind === 'connect' ? connectTargets(o.connect) : handlerTargets(targetText);
  const hdr = o.exportHdr !== '' ? new HdrLog(`zqueue bench ${kind === 'connect' ? '--connect' : '--handler'} ${targetText}`) : undefined;
  const runs: BenchRun[] = [];
  // Repeats are interleaved (every target once, then again), so that a slow spell of the machine spreads over all of them.
  for (let repeat = 0; repeat < o.repeats; repeat++) {
    for (const t of targets) {
      const label = o.repeats > 1 ? `${t.label} #${repeat + 1}` : t.label;
      const { r, cpu, cpuPid } = await t.measure(o, { keys, hdr, label });
      runs.push({ ...r, label: t.label, repeat, backend: t.backend, threads: t.threads, cpu, cpu_pid: cpuPid });
    }
  }
  const doc: BenchDocument = {
    schema: BENCH_SCHEMA,
    created_at: new Date().toISOString(),
    environment: benchEnvironment(),
    kind,
    target: targetText,
    repeats: o.repeats,
    runs,
  };
  if (kind === 'handler') out(`zqueue bench: ${targetText} through zqueue serve (tcp frontend)\n`);
  out(
    resultTable(
      o.repeats > 1 ? runs.map((r) => ({ ...r, label: `${r.label} #${r.repeat + 1}` })) : runs,
      kind === 'handler' ? 'backend / threads' : 'target',
    ),
  );
  if (o.json) process.stdout.write(`${JSON.stringify(doc)}\n`);
  const written = writeExports(doc, files, hdr);
  if (written.length > 0) process.stderr.write(`zqueue bench: wrote ${written.join(', ')}\n`);
  verdict(runs);
}

function connectTargets(connect: string): Target[] {
  const endpoints = connect
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const e of endpoints) endpoint('connect', e, 'connect');
  return [
    {
      label: connect,
      backend: null,
      threads: null,
      measure: (o, h) => load(o, endpoints, h, connect, o.cpuPid > 0 ? { pid: o.cpuPid, workers: () => new Set() } : undefined),
    },
  ];
}

function handlerTargets(handler: string): Target[] {
  const out: Target[] = [];
  for (const backend of ['tcp', 'ipc', 'inproc']) {
    for (let threads = 1; threads <= availableParallelism(); threads++) {
      out.push({
        label: `${backend} / ${threads}`,
        backend,
        threads,
        measure: async (o, h) => {
          const broker = await Broker.create({
            handler,
            threads,
            frontend: 'tcp://127.0.0.1:*',
            backend: backend === 'tcp' ? 'tcp://127.0.0.1:*' : backend,
          });
          try {
            await broker.device.waitForWorkers(threads);
            const workers = (): Set<number> => new Set(broker.stats().threads.flatMap((w) => (w.tid !== undefined ? [w.tid] : [])));
            return await load(
              o,
              [connectUrlFor(broker.frontendEndpoint)],
              {
                ...h,
                label: `${backend} backend, ${threads} thread${threads > 1 ? 's' : ''}${repeatOf(h.label)}`,
              },
              `${backend} / ${threads}`,
              { pid: process.pid, workers },
            );
          } finally {
            await broker.close();
          }
        },
      });
    }
  }
  return out;
}

interface CurveKeys {
  readonly curveServerKey: string;
  readonly curvePublicKey: string;
  readonly curveSecretKey: string;
}

function curveKeys(o: LoadOptions): CurveKeys {
  if (o.curveServerKey === '') return { curveServerKey: '', curvePublicKey: '', curveSecretKey: '' };
  if (o.curveSecretKey !== '')
    return { curveServerKey: o.curveServerKey, curvePublicKey: o.curvePublicKey, curveSecretKey: o.curveSecretKey };
  const pair = zmq.curveKeyPair();
  return { curveServerKey: o.curveServerKey, curvePublicKey: pair.publicKey, curveSecretKey: pair.secretKey };
}

/** One run, with a live line on stderr: req/s so far, errors, timeouts, time left. `tag` names its intervals in the HDR log. */
async function load(
  o: LoadOptions,
  endpoints: string[],
  h: RunHooks,
  tag = h.label,
  cpuOf?: { pid: number; workers: () => ReadonlySet<number> },
): Promise<Measured> {
  const tty = process.stderr.isTTY;
  const durationMs = o.durationS * 1000;
  const label = h.label;
  let last = 0;
  process.stderr.write(
    `${label}: ${o.clients} clients${o.inFlight > 1 ? ` with ${o.inFlight} requests in flight each` : ''} connecting…\n`,
  );
  const hdr = h.hdr;
  let cpu0: ThreadCpu | undefined;
  let cpu1: ThreadCpu | undefined;
  const read = (): ThreadCpu | undefined => (cpuOf !== undefined ? threadCpu(cpuOf.pid, cpuOf.workers()) : undefined);
  const r = await runLoad(
    {
      endpoints,
      clients: o.clients,
      inFlight: o.inFlight,
      durationMs,
      requests: o.requests,
      rateRps: o.rateRps,
      size: o.sizeBytes,
      message: o.message,
      timeoutMs: o.timeoutMs,
      clientsPerGenerator: o.clientsPerProcess,
      ...h.keys,
    },
    {
      measuring: () => {
        hdr?.run();
        cpu0 = read();
      },
      measured: () => (cpu1 = read()),
      progress: (p) => {
        if (!tty && p.elapsedMs - last < 2000) return;
        last = p.elapsedMs;
        const rps = Math.round((p.count / Math.max(1, p.elapsedMs)) * 1000);
        const left = Math.max(0, (durationMs - p.elapsedMs) / 1000);
        const line =
          `${label}: ${(p.elapsedMs / 1000).toFixed(1)} s, ${rps.toLocaleString('en-US')} req/s, ${p.errors} ` +
          `errors, ${p.timeouts} timeouts, ${o.requests > 0 ? `${p.count}/${o.requests} requests, at most ` : ''}${left.toFixed(0)} s left`;
        process.stderr.write(tty ? `\r${line.padEnd(100)}` : `${line}\n`);
      },
      ...(hdr !== undefined ? { interval: (hist, start, end) => hdr.interval(hist, tag, start, end) } : {}),
    },
  );
  if (tty) process.stderr.write('\n');
  const cpu = cpu0 !== undefined && cpu1 !== undefined ? cpuPerRequest(cpu0, cpu1, r.requests + r.errors) : null;
  if (cpuOf !== undefined && cpu === null)
    process.stderr.write(`zqueue bench: cannot read the CPU times of process ${cpuOf.pid} (/proc/${cpuOf.pid}/task)\n`);
  return { r, cpu, cpuPid: cpuOf?.pid ?? null };
}

/** Exit 1 (a thrown error, which main prints as one line) when anything went wrong. */
function verdict(results: readonly LoadResult[]): void {
  const errors = results.reduce((n, r) => n + r.errors, 0);
  const timeouts = results.reduce((n, r) => n + r.timeouts, 0);
  const cold = results.filter((r) => r.warmup_failed !== null).length;
  if (errors + timeouts + cold === 0) return;
  const first = results.find((r) => r.first_error !== null)?.first_error;
  const coldText = cold > 0 ? `, ${cold} run(s) never warmed up` : '';
  const firstText = first !== undefined && first !== null ? ` (first: ${first})` : '';
  throw new Error(`${errors} requests errored, ${timeouts} timed out${coldText}${firstText}`);
}

/** A file that can be written: its folder exists and takes writes, and it is not a folder itself. */
function writable(flag: string, file: string): void {
  const path = resolvePath(file);
  try {
    if (existsSync(path) && statSync(path).isDirectory()) throw new Error('it is a folder');
    accessSync(dirname(path), constants.W_OK);
  } catch (err) {
    const why =
      err instanceof Error && 'code' in err && err.code === 'ENOENT'
        ? `no folder ${dirname(path)}`
        : err instanceof Error
          ? err.message
          : String(err);
    throw new UsageError(`${flag} ${file}: cannot write there (${why})`);
  }
}

/** A label's repeat tag (` #2`), or ''. */
function repeatOf(label: string): string {
  return label.includes('#') ? ` ${label.slice(label.indexOf('#'))}` : '';
}
