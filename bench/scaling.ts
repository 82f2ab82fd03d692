/**
 * Scenario: a CPU-bound handler (examples/cpu.js, about 1 ms of hashing per
 * request) on 1, 2 and 4 worker threads behind the least-busy device over
 * inproc, 32 closed-loop clients. What extra cores buy, as a ratio to one
 * thread measured in the same run (repeats interleaved 1 2 4 4 2 1).
 */
import { fileURLToPath } from 'node:url';
import { Generators } from '../src/load/generators.js';
import { merge, summarize } from '../src/load/histogram.js';
import type { Progress } from './lib/progress.js';
import type { CellRun, ScalingPoint } from './lib/results.js';
import { median, runOnce } from './throughput.js';

export const CPU_HANDLER = fileURLToPath(new URL('../../examples/cpu.js', import.meta.url));

export interface ScalingOptions {
  readonly durationMs: number;
  readonly clients: number;
  readonly threads?: readonly number[];
  readonly repeats?: number;
}

export async function runScaling(o: ScalingOptions, progress: Progress): Promise<ScalingPoint[]> {
  const threads = o.threads ?? [1, 2, 4];
  const repeats = o.repeats ?? 2;
  const runs = new Map<number, CellRun[]>(threads.map((t) => [t, []]));
  const gens = await Generators.spawn('thread', 1);
  const total = threads.length * repeats;
  let done = 0;
  try {
    for (let r = 0; r < repeats; r++) {
      for (const t of r % 2 === 0 ? threads : [...threads].reverse()) {
        progress.tick(done++, total, `scaling: cpu handler, ${t} thread(s)`);
        const run = await runOnce({ transport: 'inproc', mode: 'least-busy', clients: o.clients, size_bytes: 16 }, gens, {
          transports: [],
          modes: [],
          clients: [],
          inFlight: [],
          sizes: [],
          durationMs: o.durationMs,
          repeats: 1,
          servers: t,
          clientsPerGenerator: o.clients,
          warmupTimeoutMs: 60_000,
          requestTimeoutMs: 30_000,
          handler: CPU_HANDLER,
        });
        runs.get(t)?.push(run);
      }
    }
  } finally {
    await gens.close();
  }
  const base = median((runs.get(threads[0] ?? 1) ?? []).map((r) => r.throughput_rps));
  return threads.map((t) => {
    const rs = runs.get(t) ?? [];
    const h = merge(rs.map((r) => r.histogram));
    const tput = median(rs.map((r) => r.throughput_rps));
    const point: ScalingPoint = {
      threads: t,
      throughput_rps: Math.round(tput),
      ratio_to_1: base > 0 ? Math.round((tput / base) * 100) / 100 : 0,
      p99_us: summarize(h).p99_us,
      errors: rs.reduce((n, r) => n + r.errors + r.timeouts, 0),
    };
    h.destroy();
    return point;
  });
}
