/**
 * What the live page shows (`/` and `/stats.json` on the --metrics server):
 * one sample a second of the device's own figures, the same `stats()` that
 * `/metrics` renders, kept for the last five minutes. It samples only while
 * someone watches: it starts on the first request for the page's data and
 * stops a minute after the last, closing its latency window, so a device
 * nobody watches pays nothing for it.
 */
import type { DeviceState, DeviceStats, LatencyWindow, WorkerStats } from '../device/device.js';
import type { ShedReason } from '../device/scheduling/overload.js';
import type { SlotStats } from '../serve/pool.js';
import { deviceOf, snapshot, type Target } from './target.js';

/** One second of a device, as the page charts it. */
export interface Sample {
  /** When (ms since the epoch). */
  readonly t: number;
  /** Requests received a second (each entry of a client batch one). */
  readonly requests: number;
  /** Replies relayed to clients a second, and error replies among all answers. */
  readonly replies: number;
  readonly failed: number;
  /** Requests shed a second, by reason. */
  readonly shed: Readonly<Record<ShedReason, number>>;
  /** Requests waiting for a worker, and how long the oldest has waited (ms). */
  readonly queued: number;
  readonly oldestWaitMs: number;
  readonly inFlight: number;
  /** Latency percentiles of the requests answered in this second (ms; 0 when none). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Connected clients (tcp/ipc peers of the frontend), and servers (known workers, else backend peers). */
  readonly clients: number;
  readonly servers: number;
}

/** What `/stats.json` answers. */
export interface LiveView {
  readonly engine: 'js' | 'native';
  readonly policy: string;
  /** The device's state, `draining` once the process drains. */
  readonly state: DeviceState | 'draining';
  readonly uptimeMs: number;
  readonly frontend: string;
  readonly backend: string;
  /** Samples newer than the `since` asked for, oldest first. */
  readonly samples: readonly Sample[];
  readonly workers: readonly WorkerStats[];
  /** zqueue serve's worker threads; null for a device alone. */
  readonly threads: readonly SlotStats[] | null;
}

const KEEP = 300;
const IDLE_STOP_MS = 60_000;
const SHED_REASONS: readonly ShedReason[] = ['abandoned', 'expired', 'replaced', 'policy', 'cancelled'];

export class Sampler {
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private window: LatencyWindow | undefined;
  private last: { at: number; stats: DeviceStats } | undefined;
  private watchedAt = 0;

  constructor(
    private readonly target: Target,
    private readonly draining: () => boolean,
    private readonly intervalMs = 1000,
  ) {}

  /** The view for a watcher: starts sampling if it was not, and keeps it going for another minute. */
  view(since = 0): LiveView {
    this.watchedAt = Date.now();
    if (this.timer === undefined) this.start();
    const snap = snapshot(this.target);
    const s = snap.device;
    return {
      engine: s.engine,
      policy: s.policy,
      state: this.draining() && s.state !== 'closed' ? 'draining' : s.state === 'closing' ? 'draining' : s.state,
      uptimeMs: s.uptimeMs,
      frontend: s.frontend,
      backend: s.backend,
      samples: this.samples.filter((x) => x.t > since),
      workers: s.counted ? s.workers : [],
      threads: snap.threads ?? null,
    };
  }

  /** Whether it is sampling now. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Stops sampling and closes the latency window. Idempotent. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.window?.close();
    this.window = undefined;
    this.last = undefined;
  }

  private start(): void {
    const device = deviceOf(this.target);
    this.window = device.openLatencyWindow();
    this.last = { at: Date.now(), stats: device.stats() };
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  private tick(): void {
    const now = Date.now();
    if (now - this.watchedAt > IDLE_STOP_MS) {
      this.stop();
      return;
    }
    const device = deviceOf(this.target);
    const s = device.stats();
    const latency = this.window?.take();
    const prev = this.last;
    this.last = { at: now, stats: s };
    if (prev === undefined || !s.counted || !prev.stats.counted) return;
    const p = prev.stats;
    const secs = (now - prev.at) / 1000;
    if (secs <= 0) return;
    const rate = (a: number, b: number): number => Math.max(0, (a - b) / secs);
    const failed = (x: typeof s.failed): number => Object.values(x).reduce((n, v) => n + v, 0);
    const shed = Object.fromEntries(SHED_REASONS.map((r) => [r, rate(s.shed[r], p.shed[r])])) as Record<ShedReason, number>;
    const live = s.workers.filter((w) => w.state !== 'retired').length;
    this.samples.push({
      t: now,
      requests: rate(s.requests, p.requests),
      replies: rate(s.answered, p.answered),
      failed: rate(failed(s.failed), failed(p.failed)),
      shed,
      queued: s.queued,
      oldestWaitMs: s.queue.oldestWaitMs,
      inFlight: s.inFlight,
      p50Ms: (latency?.p50_us ?? 0) / 1000,
      p99Ms: (latency?.p99_us ?? 0) / 1000,
      clients: s.peers.frontend,
      servers: live > 0 ? live : s.peers.backend,
    });
    if (this.samples.length > KEEP) this.samples.splice(0, this.samples.length - KEEP);
  }
}
