/**
 * Scenario: a retry storm. Closed-loop clients that give up after
 * `timeoutMs` and ask again, the zguide's Lazy Pirate way, against a
 * sleeping handler of known speed behind `zqueue serve`'s device, at
 * `factor` times what the workers can do. What counts is goodput: replies
 * that reach a client still waiting for them.
 *
 * Clients, one request in flight each:
 * - `req`: a REQ socket; on a timeout it is closed and a new one sends a new request;
 * - `dealer`: one DEALER for good; on a timeout it sends a new request on the
 *   same socket (its late replies come and are thrown away);
 * - `zqueue`: the zqueue Client (it sends its deadline), retries 0, in a loop.
 *
 * Offered load: a client that always times out asks once per `timeoutMs`,
 * so `factor × capacity × timeoutMs` clients offer `factor × capacity`.
 * The clients run in a child process (lib/storm-clients.ts), as `zqueue
 * serve` and its clients would: the device's event loop is its own.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Broker } from '../src/serve/broker.js';
import { connectUrlFor } from '../src/endpoints.js';
import type { OverloadPolicy } from '../src/device/scheduling/overload.js';
import {
  STORM_CLIENTS,
  type FromClients,
  type StormClient,
  type StormClientsSpec,
  type StormTally,
  type ToClients,
} from './lib/storm-clients.js';

const SLEEP = fileURLToPath(new URL('../../examples/sleep.js', import.meta.url));
const CLIENTS = fileURLToPath(new URL('./lib/storm-clients.js', import.meta.url));

export { STORM_CLIENTS, type StormClient } from './lib/storm-clients.js';

/** A device configuration the storm runs against. */
export interface StormPolicy {
  readonly name: string;
  readonly overloadPolicy: OverloadPolicy;
  readonly maxWaitMs: number;
}

export const STORM_POLICIES: readonly StormPolicy[] = [
  { name: 'off', overloadPolicy: 'off', maxWaitMs: 0 },
  { name: 'adaptive (default)', overloadPolicy: 'adaptive', maxWaitMs: 0 },
  { name: 'off, --max-wait 100', overloadPolicy: 'off', maxWaitMs: 100 },
];

export interface RetryStormOptions {
  readonly durationMs: number;
  readonly warmupMs?: number;
  readonly handlerMs?: number;
  readonly threads?: number;
  readonly timeoutMs?: number;
  readonly factors?: readonly number[];
  readonly clients?: readonly StormClient[];
  readonly policies?: readonly StormPolicy[];
}

export interface StormCell {
  readonly policy: string;
  readonly client: StormClient;
  readonly factor: number;
  readonly clients: number;
  readonly capacity_rps: number;
  /** Replies that came back before their client gave up, a second. */
  readonly in_time_rps: number;
  /** What the workers answered, a second (in time, late, or to nobody). */
  readonly processed_rps: number;
  /** in_time_rps / capacity_rps and in_time_rps / processed_rps. */
  readonly goodput: number;
  readonly useful_share: number;
  /** Busy (or other error) replies a second, and attempts that timed out. */
  readonly errors_rps: number;
  readonly timeouts_rps: number;
  readonly in_time_p99_ms: number;
  /** Requests the device dropped before a worker, a second, by why. */
  readonly shed_rps: { readonly abandoned: number; readonly expired: number; readonly replaced: number; readonly policy: number };
}

export interface RetryStormReport {
  readonly handler_ms: number;
  readonly timeout_ms: number;
  readonly threads: number;
  readonly duration_ms: number;
  readonly cells: readonly StormCell[];
}

export async function runRetryStorm(o: RetryStormOptions, onCell: (label: string) => void = () => {}): Promise<RetryStormReport> {
  const handlerMs = o.handlerMs ?? 10;
  const threads = o.threads ?? 2;
  const timeoutMs = o.timeoutMs ?? 200;
  const capacity = (threads * 1000) / handlerMs;
  const cells: StormCell[] = [];
  for (const factor of o.factors ?? [2, 10]) {
    for (const client of o.clients ?? STORM_CLIENTS) {
      // Side by side: every policy for this load before the next load.
      for (const policy of o.policies ?? STORM_POLICIES) {
        onCell(`${policy.name}, ${client} clients, ${factor}x`);
        cells.push(
          await cell({
            policy,
            client,
            factor,
            handlerMs,
            threads,
            timeoutMs,
            capacity,
            durationMs: o.durationMs,
            warmupMs: o.warmupMs ?? 1000,
          }),
        );
      }
    }
  }
  return { handler_ms: handlerMs, timeout_ms: timeoutMs, threads, duration_ms: o.durationMs, cells };
}

interface CellSpec {
  readonly policy: StormPolicy;
  readonly client: StormClient;
  readonly factor: number;
  readonly handlerMs: number;
  readonly threads: number;
  readonly timeoutMs: number;
  readonly capacity: number;
  readonly durationMs: number;
  readonly warmupMs: number;
}

async function cell(c: CellSpec): Promise<StormCell> {
  const prevSleep = process.env.ZQ_SLEEP_MS;
  process.env.ZQ_SLEEP_MS = String(c.handlerMs); // worker threads copy the environment at start
  const broker = await Broker.create({
    handler: SLEEP,
    threads: c.threads,
    frontend: 'tcp://127.0.0.1:*',
    overloadPolicy: c.policy.overloadPolicy,
    maxWaitMs: c.policy.maxWaitMs,
  });
  if (prevSleep === undefined) delete process.env.ZQ_SLEEP_MS;
  else process.env.ZQ_SLEEP_MS = prevSleep;
  const endpoint = connectUrlFor(broker.frontendEndpoint);
  const n = Math.max(1, Math.round((c.factor * c.capacity * c.timeoutMs) / 1000));
  const spec: StormClientsSpec = { kind: c.client, endpoint, timeoutMs: c.timeoutMs, clients: n };
  // The clients in a process of their own, as `zqueue serve` and its clients would be.
  const child = fork(CLIENTS, [JSON.stringify(spec)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let before: ReturnType<Broker['stats']>['device'];
  let after: ReturnType<Broker['stats']>['device'];
  let t0: number;
  let seconds: number;
  let tally: StormTally;
  try {
    await new Promise((r) => setTimeout(r, c.warmupMs));
    await ask(child, { type: 'record' }, 'recording');
    before = broker.stats().device;
    t0 = performance.now();
    await new Promise((r) => setTimeout(r, c.durationMs));
    const answer = await ask(child, { type: 'stop-record' }, 'tally');
    seconds = (performance.now() - t0) / 1000;
    after = broker.stats().device;
    if (answer.type !== 'tally') throw new Error('storm clients: no tally');
    tally = answer.tally;
    await ask(child, { type: 'stop' }, 'done');
    const [code] = (await exited(child)) as [number | null];
    if (code !== 0) throw new Error(`storm clients ended with exit ${String(code)}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    await broker.close({ timeoutMs: 0 });
  }
  const counted = (
    s: typeof before,
  ): { answered: number; shed: { abandoned: number; expired: number; replaced: number; policy: number } } =>
    s.counted ? { answered: s.answered, shed: s.shed } : { answered: 0, shed: { abandoned: 0, expired: 0, replaced: 0, policy: 0 } };
  const a = counted(after);
  const b = counted(before);
  const rate = (x: number): number => Math.round((x / seconds) * 10) / 10;
  const processed = a.answered - b.answered;
  return {
    policy: c.policy.name,
    client: c.client,
    factor: c.factor,
    clients: n,
    capacity_rps: c.capacity,
    in_time_rps: rate(tally.inTime),
    processed_rps: rate(processed),
    goodput: round2(tally.inTime / seconds / c.capacity),
    useful_share: processed > 0 ? round2(tally.inTime / processed) : 0,
    errors_rps: rate(tally.errors),
    timeouts_rps: rate(tally.timeouts),
    in_time_p99_ms: Math.round(tally.inTimeP99Us / 100) / 10,
    shed_rps: {
      abandoned: rate(a.shed.abandoned - b.shed.abandoned),
      expired: rate(a.shed.expired - b.shed.expired),
      replaced: rate(a.shed.replaced - b.shed.replaced),
      policy: rate(a.shed.policy - b.shed.policy),
    },
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Sends `m` and waits for the answer of type `want`; a child that exits first fails it. */
async function ask(child: ChildProcess, m: ToClients, want: FromClients['type']): Promise<FromClients> {
  if (child.exitCode !== null || child.signalCode !== null)
    throw new Error(`storm clients ended with ${child.signalCode ?? `exit ${String(child.exitCode)}`} before '${want}'`);
  const answer = new Promise<FromClients>((resolve, reject) => {
    const onMessage = (a: FromClients): void => {
      if (a.type !== want) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(a);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      child.off('message', onMessage);
      reject(new Error(`storm clients ended with ${signal ?? `exit ${String(code)}`} before '${want}'`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
  child.send(m);
  return answer;
}

/** The child's exit, whether it already came or not. */
async function exited(child: ChildProcess): Promise<unknown[]> {
  if (child.exitCode !== null || child.signalCode !== null) return [child.exitCode, child.signalCode];
  return once(child, 'exit');
}

export function retryStormMarkdown(r: RetryStormReport): string {
  const lines = [
    `${r.threads} worker threads, a ${r.handler_ms} ms handler (capacity ${(r.threads * 1000) / r.handler_ms} req/s), clients that give up after ${r.timeout_ms} ms; ${r.duration_ms} ms measured a cell.`,
    'goodput: replies in time ÷ capacity; useful: replies in time ÷ what the workers answered.',
    '',
    '| load | clients | policy | goodput | useful | in time/s | processed/s | busy/s | timeouts/s | p99 in time ms | shed/s abandoned, expired, replaced, policy |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const c of r.cells) {
    const s = c.shed_rps;
    lines.push(
      `| ${c.factor}x | ${c.clients} ${c.client} | ${c.policy} | ${c.goodput.toFixed(2)} | ${c.useful_share.toFixed(2)} | ${c.in_time_rps} | ${c.processed_rps} | ${c.errors_rps} | ${c.timeouts_rps} | ${c.in_time_p99_ms} | ${s.abandoned}, ${s.expired}, ${s.replaced}, ${s.policy} |`,
    );
  }
  return lines.join('\n');
}

/**
 * In a process of its own (`node dist/bench/retry-storm.js '<options as JSON>'`), printing the
 * report as JSON: `npm run bench` runs it so, since the device there serves hundreds of clients
 * churning connections (in a child process: lib/storm-clients.ts), and a native fault there must
 * not end the whole bench.
 */
if (import.meta.url === `file://${process.argv[1]}`) {
  const o = JSON.parse(process.argv[2] ?? '{}') as RetryStormOptions;
  const r = await runRetryStorm(o, (label) => process.stderr.write(`retry-storm: ${label}\n`));
  process.stdout.write(`${JSON.stringify(r)}\n`);
}
