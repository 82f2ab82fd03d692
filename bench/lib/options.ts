/** The bench's options: defaults, presets and checks in one place. */
import { parseArgs } from 'node:util';
import { BENCH_TRANSPORTS, MODES } from './topology.js';
import type { MatrixOptions } from '../throughput.js';

export type Scenario = 'throughput' | 'scaling' | 'observability' | 'fairness' | 'retry-storm' | 'micro';
export const SCENARIOS: readonly Scenario[] = ['throughput', 'scaling', 'observability', 'fairness', 'retry-storm', 'micro'];

/** What the harness runs: the matrix's options plus the run's presets and output. */
export interface BenchOptions extends MatrixOptions {
  readonly preset: 'default' | 'quick' | 'full';
  readonly scenarios: readonly Scenario[];
  readonly outDir: string;
  /** Print the results JSON on stdout (progress and tables go to stderr). */
  readonly json: boolean;
  /** Write results/ files. */
  readonly write: boolean;
  /** The retry-storm scenario's handler time and client timeout (ms). */
  readonly stormHandlerMs: number;
  readonly stormTimeoutMs: number;
  /** Exports of the throughput matrix for github-action-benchmark and Bencher ('' : none). */
  readonly exportGithubBenchmark: string;
  readonly exportBmf: string;
}

const PRESETS = {
  default: { clients: [1, 10, 100, 1000, 5000], inFlight: [100, 1000], sizes: [16], durationMs: 700, repeats: 2, scenarios: SCENARIOS },
  quick: { clients: [10, 100], inFlight: [100], sizes: [16], durationMs: 300, repeats: 1, scenarios: ['throughput'] as Scenario[] },
  full: {
    clients: [1, 10, 100, 1000, 5000, 10_000],
    inFlight: [100, 1000],
    sizes: [16, 1024, 65_536],
    durationMs: 2000,
    repeats: 3,
    scenarios: SCENARIOS,
  },
} as const;

export const HELP = `Usage: npm run bench -- [options]

  --quick                 a short run (≤ 60 s): all transports and modes, 10 and 100 clients, 0.3 s a cell
  --full                  everything: up to 10000 clients, 16 B, 1 KiB and 64 KiB, 3 repeats
  --transport LIST        tcp,ipc,inproc,tcp-inproc        (default: all)
  --mode LIST             direct,native,js,least-busy     (default: all; "direct" is no device, the others the device's
                          engine and policy: native, js round-robin, js least-busy)
  --clients LIST          e.g. 1,10,100,1000,5000 (up to 10000)
  --in-flight LIST        multiplexed cells: one zqueue client with N requests in
                          flight, least-busy, per transport (default 100,1000; 0: none)
  --size LIST             message bytes, e.g. 16,1024,65536 (default 16; on inproc and
                          tcp-inproc the native engine only up to 128, see src/inproc.ts)
  --duration MS           measured time per cell and repeat (default 700)
  --repeats N             interleaved repeats per cell      (default 2)
  --servers N             server worker threads             (default 2)
  --scenario LIST         throughput,scaling,observability,fairness,retry-storm,micro
                          (default: all; --quick: throughput)
  --storm-handler-ms MS   retry-storm: the handler's time   (default 10)
  --storm-timeout MS      retry-storm: when clients give up (default 200)
  --out DIR               where results go                  (default results)
  --export-github-benchmark FILE
                          the matrix for github-action-benchmark: throughput per cell
                          (customBiggerIsBetter) in FILE; p99 and device CPU µs a
                          request (customSmallerIsBetter) in FILE's .latency.json
  --export-bmf FILE       the matrix in Bencher Metric Format
  --json                  print the results JSON on stdout
  --no-write              do not write files
  -h, --help`;

export class BenchUsageError extends Error {}

function list<T extends string>(name: string, raw: string, allowed: readonly T[]): T[] {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const i of items)
    if (!(allowed as readonly string[]).includes(i)) throw new BenchUsageError(`--${name}: "${i}" is not one of ${allowed.join(', ')}`);
  if (items.length === 0) throw new BenchUsageError(`--${name} needs at least one value`);
  return items as T[];
}

function ints(name: string, raw: string, min: number, max: number): number[] {
  const items = raw.split(',').map((s) => s.trim());
  return items.map((s) => int(name, s, min, max));
}

function int(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw new BenchUsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        quick: { type: 'boolean' },
        full: { type: 'boolean' },
        transport: { type: 'string' },
        mode: { type: 'string' },
        clients: { type: 'string' },
        'in-flight': { type: 'string' },
        size: { type: 'string' },
        duration: { type: 'string' },
        repeats: { type: 'string' },
        servers: { type: 'string' },
        scenario: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean' },
        'no-write': { type: 'boolean' },
        handler: { type: 'string' },
        'storm-handler-ms': { type: 'string' },
        'storm-timeout': { type: 'string' },
        'export-github-benchmark': { type: 'string' },
        'export-bmf': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    throw new BenchUsageError((err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'bad arguments');
  }
  if (values.help === true) return 'help';
  if (values.quick === true && values.full === true) throw new BenchUsageError('--quick and --full cannot be used together');
  const preset = values.quick === true ? 'quick' : values.full === true ? 'full' : 'default';
  const p = PRESETS[preset];
  const s = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
  const handler = s('handler');
  const clients = s('clients') !== undefined ? ints('clients', s('clients') ?? '', 1, 10_000) : [...p.clients];
  return {
    preset,
    scenarios: s('scenario') !== undefined ? list('scenario', s('scenario') ?? '', SCENARIOS) : [...p.scenarios],
    transports: s('transport') !== undefined ? list('transport', s('transport') ?? '', BENCH_TRANSPORTS) : [...BENCH_TRANSPORTS],
    modes: s('mode') !== undefined ? list('mode', s('mode') ?? '', MODES) : [...MODES],
    clients,
    inFlight: s('in-flight') !== undefined ? ints('in-flight', s('in-flight') ?? '', 0, 100_000).filter((n) => n > 1) : [...p.inFlight],
    sizes: s('size') !== undefined ? ints('size', s('size') ?? '', 1, 16 * 1024 * 1024) : [...p.sizes],
    durationMs: s('duration') !== undefined ? int('duration', s('duration') ?? '', 50, 600_000) : p.durationMs,
    repeats: s('repeats') !== undefined ? int('repeats', s('repeats') ?? '', 1, 100) : p.repeats,
    servers: s('servers') !== undefined ? int('servers', s('servers') ?? '', 1, 256) : 2,
    clientsPerGenerator: 2500,
    warmupTimeoutMs: 60_000,
    requestTimeoutMs: 10_000,
    outDir: s('out') ?? 'results',
    json: values.json === true,
    write: values['no-write'] !== true,
    stormHandlerMs: s('storm-handler-ms') !== undefined ? int('storm-handler-ms', s('storm-handler-ms') ?? '', 1, 60_000) : 10,
    stormTimeoutMs: s('storm-timeout') !== undefined ? int('storm-timeout', s('storm-timeout') ?? '', 10, 600_000) : 200,
    exportGithubBenchmark: s('export-github-benchmark') ?? '',
    exportBmf: s('export-bmf') ?? '',
    ...(handler !== undefined ? { handler } : {}),
  };
}
