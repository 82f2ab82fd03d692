/** Turns results into tables for people: the terminal, results/latest.md, a CI step summary. */
import { fairnessMarkdown } from '../fairness.js';
import { retryStormMarkdown } from '../retry-storm.js';
import { inFlightOf, type CellResult, type MicroResult, type ObservabilityPoint, type RunResult, type ScalingPoint } from './results.js';
import type { BenchTransport, Mode } from './topology.js';

type Row = readonly string[];

export function table(head: Row, rows: readonly Row[]): string {
  const out = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) out.push(`| ${r.join(' | ')} |`);
  return out.join('\n');
}

const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 1 : 2));
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || b === 0 ? '–' : `${(a / b).toFixed(2)}×`;

/** A cell's clients: `100`, or `1 × 1000 in flight` for a multiplexing client. */
function clientsOf(c: CellResult): string {
  return inFlightOf(c) > 1 ? `${c.clients} × ${inFlightOf(c)} in flight` : String(c.clients);
}

export function cellRows(cells: readonly CellResult[]): Row[] {
  return cells.map((c) => {
    if (c.status === 'failed')
      return [c.transport, c.mode, clientsOf(c), String(c.size_bytes), `FAILED: ${c.error}`, '', '', '', '', '', '', ''];
    if (c.status === 'not-warmed')
      return [
        c.transport,
        c.mode,
        clientsOf(c),
        String(c.size_bytes),
        `NOT MEASURED (warm-up): ${c.diagnosis}`,
        '',
        '',
        '',
        '',
        '',
        '',
        '',
      ];
    const s = c.summary;
    return [
      c.transport,
      c.mode,
      clientsOf(c),
      String(c.size_bytes),
      fmt(s.throughput_rps),
      fmt(s.latency.p50_us),
      fmt(s.latency.p90_us),
      fmt(s.latency.p99_us),
      fmt(s.latency.p99_9_us),
      fmt(s.latency.max_us),
      c.mode === 'direct' ? '–' : fmt(s.device_us_per_req),
      s.errors + s.timeouts === 0 ? '0' : `**${s.errors} errors, ${s.timeouts} timeouts**`,
    ];
  });
}

export const CELL_HEAD: Row = [
  'transport',
  'mode',
  'clients',
  'bytes',
  'req/s',
  'p50 µs',
  'p90 µs',
  'p99 µs',
  'p99.9 µs',
  'max µs',
  'device CPU µs/req',
  'errors',
];

function cellOf(
  cells: readonly CellResult[],
  t: BenchTransport,
  m: Mode,
  clients: number,
  size: number,
  inFlight = 1,
): CellResult | undefined {
  return cells.find(
    (x) => x.transport === t && x.mode === m && x.clients === clients && x.size_bytes === size && inFlightOf(x) === inFlight,
  );
}

function throughputOf(
  cells: readonly CellResult[],
  t: BenchTransport,
  m: Mode,
  clients: number,
  size: number,
  inFlight = 1,
): number | undefined {
  const c = cellOf(cells, t, m, clients, size, inFlight);
  return c?.status === 'ok' ? c.summary.throughput_rps : undefined;
}

function p99Of(cells: readonly CellResult[], t: BenchTransport, m: Mode, clients: number, size: number): number | undefined {
  const c = cellOf(cells, t, m, clients, size);
  return c?.status === 'ok' ? c.summary.latency.p99_us : undefined;
}

function cpuOf(cells: readonly CellResult[], t: BenchTransport, m: Mode, clients: number, size: number, inFlight = 1): number | undefined {
  const c = cellOf(cells, t, m, clients, size, inFlight);
  return c?.status === 'ok' ? c.summary.device_us_per_req : undefined;
}

/**
 * One multiplexing client against as many REQ clients, least-busy, side by
 * side in this run: throughput and the device's CPU a request.
 */
export function multiplexTable(cells: readonly CellResult[]): string | undefined {
  const mux = cells.filter((c) => inFlightOf(c) > 1);
  if (mux.length === 0) return undefined;
  const rows: Row[] = mux.map((c) => {
    const n = inFlightOf(c);
    const rps = throughputOf(cells, c.transport, 'least-busy', 1, c.size_bytes, n);
    const cpu = cpuOf(cells, c.transport, 'least-busy', 1, c.size_bytes, n);
    const reqRps = throughputOf(cells, c.transport, 'least-busy', n, c.size_bytes);
    const reqCpu = cpuOf(cells, c.transport, 'least-busy', n, c.size_bytes);
    return [
      c.transport,
      String(n),
      rps === undefined ? '–' : fmt(rps),
      cpu === undefined ? '–' : fmt(cpu),
      ratio(rps, reqRps),
      ratio(cpu, reqCpu),
    ];
  });
  return table(
    ['transport', 'in flight', 'req/s', 'device CPU µs/req', `req/s against as many REQ clients`, 'CPU against as many REQ clients'],
    rows,
  );
}

/** Throughput ratios measured side by side in this run. */
export function ratioTables(cells: readonly CellResult[]): string {
  cells = cells.filter((c) => inFlightOf(c) === 1);
  const transports = [...new Set(cells.map((c) => c.transport))];
  const modes = [...new Set(cells.map((c) => c.mode))];
  const clients = [...new Set(cells.map((c) => c.clients))];
  const sizes = [...new Set(cells.map((c) => c.size_bytes))];
  const device: Row[] = [];
  for (const t of transports) {
    const directT: BenchTransport = t === 'tcp-inproc' ? 'tcp' : t;
    for (const n of clients) {
      for (const sz of sizes) {
        const d = throughputOf(cells, directT, 'direct', n, sz);
        const nat = throughputOf(cells, t, 'native', n, sz);
        const js = throughputOf(cells, t, 'js', n, sz);
        const lb = throughputOf(cells, t, 'least-busy', n, sz);
        device.push([
          t,
          String(n),
          String(sz),
          ratio(nat, d),
          ratio(js, d),
          ratio(lb, d),
          ratio(js, nat),
          ratio(lb, nat),
          ratio(p99Of(cells, t, 'least-busy', n, sz), p99Of(cells, t, 'native', n, sz)),
        ]);
      }
    }
  }
  const transport: Row[] = [];
  for (const m of modes) {
    for (const n of clients) {
      for (const sz of sizes) {
        const tcp = throughputOf(cells, 'tcp', m, n, sz);
        transport.push([
          m,
          String(n),
          String(sz),
          ratio(throughputOf(cells, 'ipc', m, n, sz), tcp),
          ratio(throughputOf(cells, 'inproc', m, n, sz), tcp),
          ratio(throughputOf(cells, 'tcp-inproc', m, n, sz), tcp),
        ]);
      }
    }
  }
  return [
    '### The device against its limit (throughput ratios; tcp-inproc against tcp direct)',
    '',
    table(
      [
        'transport',
        'clients',
        'bytes',
        'native/direct',
        'js/direct',
        'least-busy/direct',
        'js/native',
        'least-busy/native',
        'p99 least-busy/native',
      ],
      device,
    ),
    '',
    '### Transports against tcp (throughput ratios)',
    '',
    table(['mode', 'clients', 'bytes', 'ipc/tcp', 'inproc/tcp', 'tcp-inproc/tcp'], transport),
  ].join('\n');
}

export function scalingTable(points: readonly ScalingPoint[]): string {
  return table(
    ['threads', 'req/s', 'ratio to 1 thread', 'p99 µs', 'errors'],
    points.map((p) => [String(p.threads), fmt(p.throughput_rps), `${p.ratio_to_1.toFixed(2)}×`, fmt(p.p99_us), String(p.errors)]),
  );
}

export function observabilityTable(points: readonly ObservabilityPoint[]): string {
  return table(
    ['variant', 'req/s', 'throughput / bare', 'p50 µs', 'p99 µs', 'device CPU µs/req', 'CPU / bare', 'errors'],
    points.map((p) => [
      p.variant,
      fmt(p.throughput_rps),
      `${p.ratio_to_bare.toFixed(2)}×`,
      fmt(p.p50_us),
      fmt(p.p99_us),
      p.device_us_per_req.toFixed(1),
      `${p.cpu_ratio_to_bare.toFixed(2)}×`,
      String(p.errors),
    ]),
  );
}

export function microTable(results: readonly MicroResult[]): string {
  return table(
    ['benchmark', 'ops/s', 'mean µs', 'p99 µs', '± rme', 'samples'],
    results.map((m) => [
      m.name,
      fmt(m.ops_per_s),
      m.mean_us.toFixed(2),
      m.p99_us.toFixed(2),
      `${m.rme_pct.toFixed(2)} %`,
      String(m.samples),
    ]),
  );
}

export function markdown(r: RunResult): string {
  const e = r.environment;
  const parts = [
    `# zqueue bench: ${r.run.id}`,
    '',
    `${e.cpu_count} × ${e.cpu_model}, ${(e.memory_bytes / 2 ** 30).toFixed(0)} GiB, ${e.platform}; Node ${e.node}, zeromq.js ${e.zeromq_js}, libzmq ${e.libzmq}; git ${e.git_sha}; ${(r.run.duration_ms / 1000).toFixed(0)} s.`,
    '',
    'Figures are medians over interleaved repeats (throughput) and merged HDR histograms (latency). Machines here are shared and noisy: compare the ratios, measured side by side in this run, not absolute numbers across runs.',
    '',
  ];
  if (r.cells.length > 0) parts.push('## Cells', '', table(CELL_HEAD, cellRows(r.cells)), '', ratioTables(r.cells), '');
  const mux = multiplexTable(r.cells);
  if (mux !== undefined) parts.push('### One client, many requests in flight (least-busy, the batched wire)', '', mux, '');
  if (r.scaling !== undefined) parts.push('## CPU-bound handler across worker threads', '', scalingTable(r.scaling), '');
  if (r.retry_storm !== undefined) {
    parts.push('## Retry storm: goodput under overload (least-busy, tcp)', '', retryStormMarkdown(r.retry_storm), '');
  }
  if (r.fairness !== undefined) {
    parts.push('## Fairness under a noisy client (least-busy, tcp)', '', fairnessMarkdown(r.fairness), '');
  }
  if (r.observability !== undefined) {
    parts.push('## What watching costs (least-busy js device, tcp, 100 clients)', '', observabilityTable(r.observability), '');
  }
  if (r.micro !== undefined) parts.push('## Micro-benchmarks (tinybench)', '', microTable(r.micro), '');
  const failed = r.cells.filter(cellFailed);
  if (failed.length > 0) parts.push(`**${failed.length} cell(s) failed or saw errors; see the table.**`, '');
  const cold = r.cells.filter((c) => c.status === 'not-warmed');
  if (cold.length > 0)
    parts.push(
      `${cold.length} cell(s) could not warm up on this machine and were not measured (not an error; the table says where their clients stood).`,
      '',
    );
  return parts.join('\n');
}

/** A cell that failed, or whose requests errored or timed out while measured (a cell that could not warm up is neither). */
export function cellFailed(c: CellResult): boolean {
  return c.status === 'failed' || (c.status === 'ok' && c.summary.errors + c.summary.timeouts > 0);
}
