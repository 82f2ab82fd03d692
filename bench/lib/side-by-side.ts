/**
 * The regression gate's measurement: two builds of zqueue side by side in
 * one process, a base's (`refDir`) and this tree's, each a least-busy broker
 * with 2 echo workers on tcp. The same load generator (this tree's, in a
 * process of its own) offers the same fixed rate to each in turn, in short
 * windows, ABBA; only the device's code differs between the two sides.
 *
 * The figure judged is the CPU time of the device's main thread per request,
 * where the device's code runs, from /proc (nanoseconds): at a fixed offered
 * rate the work per request is the same for both sides, so a closed loop's
 * coupling of speed and batching does not move it (measured here: ±7 % over 8
 * pairs, where closed-loop throughput moved ±20 %). The workers' CPU per
 * request is reported beside it, not judged: it spread ±20 % between windows
 * of the same build.
 *
 * Sequential: after `minPairs` pairs of windows, more are measured only while
 * the 95 % interval of a figure's change still holds the threshold (the
 * verdict is unclear), up to `maxPairs`.
 *
 * Slowdowns can be injected into this tree's device, for the gate's own
 * rates (scripts/gate-rates.ts): a fraction of what the base's device costs
 * in the same run, as a busy wait per request, or as allocations per request
 * (a copied Buffer and an object, which the garbage collector then pays for).
 */
import { performance } from 'node:perf_hooks';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Generators } from '../../src/load/generators.js';
import { osThreadId, threadCpuMicros } from '../../src/load/cpu.js';
import { compare, gateDefaults, type Comparison, type GateOptions, type Metric } from '../../src/load/compare.js';

export type InjectionKind = 'busy' | 'alloc';

export interface Injection {
  readonly kind: InjectionKind;
  /** The slowdown, as a fraction of the base device's main-thread CPU per request in this run (0.25: 25 %). */
  readonly fraction: number;
}

export interface SideBySideOptions {
  /** A built checkout of the base (its package entry, dist/src/index.js, is loaded). */
  readonly refDir: string;
  /** This tree's folder (default: the working directory). */
  readonly treeDir?: string;
  readonly inject?: Injection;
  /** Offered load, in requests a second for all clients together. @default 4000 */
  readonly rateRps?: number;
  /** @default 40 */
  readonly clients?: number;
  /** Each side's measured window (ms). @default 1000 */
  readonly windowMs?: number;
  /** @default 3 */
  readonly minPairs?: number;
  /** @default 8 */
  readonly maxPairs?: number;
  readonly gate?: GateOptions;
  readonly onWindow?: (side: 'ref' | 'tree', pair: number) => void;
}

export interface Figures {
  /** CPU µs per request: the device's main thread, and the worker threads together. */
  readonly mainUs: number;
  readonly workersUs: number;
  readonly requests: number;
  readonly rps: number;
}

export interface SideBySideResult {
  readonly ref: readonly Figures[];
  readonly tree: readonly Figures[];
  /** The figure judged (main thread). */
  readonly rows: readonly Comparison[];
  /** The workers' figure, reported, not judged. */
  readonly info: readonly Comparison[];
  readonly regressed: boolean;
  /** What was injected per request into this tree's device (µs of busy wait, or allocation units and their measured µs). */
  readonly injected: { readonly kind: InjectionKind; readonly fraction: number; readonly us: number; readonly units: number } | undefined;
}

/** The parts of a broker build this measurement uses: the API every version since the gate has had. */
interface BrokerLike {
  readonly frontendEndpoint: string;
  readonly device: { waitForWorkers(n: number): Promise<void> };
  /** `threads`; a base from before that name has `workers`. */
  stats(): { readonly threads?: readonly { readonly tid?: number }[]; readonly workers?: readonly { readonly tid?: number }[] };
  close(options?: { timeoutMs?: number }): Promise<void>;
}
interface BrokerModule {
  readonly Broker: { create(options: Record<string, unknown>, hooks?: { onRequest?(): void }): Promise<BrokerLike> };
}

const threadsOf = (b: BrokerLike): readonly { readonly tid?: number }[] => {
  const s = b.stats();
  return s.threads ?? s.workers ?? [];
};

const FIGURES = { main: 'least-busy tcp main_thread_us_per_req', workers: 'least-busy tcp workers_us_per_req' } as const;

export async function sideBySide(o: SideBySideOptions): Promise<SideBySideResult> {
  const treeDir = resolve(o.treeDir ?? '.');
  const rate = o.rateRps ?? 4000;
  const clients = o.clients ?? 40;
  const windowMs = o.windowMs ?? 1000;
  const minPairs = o.minPairs ?? 3;
  const maxPairs = Math.max(minPairs, o.maxPairs ?? 8);
  const g = o.gate ?? gateDefaults;
  const load = async (dir: string): Promise<BrokerModule> =>
    (await import(pathToFileURL(join(resolve(dir), 'dist', 'src', 'index.js')).href)) as BrokerModule;
  const [refMod, treeMod] = [await load(o.refDir), await load(treeDir)];
  const echo = join(treeDir, 'examples', 'echo.js');
  let onRequest: () => void = () => {};
  const ref = await refMod.Broker.create({ handler: echo, threads: 2, frontend: 'tcp://127.0.0.1:*', backend: 'inproc' });
  const tree = await treeMod.Broker.create(
    { handler: echo, threads: 2, frontend: 'tcp://127.0.0.1:*', backend: 'inproc' },
    { onRequest: () => onRequest() },
  );
  const gens = await Generators.spawn('process', 1);
  const main = osThreadId();
  const samples = { ref: [] as Figures[], tree: [] as Figures[] };
  let injected: SideBySideResult['injected'];
  try {
    await Promise.all([ref.device.waitForWorkers(2), tree.device.waitForWorkers(2)]);
    const unitUs = o.inject?.kind === 'alloc' ? calibrateAlloc() : 0;
    const window = async (b: BrokerLike): Promise<Figures> => {
      const workers = (): number => threadsOf(b).reduce((n, w) => n + threadCpuMicros(w.tid), 0);
      await gens.warm(
        { endpoints: [b.frontendEndpoint.replace('//0.0.0.0:', '//127.0.0.1:')], size: 16, timeoutMs: 10_000, rateRps: rate },
        clients,
        30_000,
      );
      const m0 = threadCpuMicros(main);
      const w0 = workers();
      const t0 = performance.now();
      gens.measure();
      await new Promise((r) => setTimeout(r, windowMs));
      const m1 = threadCpuMicros(main);
      const w1 = workers();
      const elapsed = performance.now() - t0;
      const reports = await gens.stop();
      const requests = reports.reduce((n, r) => n + r.count, 0);
      if (requests === 0) throw new Error('a window answered no request');
      return { mainUs: (m1 - m0) / requests, workersUs: (w1 - w0) / requests, requests, rps: Math.round((requests * 1000) / elapsed) };
    };
    // A warm-up pair, not counted (each build's code is compiled on its first load). The injection is sized
    // on the base's warm-up window: a fraction of what its device costs here, in this run.
    const warm = await window(ref);
    if (o.inject !== undefined && o.inject.fraction > 0) {
      const us = o.inject.fraction * warm.mainUs;
      const units = o.inject.kind === 'alloc' ? Math.max(1, Math.round(us / unitUs)) : 0;
      injected = { kind: o.inject.kind, fraction: o.inject.fraction, us, units };
      onRequest = o.inject.kind === 'busy' ? () => spin(us) : () => allocate(units);
    }
    await window(tree);
    let rows: Comparison[] = [];
    for (let pair = 0; pair < maxPairs; pair++) {
      const order = pair % 2 === 0 ? (['ref', 'tree'] as const) : (['tree', 'ref'] as const);
      for (const side of order) {
        o.onWindow?.(side, pair);
        samples[side].push(await window(side === 'ref' ? ref : tree));
      }
      rows = compare(metrics(samples.ref).slice(0, 1), metrics(samples.tree).slice(0, 1), g);
      // Measure more only while a figure's verdict is unclear: its interval holds the threshold.
      const unclear = rows.some((r) => r.interval !== undefined && r.interval[0] < -g.threshold && r.interval[1] > -g.threshold);
      if (pair + 1 >= minPairs && !unclear) break;
    }
    const info = compare(metrics(samples.ref).slice(1), metrics(samples.tree).slice(1), g);
    return {
      ref: samples.ref,
      tree: samples.tree,
      rows,
      info,
      regressed: rows.some((r) => r.verdict === 'regressed' || r.verdict === 'missing'),
      injected,
    };
  } finally {
    await gens.close();
    await ref.close({ timeoutMs: 0 });
    await tree.close({ timeoutMs: 0 });
  }
}

function metrics(figures: readonly Figures[]): Metric[] {
  return [
    {
      key: FIGURES.main,
      cell: 'least-busy tcp',
      metric: 'main_thread_us_per_req',
      higherIsBetter: false,
      samples: figures.map((f) => f.mainUs),
    },
    {
      key: FIGURES.workers,
      cell: 'least-busy tcp',
      metric: 'workers_us_per_req',
      higherIsBetter: false,
      samples: figures.map((f) => f.workersUs),
    },
  ];
}

function spin(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

/** What the allocation injection keeps alive a little while (so that some of it is promoted, as a real leak of garbage is). */
const kept: unknown[] = new Array<unknown>(256);
let keptAt = 0;
const SOURCE = Buffer.alloc(512, 0x61);

/** One unit of garbage per call of `n`: a copied 512-byte Buffer and an object holding it. */
function allocate(n: number): void {
  for (let i = 0; i < n; i++) {
    kept[keptAt] = { copy: Buffer.from(SOURCE), at: keptAt, tag: 'injected' };
    keptAt = (keptAt + 1) & 255;
  }
}

/** µs of main-thread CPU one allocation unit costs here, garbage collection included. */
function calibrateAlloc(): number {
  const tid = osThreadId();
  const units = 50_000;
  allocate(1000);
  const c0 = threadCpuMicros(tid);
  allocate(units);
  return Math.max(0.01, (threadCpuMicros(tid) - c0) / units);
}
