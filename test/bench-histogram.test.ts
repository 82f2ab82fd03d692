import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHistogram, decode, encode, merge, percentileCurve, summarize, HDR } from '../src/load/histogram.js';

describe('bench histograms', () => {
  it('extract percentiles in microseconds within the histogram precision', () => {
    const h = createHistogram();
    for (let v = 1; v <= 10_000; v++) h.recordValue(v);
    const s = summarize(h);
    assert.equal(s.count, 10_000);
    const close = (got: number, want: number): void =>
      assert.ok(Math.abs(got - want) / want <= 10 ** -HDR.numberOfSignificantValueDigits * 2, `${got} ≈ ${want}`);
    close(s.p50_us, 5000);
    close(s.p90_us, 9000);
    close(s.p99_us, 9900);
    close(s.p99_9_us, 9990);
    close(s.max_us, 10_000);
    assert.equal(s.min_us, 1);
    h.destroy();
  });

  it('merge encoded histograms from several generators into the same counts as one histogram', () => {
    const parts = [createHistogram(), createHistogram(), createHistogram()];
    const whole = createHistogram();
    parts.forEach((h, i) => {
      for (let v = 1; v <= 1000; v++) {
        h.recordValue(v * (i + 1));
        whole.recordValue(v * (i + 1));
      }
    });
    const merged = merge(parts.map(encode));
    const { max_us: mergedMax, ...mergedRest } = summarize(merged);
    const { max_us: wholeMax, ...wholeRest } = summarize(whole);
    assert.deepEqual(mergedRest, wholeRest);
    // The encoded form keeps the max to the histogram's precision (its highest equivalent value).
    assert.ok(Math.abs(mergedMax - wholeMax) <= wholeMax * 10 ** -HDR.numberOfSignificantValueDigits, `${mergedMax} ≈ ${wholeMax}`);
    assert.equal(merged.totalCount, 3000);
    for (const h of [...parts, whole, merged]) h.destroy();
  });

  it('round-trips through the encoded form and summarizes an empty histogram as zeros', () => {
    const h = createHistogram();
    h.recordValue(1234);
    const back = decode(encode(h));
    assert.equal(back.getValueAtPercentile(50), h.getValueAtPercentile(50));
    const empty = createHistogram();
    assert.equal(summarize(empty).count, 0);
    assert.equal(summarize(empty).p99_us, 0);
    assert.deepEqual(percentileCurve(empty), []);
    for (const x of [h, back, empty]) x.destroy();
  });

  it('percentile curves rise with the percentile', () => {
    const h = createHistogram();
    for (let v = 1; v <= 100_000; v++) h.recordValue(v);
    const curve = percentileCurve(h);
    for (let i = 1; i < curve.length; i++) assert.ok((curve[i]?.value_us ?? 0) >= (curve[i - 1]?.value_us ?? 0));
    h.destroy();
  });
});
