/**
 * `npm run bench`'s throughput matrix in the formats CI tools read, the same
 * formats `zqueue bench` exports (src/load/exports.ts): github-action-benchmark's
 * custom tools and Bencher's BMF. One entry per measured cell, from its
 * summary (the median over repeats).
 */
import { writeFileSync } from 'node:fs';
import { latencySibling, type BmfMeasure, type GithubBenchmarkEntry } from '../../src/load/exports.js';
import type { CellResult, RunResult } from './results.js';

type OkCell = Extract<CellResult, { status: 'ok' }>;

function measured(r: RunResult): OkCell[] {
  return r.cells.filter((c): c is OkCell => c.status === 'ok');
}

export function matrixGithubBenchmark(r: RunResult): { bigger: GithubBenchmarkEntry[]; smaller: GithubBenchmarkEntry[] } {
  const bigger: GithubBenchmarkEntry[] = [];
  const smaller: GithubBenchmarkEntry[] = [];
  for (const c of measured(r)) {
    const extra = `${c.runs.length} repeats, git ${r.environment.git_sha}`;
    bigger.push({ name: `${c.id} throughput`, unit: 'req/s', value: c.summary.throughput_rps, extra });
    smaller.push({ name: `${c.id} latency p99`, unit: 'ms', value: c.summary.latency.p99_us / 1000, extra });
    if (c.mode !== 'direct')
      smaller.push({ name: `${c.id} device CPU`, unit: 'µs/req', value: Math.round(c.summary.device_us_per_req * 100) / 100, extra });
  }
  return { bigger, smaller };
}

export function matrixBmf(r: RunResult): Record<string, Record<string, BmfMeasure>> {
  const out: Record<string, Record<string, BmfMeasure>> = {};
  for (const c of measured(r)) {
    const rps = c.runs.map((x) => x.throughput_rps);
    out[c.id] = {
      throughput: { value: c.summary.throughput_rps, lower_value: Math.min(...rps), upper_value: Math.max(...rps) },
      latency: { value: c.summary.latency.p50_us * 1000, upper_value: c.summary.latency.p99_us * 1000 },
      ...(c.mode !== 'direct' ? { 'device-cpu-per-request': { value: c.summary.device_us_per_req } } : {}),
    };
  }
  return out;
}

/** Writes the exports the options ask for; returns the files written. */
export function writeMatrixExports(r: RunResult, o: { exportGithubBenchmark: string; exportBmf: string }): string[] {
  const written: string[] = [];
  if (o.exportGithubBenchmark !== '') {
    const { bigger, smaller } = matrixGithubBenchmark(r);
    writeFileSync(o.exportGithubBenchmark, `${JSON.stringify(bigger, null, 2)}\n`);
    writeFileSync(latencySibling(o.exportGithubBenchmark), `${JSON.stringify(smaller, null, 2)}\n`);
    written.push(o.exportGithubBenchmark, latencySibling(o.exportGithubBenchmark));
  }
  if (o.exportBmf !== '') {
    writeFileSync(o.exportBmf, `${JSON.stringify(matrixBmf(r), null, 2)}\n`);
    written.push(o.exportBmf);
  }
  return written;
}
