/**
 * Scenario: fairness under a flood. `zqueue serve`'s broker on its defaults
 * (2 worker threads, least-busy, adaptive) with a handler that spins 1 ms of
 * CPU (examples/spin.js: capacity 2000 req/s on any machine), 10 well-behaved
 * closed-loop REQ clients, and one DEALER that sends 20 000 requests at once
 * and reads every reply, from a process of its own (lib/flood-client.ts).
 * The good clients' latency is measured before the flood and during it only
 * (from its first send to its last answer): a flooding client must not cost
 * the others much of it. Three phases, side by side in one run:
 *
 * - `alone`: the good clients without the flood;
 * - `fair`: with the flood, on defaults (the fair queue);
 * - `fifo`: with the flood, queueOrder "fifo" (one queue in arrival order),
 *   bounded in time: the good clients wait behind the flood there.
 *
 * Every flood request must be answered exactly once, with a reply or busy.
 */
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as zmq from 'zeromq';
import { Broker } from '../src/serve/broker.js';
import { connectUrlFor } from '../src/endpoints.js';
import { parseErrorReply } from '../src/protocol.js';
import { createHistogram, record, summarize, type LatencySummary } from '../src/latency.js';
import type { FloodSpec, FloodTally, FromFlood } from './lib/flood-client.js';

const SPIN = fileURLToPath(new URL('../../examples/spin.js', import.meta.url));
const FLOOD = fileURLToPath(new URL('./lib/flood-client.js', import.meta.url));

export interface FairnessOptions {
  /** How long the good clients are measured alone (ms). */
  readonly durationMs: number;
  readonly goodClients?: number;
  /** Requests the flood sends at once. Default 20 000. */
  readonly flood?: number;
  readonly handlerMs?: number;
  readonly threads?: number;
  /** The most a flood phase may last (ms). Default 20 s. */
  readonly limitMs?: number;
}

export interface FairnessPhase {
  readonly phase: 'alone' | 'fair' | 'fifo';
  /** The good clients, alone, or during the flood only. */
  readonly good: LatencySummary & { readonly answered: number; readonly busy: number; readonly errors: number };
  readonly flood: (FloodTally & { readonly lost: number }) | undefined;
  /** Replies (not busy) per second, both kinds of client together, over the phase's measured time. */
  readonly throughput_rps: number;
}

export interface FairnessReport {
  readonly capacity_rps: number;
  readonly flood_requests: number;
  readonly handler_ms: number;
  readonly phases: readonly FairnessPhase[];
  /** The good clients' p99 during the flood (fair) over their p99 alone. */
  readonly p99_ratio: number;
}

export async function runFairness(o: FairnessOptions, onPhase: (name: string) => void = () => {}): Promise<FairnessReport> {
  const handlerMs = o.handlerMs ?? 1;
  const threads = o.threads ?? 2;
  const phases: FairnessPhase[] = [];
  for (const phase of ['alone', 'fair', 'fifo'] as const) {
    onPhase(phase);
    phases.push(await runPhase(phase, o, handlerMs, threads));
  }
  const p99 = (name: FairnessPhase['phase']): number => phases.find((p) => p.phase === name)?.good.p99_us ?? 0;
  return {
    capacity_rps: (threads * 1000) / handlerMs,
    flood_requests: o.flood ?? 20_000,
    handler_ms: handlerMs,
    phases,
    p99_ratio: Math.round((p99('fair') / Math.max(1, p99('alone'))) * 100) / 100,
  };
}

async function runPhase(phase: FairnessPhase['phase'], o: FairnessOptions, handlerMs: number, threads: number): Promise<FairnessPhase> {
  const prevSpin = process.env.ZQ_SPIN_MS;
  process.env.ZQ_SPIN_MS = String(handlerMs); // worker threads copy the environment at start
  const broker = await Broker.create({
    handler: SPIN,
    threads,
    frontend: 'tcp://127.0.0.1:*',
    ...(phase === 'fifo' ? { queueOrder: 'fifo' as const } : {}),
  });
  if (prevSpin === undefined) delete process.env.ZQ_SPIN_MS;
  else process.env.ZQ_SPIN_MS = prevSpin;
  const endpoint = connectUrlFor(broker.frontendEndpoint);
  try {
    await broker.device.waitForWorkers(threads);
    const goodLatency = createHistogram();
    const good = { answered: 0, busy: 0, errors: 0 };
    let measuring = phase === 'alone';
    let stop = false;
    const goodLoops = Array.from({ length: o.goodClients ?? 10 }, async () => {
      const req = new zmq.Request({ linger: 0, receiveTimeout: 60_000 });
      req.connect(endpoint);
      try {
        while (!stop) {
          const start = performance.now();
          await req.send('good');
          const reply = await req.receive();
          if (!measuring) continue;
          record(goodLatency, (performance.now() - start) * 1000);
          const err = parseErrorReply(reply);
          if (err === undefined) good.answered++;
          else if (err.kind === 'busy') good.busy++;
          else good.errors++;
        }
      } catch {
        good.errors++;
      } finally {
        req.close();
      }
    });
    let flood: FairnessPhase['flood'];
    const t0 = performance.now();
    let elapsedMs: number;
    if (phase === 'alone') {
      await new Promise((r) => setTimeout(r, o.durationMs));
      elapsedMs = performance.now() - t0;
    } else {
      const spec: FloodSpec = { endpoint, requests: o.flood ?? 20_000, limitMs: o.limitMs ?? 20_000 };
      const child = fork(FLOOD, [JSON.stringify(spec)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const messages: FromFlood[] = [];
      let wake: (() => void) | undefined;
      child.on('message', (m) => {
        messages.push(m as FromFlood);
        wake?.();
      });
      const next = async (type: FromFlood['type']): Promise<FromFlood> => {
        for (;;) {
          const i = messages.findIndex((m) => m.type === type);
          if (i >= 0) return messages.splice(i, 1)[0] as FromFlood;
          if (child.exitCode !== null) throw new Error(`the flood's process ended (code ${child.exitCode}) before '${type}'`);
          await new Promise<void>((r) => (wake = r));
        }
      };
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.once('exit', () => wake?.());
      await next('ready');
      // Warm: the good clients run a second before the flood, unmeasured.
      await new Promise((r) => setTimeout(r, 1000));
      measuring = true;
      const started = performance.now();
      child.send('go');
      const done = await next('done');
      elapsedMs = performance.now() - started;
      measuring = false;
      await exited;
      if (done.type === 'done') flood = { ...done.tally, lost: done.tally.unanswered };
    }
    stop = true;
    await Promise.all(goodLoops);
    return {
      phase,
      good: { ...summarize(goodLatency), ...good },
      flood,
      throughput_rps: Math.round(((good.answered + (flood?.served ?? 0)) * 1000) / Math.max(1, elapsedMs)),
    };
  } finally {
    await broker.close({ timeoutMs: 1000 });
  }
}

/** The scenario's table, for the run's report. */
export function fairnessMarkdown(r: FairnessReport): string {
  const ms = (us: number): string => (us / 1000).toFixed(1);
  const rows = r.phases.map((p) => {
    const f = p.flood;
    return `| ${p.phase} | ${ms(p.good.p50_us)} | ${ms(p.good.p99_us)} | ${ms(p.good.max_us)} | ${p.good.answered} | ${f === undefined ? '–' : `${f.served} / ${f.busy} / ${f.lost}`} | ${f === undefined ? '–' : (f.ms / 1000).toFixed(1)} | ${p.throughput_rps} |`;
  });
  return [
    `Fairness: closed-loop REQ clients and one DEALER sending ${r.flood_requests} requests at once, zqueue serve on its defaults, a handler spinning ${r.handler_ms} ms of CPU (capacity ${r.capacity_rps} req/s). The good clients are measured alone, and during the flood only.`,
    '',
    '| phase | good p50 ms | good p99 ms | good max ms | good answered | flood served / busy / lost | flood s | replies/s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `The good clients' p99 during the flood is ${r.p99_ratio}× their p99 alone (fair queue, defaults).`,
  ].join('\n');
}
