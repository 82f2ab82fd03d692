/**
 * The regression gate's figures, free of I/O so they can be tested on
 * synthetic results; the statistics that compare them are src/load/compare.ts,
 * shared with `zqueue bench compare`.
 *
 * Noise-robust by design:
 * - Figures are normalised within one run: a device cell's throughput over
 *   the direct (no device) throughput of the same repeat, measured next to
 *   it; the js engines' device CPU per request over the native engine's of
 *   the same repeat. Whatever slows the whole machine cancels out.
 * - Each figure has one sample per interleaved repeat. Baseline and current
 *   samples are compared by a bootstrap of the relative change of the mean
 *   (seeded, so a verdict is reproducible): a cell is flagged only when the
 *   change is worse than the threshold AND the whole 95 % interval is on the
 *   worse side of zero, i.e. the run's own spread cannot explain it.
 */
import type { CellResult, RunResult } from './results.js';
import { SCHEMA_VERSION } from './results.js';
import type { Metric } from '../../src/load/compare.js';

export {
  bootstrapInterval,
  checkMarkdown,
  compare,
  gateDefaults,
  prng,
  relativeChange,
  type CheckResult,
  type Comparison,
  type GateOptions,
  type Metric,
  type Verdict,
} from '../../src/load/compare.js';

export type MetricName = 'throughput_vs_direct' | 'cpu_vs_native';

export interface Baseline {
  readonly schemaVersion: typeof SCHEMA_VERSION;
  readonly created_at: string;
  readonly environment: RunResult['environment'];
  /** Device CPU µs per request of the js engine, averaged: the unit of injected slowdowns. */
  readonly js_device_us_per_req: number;
  readonly metrics: readonly Metric[];
}

/** Per-repeat normalised figures of a run's cells. */
export function metricsOf(cells: readonly CellResult[]): Metric[] {
  const key = (transport: string, mode: string, c: CellResult): string =>
    `${transport}/${mode}/${c.clients}/${c.size_bytes}/${c.in_flight ?? 1}`;
  const byId = new Map(cells.map((c) => [key(c.transport, c.mode, c), c]));
  const find = (c: CellResult, mode: string, transport = c.transport): CellResult | undefined => byId.get(key(transport, mode, c));
  const out: Metric[] = [];
  for (const c of cells) {
    if (c.status !== 'ok' || c.mode === 'direct') continue;
    const direct = find(c, 'direct', c.transport === 'tcp-inproc' ? 'tcp' : c.transport);
    if (direct?.status === 'ok') {
      const n = Math.min(c.runs.length, direct.runs.length);
      const samples = Array.from(
        { length: n },
        (_, i) => (c.runs[i]?.throughput_rps ?? 0) / Math.max(1, direct.runs[i]?.throughput_rps ?? 0),
      );
      out.push({ key: `${c.id} throughput_vs_direct`, cell: c.id, metric: 'throughput_vs_direct', higherIsBetter: true, samples });
    }
    const native = find(c, 'native');
    if (c.mode !== 'native' && native?.status === 'ok') {
      const n = Math.min(c.runs.length, native.runs.length);
      const samples = Array.from(
        { length: n },
        (_, i) => (c.runs[i]?.cpu.device_us_per_req ?? 0) / Math.max(1e-9, native.runs[i]?.cpu.device_us_per_req ?? 0),
      );
      out.push({ key: `${c.id} cpu_vs_native`, cell: c.id, metric: 'cpu_vs_native', higherIsBetter: false, samples });
    }
  }
  return out;
}

/** Checks a parsed baseline file; throws naming what is wrong (the gate then exits 2). */
export function checkBaseline(value: unknown): Baseline {
  if (typeof value !== 'object' || value === null) throw new Error('the baseline must be a JSON object');
  const v = value as Partial<Baseline>;
  if (v.schemaVersion !== SCHEMA_VERSION)
    throw new Error(
      `the baseline has schemaVersion ${String(v.schemaVersion)}, this code reads ${SCHEMA_VERSION}: refresh it with npm run bench:baseline`,
    );
  if (!Array.isArray(v.metrics) || v.metrics.length === 0) throw new Error('the baseline has no metrics');
  return value as Baseline;
}
