/** The periodic line (`--stats-interval`): rates and latency percentiles since the previous line, on stderr. */
import { performance } from 'node:perf_hooks';
import type { DeviceStats, LatencyWindow } from '../device/device.js';
import { deviceOf, type Target } from './target.js';

/** One compact line of rates and percentiles since the previous line. */
export class StatsLine {
  private last: { at: number; stats: DeviceStats };
  private readonly window: LatencyWindow;

  constructor(private readonly target: Target) {
    const device = deviceOf(target);
    this.window = device.openLatencyWindow();
    this.last = { at: performance.now(), stats: device.stats() };
  }

  /** Closes its latency window. */
  close(): void {
    this.window.close();
  }

  next(): string {
    const device = deviceOf(this.target);
    const now = performance.now();
    const s = device.stats();
    const window = this.window.take();
    const prev = this.last;
    this.last = { at: now, stats: s };
    const secs = (now - prev.at) / 1000;
    const parts = [`zqueue ${s.state}`, `peers ${s.peers.frontend}/${s.peers.backend}`];
    if (s.counted && prev.stats.counted && secs > 0) {
      const p = prev.stats;
      const rate = (a: number, b: number): string => `${Math.round((a - b) / secs)}/s`;
      const failed = (x: typeof s.failed): number => Object.values(x).reduce((n, v) => n + v, 0);
      parts.push(
        `in ${rate(s.frontendTraffic.messagesIn, p.frontendTraffic.messagesIn)}`,
        `answered ${rate(s.answered, p.answered)}`,
        `failed ${rate(failed(s.failed), failed(p.failed))}`,
        `busy ${s.failed.busy - p.failed.busy}`,
        `in-flight ${s.inFlight}`,
        `queued ${s.queued}`,
        `p50 ${us(window.p50_us)} p99 ${us(window.p99_us)} p99.9 ${us(window.p99_9_us)}`,
      );
      if (s.workers.length > 0) parts.push(`workers ${s.workers.filter((w) => w.state !== 'retired').length}`);
    }
    return parts.join(' | ');
  }
}

function us(v: number): string {
  if (v >= 1_000_000) return `${(v / 1e6).toFixed(2)}s`;
  if (v >= 1_000) return `${(v / 1e3).toFixed(v >= 100_000 ? 0 : 1)}ms`;
  return `${v}µs`;
}
