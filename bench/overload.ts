/**
 * Scenario: overload. Open-loop load at `factor` times what the servers can
 * do (a sleeping handler of known speed on worker threads behind the
 * least-busy device) for `durationMs`: the device must answer the excess
 * with `busy` at once, keep its memory bounded, serve the requests it
 * accepts at about capacity, lose nothing, and recover when the load stops.
 *
 * Senders are DEALER sockets that put a sequence number in the envelope
 * (`[seq, "", body]`), so every reply, error replies included, says which
 * request it answers.
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as zmq from 'zeromq';
import { Broker } from '../src/serve/broker.js';
import { Client } from '../src/client.js';
import { connectUrlFor } from '../src/endpoints.js';
import { parseErrorReply } from '../src/protocol.js';
import { createHistogram, record, summarize, type LatencySummary } from '../src/latency.js';

const SLEEP = fileURLToPath(new URL('../../examples/sleep.js', import.meta.url));

export interface OverloadOptions {
  readonly durationMs: number;
  /** Offered load over capacity. Default 10. */
  readonly factor?: number;
  /** Handler time per request, ms (examples/sleep.js). Default 10. */
  readonly handlerMs?: number;
  readonly threads?: number;
  readonly maxQueued?: number;
  /** Load-generating DEALER sockets. Default 10. */
  readonly senders?: number;
  /** How long to wait for the last replies after the load stops. Default 10 s. */
  readonly graceMs?: number;
}

export interface OverloadReport {
  readonly capacity_rps: number;
  readonly offered_rps: number;
  readonly duration_ms: number;
  readonly sent: number;
  readonly answered: number;
  readonly busy: number;
  readonly other_errors: number;
  /** Requests that got no reply at all. Must be 0. */
  readonly lost: number;
  /** Answered requests per second while the load ran, and as a share of capacity (nominal: threads × 1000 / handlerMs). */
  readonly accepted_rps: number;
  readonly accepted_share: number;
  /** What closed-loop clients got just before the load, on this machine as it was then, and accepted_rps against it. */
  readonly baseline_rps: number;
  readonly accepted_vs_baseline: number;
  /** How fast `busy` came back, at the client (µs). */
  readonly busy_latency: LatencySummary;
  readonly answered_latency: LatencySummary;
  readonly rss_mb: { readonly before: number; readonly peak: number; readonly after: number };
  /** The most requests the device had queued. */
  readonly peak_queued: number;
  /** After the load: sequential requests all answered, the slowest in this many ms. */
  readonly recovered: boolean;
  readonly recovery_max_ms: number;
}

const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

export async function runOverload(o: OverloadOptions): Promise<OverloadReport> {
  const handlerMs = o.handlerMs ?? 10;
  const threads = o.threads ?? 2;
  const factor = o.factor ?? 10;
  const senders = o.senders ?? 10;
  const prevSleep = process.env.ZQ_SLEEP_MS;
  process.env.ZQ_SLEEP_MS = String(handlerMs); // worker threads copy the environment at start
  const capacity = (threads * 1000) / handlerMs;
  const offered = capacity * factor;
  const broker = await Broker.create({
    handler: SLEEP,
    threads,
    frontend: 'tcp://127.0.0.1:*',
    maxQueued: o.maxQueued ?? 50,
    handlerTimeoutMs: 30_000,
  });
  if (prevSleep === undefined) delete process.env.ZQ_SLEEP_MS;
  else process.env.ZQ_SLEEP_MS = prevSleep;
  const endpoint = connectUrlFor(broker.frontendEndpoint);
  // Capacity as this machine gives it now: closed-loop clients, twice the threads, for a second, before the load.
  const baselineRps = await closedLoopRps(endpoint, threads * 2, 1000);
  const sockets = Array.from({ length: senders }, () => {
    const s = new zmq.Dealer({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
    s.connect(endpoint);
    return s;
  });
  const pending = new Map<number, number>();
  const busyLatency = createHistogram();
  const okLatency = createHistogram();
  let answered = 0;
  let busy = 0;
  let otherErrors = 0;
  let answeredDuringLoad = 0;
  let loading = true;
  let settle: (() => void) | undefined;
  const readers = sockets.map(async (s) => {
    try {
      for await (const [seqFrame, , ...body] of s) {
        const seq = seqFrame?.readUInt32BE(0) ?? -1;
        const t0 = pending.get(seq);
        if (t0 === undefined) continue;
        pending.delete(seq);
        const us = (performance.now() - t0) * 1000;
        const err = parseErrorReply(body);
        if (err === undefined) {
          answered++;
          if (loading) answeredDuringLoad++;
          record(okLatency, us);
        } else if (err.kind === 'busy') {
          busy++;
          record(busyLatency, us);
        } else {
          otherErrors++;
        }
        if (!loading && pending.size === 0) settle?.();
      }
    } catch {
      // closed
    }
  });

  let peakRss = process.memoryUsage().rss;
  let peakQueued = 0;
  const rssBefore = peakRss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    const s = broker.device.stats();
    if (s.counted) peakQueued = Math.max(peakQueued, s.queued);
  }, 100);

  // Open loop: every 5 ms, send what the offered rate owes by now.
  let sent = 0;
  const body = Buffer.from('x');
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - t0;
      if (elapsed >= o.durationMs) {
        clearInterval(tick);
        resolve();
        return;
      }
      const owed = Math.floor((elapsed / 1000) * offered) - sent;
      for (let i = 0; i < owed; i++) {
        const seq = sent++;
        const frame = Buffer.allocUnsafe(4);
        frame.writeUInt32BE(seq, 0);
        pending.set(seq, performance.now());
        // A DEALER send that would block is refused at once with sendTimeout 0; with no HWM it does not block.
        void sockets[seq % senders]?.send([frame, Buffer.alloc(0), body]).catch(() => undefined);
      }
    }, 5);
  });
  const loadMs = performance.now() - t0;
  loading = false;
  if (pending.size > 0) {
    await new Promise<void>((resolve) => {
      settle = resolve;
      setTimeout(resolve, o.graceMs ?? 10_000).unref();
    });
  }
  clearInterval(sampler);
  const lost = pending.size;

  // Recovery: the load is gone; plain clients are served at once again.
  const client = new Client({ endpoint, timeoutMs: 5000, retries: 0 });
  let recovered = true;
  let slowest = 0;
  for (let i = 0; i < 20; i++) {
    const r0 = performance.now();
    try {
      await client.request(`after ${i}`);
    } catch {
      recovered = false;
    }
    slowest = Math.max(slowest, performance.now() - r0);
  }
  await client.close();
  for (const s of sockets) s.close();
  await Promise.all(readers);
  await broker.close();
  const rssAfter = process.memoryUsage().rss;
  return {
    capacity_rps: capacity,
    offered_rps: offered,
    duration_ms: Math.round(loadMs),
    sent,
    answered,
    busy,
    other_errors: otherErrors,
    lost,
    accepted_rps: Math.round((answeredDuringLoad / loadMs) * 1000),
    accepted_share: Math.round((answeredDuringLoad / loadMs / capacity) * 1000 * 100) / 100,
    baseline_rps: Math.round(baselineRps),
    accepted_vs_baseline: Math.round((((answeredDuringLoad / loadMs) * 1000) / Math.max(1, baselineRps)) * 100) / 100,
    busy_latency: summarize(busyLatency),
    answered_latency: summarize(okLatency),
    rss_mb: { before: mb(rssBefore), peak: mb(peakRss), after: mb(rssAfter) },
    peak_queued: peakQueued,
    recovered,
    recovery_max_ms: Math.round(slowest * 10) / 10,
  };
}

/** Requests a second that `clients` closed-loop clients get through `endpoint` in `ms`. */
async function closedLoopRps(endpoint: string, clients: number, ms: number): Promise<number> {
  const pool = Array.from({ length: clients }, () => new Client({ endpoint, timeoutMs: 10_000, retries: 0 }));
  let n = 0;
  const t0 = performance.now();
  await Promise.all(
    pool.map(async (c) => {
      while (performance.now() - t0 < ms) {
        await c.request('baseline');
        n++;
      }
    }),
  );
  const rps = (n / (performance.now() - t0)) * 1000;
  await Promise.all(pool.map((c) => c.close()));
  return rps;
}
