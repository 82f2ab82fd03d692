/**
 * The versioned document `zqueue bench --json` prints and `--export-json`
 * writes, read back by `zqueue bench compare`. Bump the version when a field
 * changes meaning; the reader still takes the versions before.
 */
import { arch, cpus, platform } from 'node:os';
import { createRequire } from 'node:module';
import type { LoadResult } from './run.js';
import type { Metric } from './compare.js';
import type { CpuPerRequest } from './cpu.js';

export const BENCH_SCHEMA = 'zqueue-bench/2' as const;

/** One measured run: a target (or a backend and thread count) in one repeat. */
export interface BenchRun extends LoadResult {
  /** What was measured: the target, or `inproc / 2` (backend / threads). */
  readonly label: string;
  /** 0-based; repeats of a label are interleaved with the other labels'. */
  readonly repeat: number;
  readonly backend: string | null;
  readonly threads: number | null;
  /**
   * The broker's CPU per answered request, by thread (`--handler`: zqueue
   * serve in this process, its worker threads known; `--connect --cpu-pid`:
   * that process, its threads told apart by name only); null when not measured.
   */
  readonly cpu: CpuPerRequest | null;
  /** Whose CPU that is. */
  readonly cpu_pid: number | null;
}

export interface BenchEnvironment {
  readonly zqueue: string;
  readonly node: string;
  readonly platform: string;
  readonly arch: string;
  readonly cpus: number;
  readonly cpu_model: string;
}

export interface BenchDocument {
  readonly schema: typeof BENCH_SCHEMA;
  readonly created_at: string;
  readonly environment: BenchEnvironment;
  /** `connect`: anyone's service; `handler`: a handler module through zqueue serve. */
  readonly kind: 'connect' | 'handler';
  /** The endpoints, or the handler module's path. */
  readonly target: string;
  readonly repeats: number;
  readonly runs: readonly BenchRun[];
}

export function benchEnvironment(): BenchEnvironment {
  const pkg = createRequire(import.meta.url)('../../../package.json') as { version?: string };
  return {
    zqueue: pkg.version ?? 'unknown',
    node: process.version,
    platform: platform(),
    arch: arch(),
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
  };
}

/** The labels of a document, in the order they were first measured. */
export function labelsOf(doc: BenchDocument): string[] {
  return [...new Set(doc.runs.map((r) => r.label))];
}

/**
 * Reads a saved document: this version, or a `zqueue-bench/1` one (a bare
 * run for --connect, `{handler, runs}` for --handler), taken as one repeat.
 * Throws naming what is wrong.
 */
export function readBenchDocument(value: unknown, name = 'the document'): BenchDocument {
  if (typeof value !== 'object' || value === null) throw new Error(`${name} is not a JSON object`);
  const v = value as Record<string, unknown>;
  if (v.schema === BENCH_SCHEMA) {
    if (!Array.isArray(v.runs)) throw new Error(`${name} has no runs`);
    for (const r of v.runs as unknown[]) checkRun(r, name);
    return value as BenchDocument;
  }
  if (v.schema === 'zqueue-bench/1') {
    const legacy = (r: Record<string, unknown>, label: string): BenchRun => {
      checkRun({ ...r, label }, name);
      return {
        latency_uncorrected: null,
        per_client: { min_rps: 0, mean_rps: 0, max_rps: 0, stddev_rps: 0 },
        client_figures: [],
        backend: null,
        threads: null,
        cpu: null,
        cpu_pid: null,
        ...(r as object),
        label,
        repeat: 0,
      } as unknown as BenchRun;
    };
    const runs = Array.isArray(v.runs)
      ? (v.runs as Record<string, unknown>[]).map((r) => legacy(r, `${String(r.backend)} / ${String(r.threads)}`))
      : [legacy(v, String(v.target))];
    return {
      schema: BENCH_SCHEMA,
      created_at: '',
      environment: { zqueue: 'unknown', node: '', platform: '', arch: '', cpus: 0, cpu_model: '' },
      kind: Array.isArray(v.runs) ? 'handler' : 'connect',
      target: String(v.handler ?? v.target),
      repeats: 1,
      runs,
    };
  }
  throw new Error(`${name} has schema ${JSON.stringify(v.schema)}; zqueue bench compare reads ${BENCH_SCHEMA} and zqueue-bench/1`);
}

function checkRun(r: unknown, name: string): void {
  const x = r as Partial<BenchRun> | null;
  if (
    typeof x !== 'object' ||
    x === null ||
    typeof x.label !== 'string' ||
    typeof x.throughput_rps !== 'number' ||
    typeof x.latency?.p99_us !== 'number'
  ) {
    throw new Error(`${name} has a run without a label, throughput_rps or latency`);
  }
}

/**
 * The figures `zqueue bench compare` judges, one sample per repeat: each
 * label's throughput (higher is better) and its p50 and p99 latency (lower
 * is better), and its CPU per request where it was measured (lower is
 * better). Runs that never warmed up give no sample.
 */
export function metricsOfDocument(doc: BenchDocument): Metric[] {
  const out: Metric[] = [];
  for (const label of labelsOf(doc)) {
    const runs = doc.runs.filter((r) => r.label === label && r.warmup_failed === null);
    if (runs.length === 0) continue;
    out.push({
      key: `${label} throughput_rps`,
      cell: label,
      metric: 'throughput_rps',
      higherIsBetter: true,
      samples: runs.map((r) => r.throughput_rps),
    });
    out.push({ key: `${label} p50_us`, cell: label, metric: 'p50_us', higherIsBetter: false, samples: runs.map((r) => r.latency.p50_us) });
    out.push({ key: `${label} p99_us`, cell: label, metric: 'p99_us', higherIsBetter: false, samples: runs.map((r) => r.latency.p99_us) });
    const cpu = runs.flatMap((r) => (r.cpu !== null && r.cpu !== undefined ? [r.cpu.total_us_per_req] : []));
    if (cpu.length === runs.length)
      out.push({ key: `${label} cpu_us_per_req`, cell: label, metric: 'cpu_us_per_req', higherIsBetter: false, samples: cpu });
  }
  return out;
}
