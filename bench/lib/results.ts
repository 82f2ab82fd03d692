/**
 * The results file: what a run measured, with the environment it ran in,
 * so that a later reader (or the regression gate) can trust and compare it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import * as zmq from 'zeromq';
import type { LatencySummary } from '../../src/load/histogram.js';
import type { BenchTransport, Mode } from './topology.js';

export const SCHEMA_VERSION = 1;

export interface CellKey {
  readonly transport: BenchTransport;
  readonly mode: Mode;
  readonly clients: number;
  readonly size_bytes: number;
  /** Requests each client keeps in flight on its connection (absent or 1: REQ clients; more: zqueue's multiplexing client). */
  readonly in_flight?: number;
}

export function cellId(k: CellKey): string {
  return `${k.transport}/${k.mode}/${k.clients}c${inFlightOf(k) > 1 ? `x${inFlightOf(k)}` : ''}/${k.size_bytes}B`;
}

export function inFlightOf(k: CellKey): number {
  return k.in_flight ?? 1;
}

export interface CpuFigures {
  /** The device's process less the server and in-process load-generator threads: main thread, libzmq I/O threads, the native proxy's thread. */
  readonly device_us: number;
  /** The main JavaScript thread alone. */
  readonly device_thread_us: number;
  readonly servers_us: number;
  readonly loadgen_us: number;
  readonly device_us_per_req: number;
}

/** One measured repeat of a cell. */
export interface CellRun {
  readonly elapsed_ms: number;
  readonly requests: number;
  readonly throughput_rps: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly first_error?: string;
  readonly latency: LatencySummary;
  /** HdrHistogram, compressed base64, merged over the load generators. */
  readonly histogram: string;
  readonly cpu: CpuFigures;
  readonly rss_bytes: number;
}

export interface CellSummary {
  /** Median over the repeats. */
  readonly throughput_rps: number;
  /** From the histogram merged over every repeat. */
  readonly latency: LatencySummary;
  readonly errors: number;
  readonly timeouts: number;
  /** Median over the repeats. */
  readonly device_us_per_req: number;
  readonly histogram: string;
}

export type CellResult =
  | (CellKey & { readonly id: string; readonly status: 'ok'; readonly runs: readonly CellRun[]; readonly summary: CellSummary })
  | (CellKey & { readonly id: string; readonly status: 'failed'; readonly error: string; readonly runs: readonly CellRun[] })
  /** Not every client got a first reply in time: not measured, reported with where the clients stood; not an error of the run. */
  | (CellKey & { readonly id: string; readonly status: 'not-warmed'; readonly diagnosis: string; readonly runs: readonly CellRun[] });

export interface ScalingPoint {
  readonly threads: number;
  readonly throughput_rps: number;
  readonly ratio_to_1: number;
  readonly p99_us: number;
  readonly errors: number;
}

export interface MicroResult {
  readonly name: string;
  readonly ops_per_s: number;
  readonly mean_us: number;
  readonly p99_us: number;
  /** Relative margin of error of the mean, in percent (tinybench's rme). */
  readonly rme_pct: number;
  readonly samples: number;
}

export interface Environment {
  readonly node: string;
  readonly zeromq_js: string;
  readonly libzmq: string;
  readonly cpu_model: string;
  readonly cpu_count: number;
  readonly memory_bytes: number;
  readonly platform: string;
  readonly git_sha: string;
  readonly fd_limit: string;
}

export interface RunResult {
  readonly schemaVersion: typeof SCHEMA_VERSION;
  readonly run: { readonly id: string; readonly started_at: string; readonly duration_ms: number };
  readonly environment: Environment;
  readonly options: Readonly<Record<string, unknown>>;
  readonly cells: readonly CellResult[];
  readonly scaling?: readonly ScalingPoint[];
  readonly observability?: readonly ObservabilityPoint[];
  readonly fairness?: import('../fairness.js').FairnessReport;
  readonly retry_storm?: import('../retry-storm.js').RetryStormReport;
  readonly micro?: readonly MicroResult[];
}

/** One variant of the observability scenario, against `bare` from the same run. */
export interface ObservabilityPoint {
  readonly variant: string;
  readonly throughput_rps: number;
  readonly ratio_to_bare: number;
  readonly p50_us: number;
  readonly p99_us: number;
  readonly device_us_per_req: number;
  readonly cpu_ratio_to_bare: number;
  readonly errors: number;
}

function zeromqVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../node_modules/zeromq/package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function gitSha(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function fdLimit(): string {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    return line?.split(/\s{2,}/)[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function environment(): Environment {
  const cpu = cpus();
  return {
    node: process.version,
    zeromq_js: zeromqVersion(),
    libzmq: zmq.version,
    cpu_model: cpu[0]?.model ?? 'unknown',
    cpu_count: cpu.length,
    memory_bytes: totalmem(),
    platform: `${process.platform}-${process.arch}`,
    git_sha: gitSha(),
    fd_limit: fdLimit(),
  };
}

/** Checks that `value` is a results file this code can read; throws naming what is off. */
export function checkRunResult(value: unknown): RunResult {
  if (typeof value !== 'object' || value === null) throw new Error('a results file must hold a JSON object');
  const v = value as Partial<RunResult>;
  if (v.schemaVersion !== SCHEMA_VERSION) {
    throw new Error(`results schemaVersion ${String(v.schemaVersion)} is not the supported ${SCHEMA_VERSION}`);
  }
  if (!Array.isArray(v.cells)) throw new Error('results have no "cells" array');
  for (const c of v.cells as unknown[]) {
    const cell = c as Partial<CellResult>;
    if (
      typeof cell.id !== 'string' ||
      (cell.status !== 'ok' && cell.status !== 'failed' && cell.status !== 'not-warmed') ||
      !Array.isArray(cell.runs)
    ) {
      throw new Error(`malformed cell ${JSON.stringify(c).slice(0, 80)}`);
    }
  }
  return value as RunResult;
}
