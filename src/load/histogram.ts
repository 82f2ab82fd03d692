/**
 * Latency histograms: HdrHistogram with explicit bounds, in microseconds.
 * Load generators encode theirs (compressed base64) and the harness merges
 * the decoded copies, as autocannon does across its workers.
 */
import * as hdr from 'hdr-histogram-js';

export { HDR, createHistogram, summarize, type Histogram, type LatencySummary } from '../latency.js';
import { HDR, createHistogram, type Histogram } from '../latency.js';

/**
 * A client's own histogram: 2 significant digits (±1 %) in packed memory, so
 * that thousands of clients in one generator stay small. Enough for a
 * client's p50 and p99; the run's figures come from the full histograms.
 */
export function createClientHistogram(): Histogram {
  return hdr.build({ ...HDR, numberOfSignificantValueDigits: 2, bitBucketSize: 'packed', autoResize: false, useWebAssembly: false });
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

/** Points of the percentile curve, HdrHistogram style: x = 1/(1-p) on a log axis. */
export function percentileCurve(h: Histogram): { percentile: number; value_us: number }[] {
  const points: { percentile: number; value_us: number }[] = [];
  for (const p of [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999]) {
    if (h.totalCount === 0) break;
    points.push({ percentile: p, value_us: h.getValueAtPercentile(p) });
  }
  return points;
}
