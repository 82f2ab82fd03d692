/**
 * Latency histograms: HdrHistogram with explicit bounds, in microseconds.
 * Load generators encode theirs (compressed base64) and the harness merges
 * the decoded copies, as autocannon does across its workers.
 */
import * as hdr from 'hdr-histogram-js';

/** 1 µs to 60 s, 3 significant digits: ±0.1 % at any latency in range. */
export const HDR = Object.freeze({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 as const });

export type Histogram = hdr.Histogram;

export function createHistogram(): Histogram {
  return hdr.build({ ...HDR, bitBucketSize: 32, autoResize: false, useWebAssembly: false });
}

export function encode(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decode(encoded: string): Histogram {
  return hdr.decodeFromCompressedBase64(encoded, 32, false);
}

/** Merges encoded histograms into a new one. */
export function merge(encoded: readonly string[]): Histogram {
  const out = createHistogram();
  for (const e of encoded) {
    const h = decode(e);
    out.add(h);
    h.destroy();
  }
  return out;
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

/** Points of the percentile curve, HdrHistogram style: x = 1/(1-p) on a log axis. */
export function percentileCurve(h: Histogram): { percentile: number; value_us: number }[] {
  const points: { percentile: number; value_us: number }[] = [];
  for (const p of [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999]) {
    if (h.totalCount === 0) break;
    points.push({ percentile: p, value_us: h.getValueAtPercentile(p) });
  }
  return points;
}
