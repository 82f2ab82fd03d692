import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  bootstrapInterval,
  checkBaseline,
  compare,
  gateDefaults,
  metricsOf,
  prng,
  relativeChange,
  type Metric,
} from '../bench/lib/gate.js';
import { summarizeCell } from '../bench/throughput.js';
import type { CellRun } from '../bench/lib/results.js';
import { createHistogram, encode } from '../src/load/histogram.js';

const m = (key: string, samples: number[], higherIsBetter = true): Metric => ({
  key,
  cell: key,
  metric: higherIsBetter ? 'throughput_vs_direct' : 'cpu_vs_native',
  higherIsBetter,
  samples,
});
const noisy = (center: number, spread: number, n: number, seed: number): number[] => {
  const r = prng(seed);
  return Array.from({ length: n }, () => center * (1 + (r() - 0.5) * 2 * spread));
};

describe('regression gate verdicts', () => {
  it('a clear regression is flagged', () => {
    const [row] = compare([m('a', noisy(0.8, 0.05, 8, 1))], [m('a', noisy(0.5, 0.05, 8, 2))]);
    assert.equal(row?.verdict, 'regressed');
    assert.ok((row?.change ?? 0) < -0.3);
  });

  it('a clear improvement is not a regression', () => {
    const [row] = compare([m('a', noisy(0.5, 0.05, 8, 1))], [m('a', noisy(0.8, 0.05, 8, 2))]);
    assert.equal(row?.verdict, 'improved');
  });

  it('for lower-is-better figures, a rise is the regression', () => {
    assert.equal(compare([m('c', noisy(1.5, 0.05, 8, 1), false)], [m('c', noisy(2.4, 0.05, 8, 2), false)])[0]?.verdict, 'regressed');
    assert.equal(compare([m('c', noisy(1.5, 0.05, 8, 1), false)], [m('c', noisy(1.0, 0.05, 8, 2), false)])[0]?.verdict, 'improved');
  });

  it('noise alone raises no alarm, even when the means differ by more than the threshold', () => {
    // 30 % spread around the same centre: means may part by over 15 %, the interval then straddles zero.
    let alarms = 0;
    for (let s = 0; s < 50; s++) {
      const [row] = compare([m('a', noisy(0.7, 0.3, 6, s))], [m('a', noisy(0.7, 0.3, 6, 1000 + s))]);
      if (row?.verdict === 'regressed') alarms++;
    }
    assert.ok(alarms <= 1, `${alarms} false alarms in 50`);
  });

  it('a figure missing from the run is reported, and a new one is not a failure', () => {
    const rows = compare([m('a', [1, 1, 1]), m('gone', [1, 1, 1])], [m('a', [1, 1, 1]), m('fresh', [2, 2, 2])]);
    assert.deepEqual(
      rows.map((r) => [r.key, r.verdict]),
      [
        ['a', 'ok'],
        ['gone', 'missing'],
        ['fresh', 'new'],
      ],
    );
  });

  it('a baseline from another schema version is refused with a way out', () => {
    assert.throws(
      () => checkBaseline({ schemaVersion: 0, metrics: [m('a', [1])] }),
      /schemaVersion 0.*refresh it with npm run bench:baseline/,
    );
    assert.throws(() => checkBaseline({ schemaVersion: 1, metrics: [] }), /no metrics/);
  });

  it('the bootstrap is reproducible and brackets the point estimate', () => {
    const base = noisy(1, 0.1, 6, 3);
    const now = noisy(0.9, 0.1, 6, 4);
    const a = bootstrapInterval(base, now, true, gateDefaults);
    const b = bootstrapInterval(base, now, true, gateDefaults);
    assert.deepEqual(a, b);
    const point = relativeChange(base, now, true);
    assert.ok(a[0] <= point && point <= a[1], `${a[0]} ≤ ${point} ≤ ${a[1]}`);
  });

  it('normalises each repeat by the direct and native cells of the same repeat', () => {
    const run = (rps: number, cpu: number): CellRun => ({
      elapsed_ms: 1000,
      requests: rps,
      throughput_rps: rps,
      errors: 0,
      timeouts: 0,
      latency: { count: 0, min_us: 0, mean_us: 0, p50_us: 0, p90_us: 0, p99_us: 0, p99_9_us: 0, max_us: 0 },
      histogram: '',
      cpu: { device_us: 0, device_thread_us: 0, servers_us: 0, loadgen_us: 0, device_us_per_req: cpu },
      rss_bytes: 0,
    });
    const key = (mode: 'direct' | 'native' | 'js') => ({ transport: 'tcp' as const, mode, clients: 100, size_bytes: 16 });
    const cells = [
      { ...key('direct'), id: 'tcp/direct/100c/16B', status: 'ok' as const, runs: [run(1000, 0), run(2000, 0)] },
      { ...key('native'), id: 'tcp/native/100c/16B', status: 'ok' as const, runs: [run(800, 10), run(1600, 20)] },
      { ...key('js'), id: 'tcp/js/100c/16B', status: 'ok' as const, runs: [run(500, 30), run(1000, 40)] },
    ].map((c) => summarizeCell(c, c.runs.map((r) => ({ ...r, histogram: emptyHistogram })) as CellRun[]));
    const metrics = metricsOf(cells);
    const get = (k: string): readonly number[] | undefined => metrics.find((x) => x.key === k)?.samples;
    assert.deepEqual(get('tcp/native/100c/16B throughput_vs_direct'), [0.8, 0.8]);
    assert.deepEqual(get('tcp/js/100c/16B throughput_vs_direct'), [0.5, 0.5]);
    assert.deepEqual(get('tcp/js/100c/16B cpu_vs_native'), [3, 2]);
    assert.equal(get('tcp/native/100c/16B cpu_vs_native'), undefined);
  });
});

const emptyHistogram = ((): string => {
  const h = createHistogram();
  const e = encode(h);
  h.destroy();
  return e;
})();
