/**
 * One load run against any REQ/REP service: clients spread over load
 * generators (child processes for tcp/ipc, past one process's descriptors;
 * threads for inproc), a warm-up until every client has had a reply, then a
 * measured run bounded by time or by a request count, with progress as it
 * goes. Used by `zqueue bench`.
 */
import { performance } from 'node:perf_hooks';
import { Generators } from './generators.js';
import { merge, summarize, type LatencySummary } from './histogram.js';

/** The JSON document `zqueue bench --json` prints; bump the version when a field changes meaning. */
export const LOAD_SCHEMA = 'zqueue-bench/1' as const;

export interface LoadRun {
  readonly endpoints: readonly string[];
  readonly clients: number;
  /** Measured time (ms); with `requests`, the most it may take. */
  readonly durationMs: number;
  /** Requests to measure in all (0: as many as `durationMs` allows). */
  readonly requests: number;
  /** Open loop at this rate (0: closed loop). */
  readonly rateRps: number;
  readonly size: number;
  readonly message: string;
  readonly timeoutMs: number;
  readonly curveServerKey: string;
  readonly curvePublicKey: string;
  readonly curveSecretKey: string;
  /** Clients per load-generator process (each holds a descriptor per client). */
  readonly clientsPerGenerator: number;
}

export interface LoadResult {
  readonly schema: typeof LOAD_SCHEMA;
  readonly target: string;
  readonly clients: number;
  readonly mode: 'closed' | 'open';
  readonly offered_rps: number | null;
  readonly size_bytes: number;
  readonly duration_ms: number;
  readonly requests: number;
  readonly throughput_rps: number;
  readonly latency: LatencySummary;
  readonly errors: number;
  readonly timeouts: number;
  readonly first_error: string | null;
  /** Set when not every client got a first reply: where they stood. Nothing was measured. */
  readonly warmup_failed: string | null;
}

export interface LoadEvents {
  /** Warmed up: measuring starts. */
  measuring?(): void;
  /** Counts so far, about twice a second while measuring. */
  progress?(p: { count: number; errors: number; timeouts: number; elapsedMs: number }): void;
}

export async function runLoad(o: LoadRun, events: LoadEvents = {}): Promise<LoadResult> {
  const inproc = o.endpoints.some((e) => e.startsWith('inproc://'));
  const gens = await Generators.spawn(inproc ? 'thread' : 'process', Math.max(1, Math.ceil(o.clients / o.clientsPerGenerator)));
  const base = {
    schema: LOAD_SCHEMA,
    target: o.endpoints.join(','),
    clients: o.clients,
    mode: o.rateRps > 0 ? ('open' as const) : ('closed' as const),
    offered_rps: o.rateRps > 0 ? o.rateRps : null,
    size_bytes: o.message !== '' ? Buffer.byteLength(o.message) : o.size,
  };
  try {
    const order = {
      endpoints: o.endpoints,
      size: o.size,
      message: o.message,
      timeoutMs: o.timeoutMs,
      rateRps: o.rateRps,
      requests: o.requests,
      curveServerKey: o.curveServerKey,
      curvePublicKey: o.curvePublicKey,
      curveSecretKey: o.curveSecretKey,
      progressMs: 500,
    };
    try {
      await gens.warm(order, o.clients, Math.max(10_000, o.timeoutMs * 2, o.clients * 15));
    } catch (err) {
      const d = await gens.diagnose();
      await gens.stop();
      const why = `${d.waiting} of ${d.clients} clients got no first reply (${d.warmed} did; ${err instanceof Error ? err.message : String(err)})`;
      return { ...base, duration_ms: 0, requests: 0, throughput_rps: 0, latency: NO_LATENCY, errors: 0, timeouts: 0, first_error: null, warmup_failed: why };
    }
    events.measuring?.();
    const t0 = performance.now();
    gens.onProgress((p) => events.progress?.({ ...p, elapsedMs: performance.now() - t0 }));
    gens.measure();
    let timer: NodeJS.Timeout | undefined;
    const timeUp = new Promise<void>((r) => (timer = setTimeout(r, o.durationMs)));
    await Promise.race([timeUp, ...(o.requests > 0 ? [gens.finished(o.clients, o.requests)] : [])]);
    clearTimeout(timer);
    const elapsed = performance.now() - t0;
    const reports = await gens.stop();
    const merged = merge(reports.map((r) => r.histogram));
    const requests = reports.reduce((n, r) => n + r.count, 0);
    const result: LoadResult = {
      ...base,
      duration_ms: Math.round(elapsed),
      requests,
      throughput_rps: Math.round((requests / elapsed) * 1000),
      latency: summarize(merged),
      errors: reports.reduce((n, r) => n + r.errors, 0),
      timeouts: reports.reduce((n, r) => n + r.timeouts, 0),
      first_error: reports.find((r) => r.firstError !== undefined)?.firstError ?? null,
      warmup_failed: null,
    };
    merged.destroy();
    return result;
  } finally {
    await gens.close();
  }
}

const NO_LATENCY: LatencySummary = Object.freeze({ count: 0, min_us: 0, mean_us: 0, p50_us: 0, p90_us: 0, p99_us: 0, p99_9_us: 0, max_us: 0 });
