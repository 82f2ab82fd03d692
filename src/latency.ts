/**
 * Latency histograms: HdrHistogram in microseconds, 1 µs to 60 s at 3
 * significant digits (±0.1 %). The device records each request's time from
 * arrival to reply; the bench's load generators record what clients see.
 * Summaries name their unit, autocannon style: `p50_us … p99_9_us`.
 */
import * as hdr from 'hdr-histogram-js';

export const HDR = Object.freeze({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 60_000_000,
  numberOfSignificantValueDigits: 3 as const,
});

export type Histogram = hdr.Histogram;

/** A histogram in JS memory (no WebAssembly: nothing to free, safe on any thread); values past 60 s are clamped. */
export function createHistogram(): Histogram {
  return hdr.build({ ...HDR, bitBucketSize: 32, autoResize: false, useWebAssembly: false });
}

/** Records `us`, clamped into the histogram's range (an out-of-range value must not throw on a hot path). */
export function record(h: Histogram, us: number): void {
  h.recordValue(us < 1 ? 1 : us > HDR.highestTrackableValue ? HDR.highestTrackableValue : Math.round(us));
}

export interface LatencySummary {
  readonly count: number;
  readonly min_us: number;
  readonly mean_us: number;
  readonly p50_us: number;
  readonly p90_us: number;
  readonly p99_us: number;
  readonly p99_9_us: number;
  readonly max_us: number;
}

export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) {
    return { count: 0, min_us: 0, mean_us: 0, p50_us: 0, p90_us: 0, p99_us: 0, p99_9_us: 0, max_us: 0 };
  }
  return {
    count: h.totalCount,
    min_us: h.minNonZeroValue,
    mean_us: Math.round(h.mean * 10) / 10,
    p50_us: h.getValueAtPercentile(50),
    p90_us: h.getValueAtPercentile(90),
    p99_us: h.getValueAtPercentile(99),
    p99_9_us: h.getValueAtPercentile(99.9),
    max_us: h.maxValue,
  };
}
