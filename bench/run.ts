/**
 * `npm run bench`: runs the scenarios, prints a summary, writes results/.
 * Exit code: 0 when every cell ran without errors, 1 when a cell failed or
 * saw errors or timeouts, 2 for a usage error.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { HELP, BenchUsageError, parseBenchArgs, type BenchOptions } from './lib/options.js';
import { progress } from './lib/progress.js';
import {
  environment,
  SCHEMA_VERSION,
  type RunResult,
  type CellResult,
  type ScalingPoint,
  type MicroResult,
  type ObservabilityPoint,
} from './lib/results.js';
import { cellFailed, markdown } from './lib/report.js';
import { writeMatrixExports } from './lib/exports.js';
import { throughputChart, latencyChart } from './lib/charts.js';
import { runMatrix } from './throughput.js';
import { runScaling } from './scaling.js';
import { runMicro } from './micro.js';
import { runObservability } from './observability.js';
import { runFairness, type FairnessReport } from './fairness.js';
import type { RetryStormOptions, RetryStormReport } from './retry-storm.js';

export async function bench(o: BenchOptions): Promise<RunResult> {
  const startedAt = new Date();
  const t0 = performance.now();
  const bar = progress(process.stderr, o.json && !process.stderr.isTTY);
  let cells: CellResult[] = [];
  let scaling: ScalingPoint[] | undefined;
  let micro: MicroResult[] | undefined;
  let observability: ObservabilityPoint[] | undefined;
  let fairness: FairnessReport | undefined;
  let retryStorm: RetryStormReport | undefined;
  if (o.scenarios.includes('throughput')) {
    cells = await runMatrix(o, bar);
    bar.done();
  }
  if (o.scenarios.includes('scaling')) scaling = await runScaling({ durationMs: Math.max(500, o.durationMs), clients: 32 }, bar);
  if (o.scenarios.includes('observability'))
    observability = await runObservability({ durationMs: Math.max(1000, o.durationMs), clients: 100, repeats: 5 }, bar);
  if (o.scenarios.includes('fairness')) {
    fairness = await runFairness({ durationMs: Math.max(3000, o.durationMs * 4), limitMs: 30_000 }, (phase) =>
      process.stderr.write(`fairness: ${phase}\n`),
    );
  }
  if (o.scenarios.includes('retry-storm')) {
    retryStorm = await retryStormProcess({
      durationMs: Math.max(2000, o.durationMs * 3),
      handlerMs: o.stormHandlerMs,
      timeoutMs: o.stormTimeoutMs,
    });
  }
  if (o.scenarios.includes('micro')) micro = await runMicro(bar);
  bar.done();
  const { json: _json, write: _write, outDir: _out, exportGithubBenchmark: _gab, exportBmf: _bmf, ...options } = o;
  return {
    schemaVersion: SCHEMA_VERSION,
    run: {
      id: startedAt.toISOString().replace(/[:.]/g, '-'),
      started_at: startedAt.toISOString(),
      duration_ms: Math.round(performance.now() - t0),
    },
    environment: environment(),
    options,
    cells,
    ...(scaling !== undefined ? { scaling } : {}),
    ...(observability !== undefined ? { observability } : {}),
    ...(fairness !== undefined ? { fairness } : {}),
    ...(retryStorm !== undefined ? { retry_storm: retryStorm } : {}),
    ...(micro !== undefined ? { micro } : {}),
  };
}

/**
 * The retry storm in a process of its own (see bench/retry-storm.ts), tried twice: a
 * process that dies is reported, and the second try's report is used.
 */
async function retryStormProcess(o: RetryStormOptions): Promise<RetryStormReport | undefined> {
  const script = fileURLToPath(new URL('./retry-storm.js', import.meta.url));
  for (let attempt = 1; attempt <= 2; attempt++) {
    const started = performance.now();
    const child = spawn(process.execPath, [script, JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    // Its progress lines, with the time gone by (the whole scenario takes about 70 s).
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      const s = Math.round((performance.now() - started) / 1000);
      for (const line of d.split('\n')) if (line !== '') process.stderr.write(`${line} (${s} s of about 70)\n`);
    });
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    if (code === 0) return JSON.parse(out) as RetryStormReport;
    process.stderr.write(
      `bench: the retry-storm process ended with ${signal ?? `exit ${String(code)}`}${attempt === 1 ? '; running it again' : ''}\n`,
    );
  }
  return undefined;
}

/**
 * Writes a run: `raw/<id>.json` (every run, kept out of git), and the
 * committed view of the latest: `latest.json`, `latest.md` and the two charts.
 */
export function writeResults(r: RunResult, outDir: string): string[] {
  mkdirSync(join(outDir, 'raw'), { recursive: true });
  const json = `${JSON.stringify(r, null, 2)}\n`;
  const files: [string, string][] = [
    [join('raw', `${r.run.id}.json`), json],
    ['latest.json', json],
    ['latest.md', markdown(r)],
  ];
  if (r.cells.length > 0) files.push(['throughput.svg', throughputChart(r.cells)], ['latency.svg', latencyChart(r.cells)]);
  for (const [name, text] of files) writeFileSync(join(outDir, name), text);
  return files.map(([name]) => join(outDir, name));
}

async function main(argv: string[]): Promise<number> {
  let o: BenchOptions | 'help';
  try {
    o = parseBenchArgs(argv);
  } catch (err) {
    if (err instanceof BenchUsageError) {
      console.error(`bench: ${err.message}`);
      return 2;
    }
    throw err;
  }
  if (o === 'help') {
    console.log(HELP);
    return 0;
  }
  const result = await bench(o);
  const md = markdown(result);
  (o.json ? process.stderr : process.stdout).write(`${md}\n`);
  if (o.write) for (const f of writeResults(result, o.outDir)) console.error(`wrote ${f}`);
  for (const f of writeMatrixExports(result, o)) console.error(`wrote ${f}`);
  if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  const bad = result.cells.filter(cellFailed);
  const stormMissing = o.scenarios.includes('retry-storm') && result.retry_storm === undefined;
  const floodLost =
    result.fairness?.phases.some((p) => (p.flood?.lost ?? 0) > 0 || (p.flood?.duplicates ?? 0) > 0 || p.good.errors > 0) ?? false;
  if (floodLost) console.error('bench: fairness: a request was lost, answered twice, or a good client saw an error');
  return bad.length > 0 || floodLost || stormMissing ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
