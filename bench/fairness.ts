/**
 * Scenario: fairness under a noisy client. `zqueue serve`'s broker with a
 * sleeping handler of known speed (examples/sleep.js, so capacity does not
 * depend on this machine's CPU), N well-behaved closed-loop REQ clients, and
 * one DEALER that floods at `factor` times capacity, tagging each request so
 * every reply (busy included) says which it answers. Three phases, side by
 * side in one run, each bounded in time:
 *
 * - `alone`: the good clients without the flood;
 * - `fair`: with the flood, the default fair queue;
 * - `fifo`: with the flood, queueOrder "fifo" (one queue in arrival order).
 *
 * Every flood request must be answered exactly once, with a reply or busy.
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as zmq from 'zeromq';
import { Broker } from '../src/broker.js';
import { connectUrlFor } from '../src/endpoints.js';
import { parseErrorReply } from '../src/protocol.js';
import { createHistogram, record, summarize, type LatencySummary } from '../src/latency.js';

const SLEEP = fileURLToPath(new URL('../../examples/sleep.js', import.meta.url));

export interface FairnessOptions {
  readonly durationMs: number;
  readonly goodClients?: number;
  /** Flood rate over capacity. Default 10. */
  readonly factor?: number;
  readonly handlerMs?: number;
  readonly threads?: number;
  readonly maxQueued?: number;
}

export interface FairnessPhase {
  readonly phase: 'alone' | 'fair' | 'fifo';
  readonly good: LatencySummary & { readonly answered: number; readonly busy: number; readonly errors: number };
  readonly flood: (LatencySummary & { readonly sent: number; readonly answered: number; readonly busy: number; readonly lost: number; readonly duplicates: number }) | undefined;
  /** Replies (not busy) per second, both kinds of client together. */
  readonly throughput_rps: number;
}

export interface FairnessReport {
  readonly capacity_rps: number;
  readonly offered_rps: number;
  readonly phases: readonly FairnessPhase[];
}

export async function runFairness(o: FairnessOptions, onPhase: (name: string) => void = () => {}): Promise<FairnessReport> {
  const handlerMs = o.handlerMs ?? 10;
  const threads = o.threads ?? 2;
  const capacity = (threads * 1000) / handlerMs;
  const offered = capacity * (o.factor ?? 10);
  const phases: FairnessPhase[] = [];
  for (const phase of ['alone', 'fair', 'fifo'] as const) {
    onPhase(phase);
    phases.push(await runPhase(phase, o, handlerMs, threads, offered));
  }
  return { capacity_rps: capacity, offered_rps: offered, phases };
}

async function runPhase(phase: FairnessPhase['phase'], o: FairnessOptions, handlerMs: number, threads: number, offered: number): Promise<FairnessPhase> {
  const prevSleep = process.env.ZQ_SLEEP_MS;
  process.env.ZQ_SLEEP_MS = String(handlerMs); // worker threads copy the environment at start
  const broker = await Broker.create({
    handler: SLEEP,
    threads,
    frontend: 'tcp://127.0.0.1:*',
    maxQueued: o.maxQueued ?? 400,
    queueOrder: phase === 'fifo' ? 'fifo' : 'fair',
    handlerTimeoutMs: 60_000,
  });
  if (prevSleep === undefined) delete process.env.ZQ_SLEEP_MS;
  else process.env.ZQ_SLEEP_MS = prevSleep;
  const endpoint = connectUrlFor(broker.frontendEndpoint);
  const goodLatency = createHistogram();
  const good = { answered: 0, busy: 0, errors: 0 };
  let stop = false;
  const t0 = performance.now();
  const goodLoops = Array.from({ length: o.goodClients ?? 8 }, async () => {
    const req = new zmq.Request({ linger: 0, receiveTimeout: 30_000 });
    req.connect(endpoint);
    try {
      while (!stop) {
        const start = performance.now();
        await req.send('good');
        const reply = await req.receive();
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
  if (phase === 'alone') {
    await new Promise((r) => setTimeout(r, o.durationMs));
    stop = true;
    await Promise.all(goodLoops);
  } else {
    flood = await runFlood(endpoint, offered, o.durationMs, () => {
      stop = true;
    });
    await Promise.all(goodLoops);
  }
  const elapsedS = (performance.now() - t0) / 1000;
  await broker.close({ timeoutMs: 1000 });
  return { phase, good: { ...summarize(goodLatency), ...good }, flood, throughput_rps: Math.round((good.answered + (flood?.answered ?? 0)) / elapsedS) };
}

/** Floods at `rate` for `ms` from one DEALER, then waits for every answer (bounded), calling `loadDone` when the load stops. */
async function runFlood(endpoint: string, rate: number, ms: number, loadDone: () => void): Promise<NonNullable<FairnessPhase['flood']>> {
  const dealer = new zmq.Dealer({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
  dealer.connect(endpoint);
  const sentAt = new Map<number, number>();
  const latency = createHistogram();
  let answered = 0;
  let busy = 0;
  let duplicates = 0;
  let settle: (() => void) | undefined;
  let loading = true;
  const reader = (async () => {
    try {
      for await (const [tag, , ...body] of dealer) {
        const seq = tag?.readUInt32BE(0) ?? -1;
        const t = sentAt.get(seq);
        if (t === undefined) {
          duplicates++;
          continue;
        }
        sentAt.delete(seq);
        record(latency, (performance.now() - t) * 1000);
        if (parseErrorReply(body)?.kind === 'busy') busy++;
        else answered++;
        if (!loading && sentAt.size === 0) settle?.();
      }
    } catch {
      // closed
    }
  })();
  let sent = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - t0;
      if (elapsed >= ms) {
        clearInterval(tick);
        resolve();
        return;
      }
      // Open loop: the requests owed by now, whatever came back (no coordinated omission: latency counts from here).
      for (let owed = Math.floor((elapsed / 1000) * rate) - sent; owed > 0; owed--) {
        const tag = Buffer.allocUnsafe(4);
        tag.writeUInt32BE(sent, 0);
        sentAt.set(sent++, performance.now());
        void dealer.send([tag, Buffer.alloc(0), Buffer.from('flood')]).catch(() => undefined);
      }
    }, 5);
  });
  loading = false;
  loadDone();
  if (sentAt.size > 0) {
    await new Promise<void>((resolve) => {
      settle = resolve;
      setTimeout(resolve, 60_000).unref();
    });
  }
  const lost = sentAt.size;
  dealer.close();
  await reader;
  return { ...summarize(latency), sent, answered, busy, lost, duplicates };
}

/** The scenario's table, for the run's report. */
export function fairnessMarkdown(r: FairnessReport): string {
  const ms = (us: number): string => (us / 1000).toFixed(1);
  const rows = r.phases.map((p) => {
    const f = p.flood;
    return `| ${p.phase} | ${ms(p.good.p50_us)} | ${ms(p.good.p99_us)} | ${ms(p.good.max_us)} | ${p.good.busy} | ${f === undefined ? '–' : `${f.answered} / ${f.busy} / ${f.lost}`} | ${f === undefined ? '–' : `${ms(f.p50_us)} / ${ms(f.p99_us)} / ${ms(f.max_us)}`} | ${p.throughput_rps} |`;
  });
  return [
    `Fairness: capacity ${r.capacity_rps} req/s (sleeping handler), flood offered ${r.offered_rps} req/s by one client.`,
    '',
    '| phase | good p50 ms | good p99 ms | good max ms | good busy | flood answered / busy / lost | flood p50 / p99 / max ms | replies/s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}
