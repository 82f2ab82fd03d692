/**
 * One load run against any REQ/REP service: clients spread over load
 * generators (child processes for tcp/ipc, past one process's descriptors;
 * threads for inproc), a warm-up until every client has had a reply, then a
 * measured run bounded by time or by a request count, with progress as it
 * goes. Used by `zqueue bench`.
 */
import { performance } from 'node:perf_hooks';
import { Generators } from './generators.js';
import { createHistogram, decode, merge, summarize, type Histogram, type LatencySummary } from './histogram.js';
import type { LoadReport } from './loadgen.js';

export interface LoadRun {
  readonly endpoints: readonly string[];
  readonly clients: number;
  /** Requests each client keeps outstanding on its one connection (1: a REQ socket). */
  readonly inFlight: number;
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
  readonly target: string;
  readonly clients: number;
  /** Requests each client kept outstanding (1: REQ clients; more: zqueue's multiplexing client). */
  readonly in_flight: number;
  readonly mode: 'closed' | 'open';
  readonly offered_rps: number | null;
  readonly size_bytes: number;
  readonly duration_ms: number;
  readonly requests: number;
  readonly throughput_rps: number;
  /** Open loop: from when each request was due (corrected for coordinated omission); closed loop: from its send. */
  readonly latency: LatencySummary;
  /** Open loop only: from each request's actual send (wrk2's "uncorrected"); null in closed loop, where the two are the same. */
  readonly latency_uncorrected: LatencySummary | null;
  /** Per-client throughput over the measured time, as nats bench reports it: a starved client shows as a low min or a large stddev. */
  readonly per_client: PerClientSummary;
  /** One row per client (a client's latency to 2 significant digits). */
  readonly client_figures: readonly ClientRow[];
  readonly errors: number;
  readonly timeouts: number;
  readonly first_error: string | null;
  /** Set when not every client got a first reply: where they stood. Nothing was measured. */
  readonly warmup_failed: string | null;
}

export interface PerClientSummary {
  readonly min_rps: number;
  readonly mean_rps: number;
  readonly max_rps: number;
  readonly stddev_rps: number;
}

export interface ClientRow {
  /** 0-based, in the order the clients were spread over generators. */
  readonly client: number;
  readonly requests: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly rps: number;
  readonly p50_us: number;
  readonly p99_us: number;
}

export interface LoadEvents {
  /** Warmed up: measuring starts. */
  measuring?(): void;
  /** Measuring ended (before the clients stop): a reading here covers the measured time only. */
  measured?(): void;
  /** Counts so far, about twice a second while measuring. */
  progress?(p: { count: number; errors: number; timeouts: number; elapsedMs: number }): void;
  /**
   * The latencies recorded in each interval of about a second while
   * measuring, all generators merged (for an HdrHistogram interval log); the
   * histogram is destroyed after the call. Times in ms since measuring began.
   */
  interval?(h: Histogram, startMs: number, endMs: number): void;
}

export async function runLoad(o: LoadRun, events: LoadEvents = {}): Promise<LoadResult> {
  const inproc = o.endpoints.some((e) => e.startsWith('inproc://'));
  const gens = await Generators.spawn(inproc ? 'thread' : 'process', Math.max(1, Math.ceil(o.clients / o.clientsPerGenerator)));
  const base = {
    target: o.endpoints.join(','),
    clients: o.clients,
    in_flight: o.inFlight,
    mode: o.rateRps > 0 ? ('open' as const) : ('closed' as const),
    offered_rps: o.rateRps > 0 ? o.rateRps : null,
    size_bytes: o.message !== '' ? Buffer.byteLength(o.message) : o.size,
  };
  try {
    const order = {
      endpoints: o.endpoints,
      inFlight: o.inFlight,
      size: o.size,
      message: o.message,
      timeoutMs: o.timeoutMs,
      rateRps: o.rateRps,
      requests: o.requests,
      curveServerKey: o.curveServerKey,
      curvePublicKey: o.curvePublicKey,
      curveSecretKey: o.curveSecretKey,
      progressMs: events.interval !== undefined ? 250 : 500,
      intervals: events.interval !== undefined,
    };
    try {
      await gens.warm(order, o.clients, Math.max(10_000, o.timeoutMs * 2, o.clients * 15));
    } catch (err) {
      const d = await gens.diagnose();
      await gens.stop();
      const cause = err instanceof Error ? err.message : String(err);
      const why = `${d.waiting} of ${d.clients} clients got no first reply (${d.warmed} did; ${cause})`;
      return {
        ...base,
        duration_ms: 0,
        requests: 0,
        throughput_rps: 0,
        latency: NO_LATENCY,
        latency_uncorrected: null,
        per_client: perClient([]),
        client_figures: [],
        errors: 0,
        timeouts: 0,
        first_error: null,
        warmup_failed: why,
      };
    }
    events.measuring?.();
    const t0 = performance.now();
    const intervals = events.interval !== undefined ? new Intervals(t0, (h, start, end) => events.interval?.(h, start, end)) : undefined;
    gens.onProgress((p) => events.progress?.({ ...p, elapsedMs: performance.now() - t0 }), intervals?.add);
    gens.measure();
    let timer: NodeJS.Timeout | undefined;
    const timeUp = new Promise<void>((r) => (timer = setTimeout(r, o.durationMs)));
    await Promise.race([timeUp, ...(o.requests > 0 ? [gens.finished(o.clients, o.requests)] : [])]);
    clearTimeout(timer);
    const elapsed = performance.now() - t0;
    events.measured?.();
    const reports = await gens.stop();
    intervals?.end(reports);
    const merged = merge(reports.map((r) => r.histogram));
    const uncorrected = o.rateRps > 0 ? merge(reports.flatMap((r) => (r.uncorrected !== undefined ? [r.uncorrected] : []))) : undefined;
    const requests = reports.reduce((n, r) => n + r.count, 0);
    const rows = clientRows(reports, elapsed);
    const result: LoadResult = {
      ...base,
      duration_ms: Math.round(elapsed),
      requests,
      throughput_rps: Math.round((requests / elapsed) * 1000),
      latency: summarize(merged),
      latency_uncorrected: uncorrected !== undefined ? summarize(uncorrected) : null,
      per_client: perClient(rows),
      client_figures: rows,
      errors: reports.reduce((n, r) => n + r.errors, 0),
      timeouts: reports.reduce((n, r) => n + r.timeouts, 0),
      first_error: reports.find((r) => r.firstError !== undefined)?.firstError ?? null,
      warmup_failed: null,
    };
    merged.destroy();
    uncorrected?.destroy();
    return result;
  } finally {
    await gens.close();
  }
}

const NO_LATENCY: LatencySummary = Object.freeze({
  count: 0,
  min_us: 0,
  mean_us: 0,
  p50_us: 0,
  p90_us: 0,
  p99_us: 0,
  p99_9_us: 0,
  max_us: 0,
});

/** Each client's figures, numbered across generators in the order they were handed out. */
function clientRows(reports: readonly LoadReport[], elapsedMs: number): ClientRow[] {
  const rows: ClientRow[] = [];
  for (const r of reports) {
    for (const c of r.perClient) {
      const h = decode(c.histogram);
      rows.push({
        client: rows.length,
        requests: c.requests,
        errors: c.errors,
        timeouts: c.timeouts,
        rps: Math.round((c.requests / elapsedMs) * 1000 * 100) / 100,
        p50_us: h.totalCount > 0 ? h.getValueAtPercentile(50) : 0,
        p99_us: h.totalCount > 0 ? h.getValueAtPercentile(99) : 0,
      });
      h.destroy();
    }
  }
  return rows;
}

export function perClient(rows: readonly ClientRow[]): PerClientSummary {
  if (rows.length === 0) return { min_rps: 0, mean_rps: 0, max_rps: 0, stddev_rps: 0 };
  const xs = rows.map((r) => r.rps);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length;
  const round = (x: number): number => Math.round(x * 100) / 100;
  return {
    min_rps: round(Math.min(...xs)),
    mean_rps: round(mean),
    max_rps: round(Math.max(...xs)),
    stddev_rps: round(Math.sqrt(variance)),
  };
}

/** Gathers the generators' interval histograms into one per second of measuring. */
class Intervals {
  private current: Histogram = createHistogram();
  private startMs = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly t0: number,
    private readonly emit: (h: Histogram, startMs: number, endMs: number) => void,
  ) {
    this.timer = setInterval(() => this.flush(), 1000);
  }

  readonly add = (encoded: string): void => {
    const h = decode(encoded);
    this.current.add(h);
    h.destroy();
  };

  /** The generators' last intervals, then the final flush. */
  end(reports: readonly LoadReport[]): void {
    clearInterval(this.timer);
    for (const r of reports) if (r.lastInterval !== undefined) this.add(r.lastInterval);
    this.flush();
    this.current.destroy();
  }

  private flush(): void {
    const now = performance.now() - this.t0;
    const h = this.current;
    this.current = createHistogram();
    this.emit(h, this.startMs, now);
    h.destroy();
    this.startMs = now;
  }
}
