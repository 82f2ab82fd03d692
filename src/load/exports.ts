/**
 * `zqueue bench`'s exports, each in the format the tool that reads it
 * expects:
 * - json: the versioned document (src/load/document.ts);
 * - csv: one row per client and run, as `nats bench --csv` has one per client;
 * - markdown: the table, with per-client spread;
 * - github-benchmark: github-action-benchmark's `customBiggerIsBetter`
 *   entries (throughput) in FILE and `customSmallerIsBetter` ones (latency)
 *   in FILE's `.latency` sibling, because one action step reads one tool;
 * - bmf: Bencher Metric Format;
 * - hdr: an HdrHistogram interval log (written as the run goes, see hdrLog).
 */
import { writeFileSync } from 'node:fs';
import * as hdr from 'hdr-histogram-js';
import type { Histogram } from './histogram.js';
import { labelsOf, type BenchDocument, type BenchRun } from './document.js';

export const EXPORTS = ['json', 'csv', 'markdown', 'github-benchmark', 'bmf', 'hdr'] as const;
export type ExportFormat = (typeof EXPORTS)[number];

const ms = (us: number): string => (us / 1000).toFixed(2);

/** Runs of a label that were measured (a run that never warmed up has no figures). */
function measured(doc: BenchDocument, label: string): BenchRun[] {
  return doc.runs.filter((r) => r.label === label && r.warmup_failed === null);
}

function meanOf(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function toCsv(doc: BenchDocument): string {
  const field = (x: string | number): string => (typeof x === 'number' ? String(x) : /[",\n]/.test(x) ? `"${x.replaceAll('"', '""')}"` : x);
  const lines = ['run,repeat,client,requests,errors,timeouts,rps,p50_us,p99_us'];
  for (const r of doc.runs) {
    for (const c of r.client_figures)
      lines.push([r.label, r.repeat, c.client, c.requests, c.errors, c.timeouts, c.rps, c.p50_us, c.p99_us].map(field).join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** The result table: one row per run; open loop adds the uncorrected percentiles; per-client req/s spread. */
export function resultTable(runs: readonly BenchRun[], first = 'target'): string {
  const open = runs.some((r) => r.latency_uncorrected !== null);
  const cpu = runs.some((r) => r.cpu !== null);
  const head = [
    first,
    'clients',
    'req/s',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'p99.9 ms',
    'max ms',
    ...(open ? ['uncorrected p50 ms', 'uncorrected p99 ms'] : []),
    'client req/s min / mean / max (stddev)',
    ...(cpu ? ['CPU µs/req (main + zmq + workers + other)'] : []),
    'requests',
    'errors',
    'timeouts',
  ];
  const rows = runs.map((r) => {
    const clients = (r.in_flight ?? 1) > 1 ? `${r.clients} × ${r.in_flight} in flight` : String(r.clients);
    if (r.warmup_failed !== null) return [r.label, clients, `not measured: ${r.warmup_failed}`, ...head.slice(3).map(() => '')];
    const u = r.latency_uncorrected;
    const pc = r.per_client;
    return [
      r.label,
      clients,
      r.throughput_rps.toLocaleString('en-US'),
      ms(r.latency.p50_us),
      ms(r.latency.p90_us),
      ms(r.latency.p99_us),
      ms(r.latency.p99_9_us),
      ms(r.latency.max_us),
      ...(open ? [u !== null ? ms(u.p50_us) : '', u !== null ? ms(u.p99_us) : ''] : []),
      `${pc.min_rps} / ${pc.mean_rps} / ${pc.max_rps} (${pc.stddev_rps})`,
      ...(cpu
        ? [
            r.cpu !== null
              ? `${r.cpu.total_us_per_req} (${r.cpu.main_us_per_req} + ${r.cpu.zmq_us_per_req} + ${r.cpu.workers_us_per_req} ` +
                `+ ${r.cpu.other_us_per_req})`
              : '',
          ]
        : []),
      String(r.requests),
      String(r.errors),
      String(r.timeouts),
    ];
  });
  return [
    `| ${head.join(' | ')} |`,
    `| --- | ${head
      .slice(1)
      .map(() => '---:')
      .join(' | ')} |`,
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
  ].join('\n');
}

export function toMarkdown(doc: BenchDocument): string {
  const env = doc.environment;
  return [
    `# zqueue bench: ${doc.target}`,
    '',
    `${doc.created_at}, zqueue ${env.zqueue}, Node ${env.node}, ${env.cpus} × ${env.cpu_model}; ${doc.repeats} ` +
      `repeat${doc.repeats > 1 ? 's' : ''}${doc.kind === 'handler' ? ', through zqueue serve (tcp frontend)' : ''}.`,
    '',
    resultTable(
      doc.repeats > 1 ? doc.runs.map((r) => ({ ...r, label: `${r.label} #${r.repeat + 1}` })) : doc.runs,
      doc.kind === 'handler' ? 'backend / threads' : 'target',
    ),
    '',
    doc.runs.some((r) => r.latency_uncorrected !== null)
      ? 'Open loop: latency counts from when each request was due (corrected for coordinated omission); ' +
        'the uncorrected columns count from its send, as wrk2 shows both.\n'
      : '',
  ].join('\n');
}

export interface GithubBenchmarkEntry {
  readonly name: string;
  readonly unit: string;
  readonly value: number;
  readonly range?: string;
  readonly extra?: string;
}

/** The entries of github-action-benchmark's custom tools: throughput (bigger is better) and latency percentiles (smaller is better). */
export function toGithubBenchmark(doc: BenchDocument): { bigger: GithubBenchmarkEntry[]; smaller: GithubBenchmarkEntry[] } {
  const bigger: GithubBenchmarkEntry[] = [];
  const smaller: GithubBenchmarkEntry[] = [];
  for (const label of labelsOf(doc)) {
    const runs = measured(doc, label);
    if (runs.length === 0) continue;
    const extra =
      `${runs[0]?.clients ?? 0} clients, ${runs[0]?.size_bytes ?? 0} B, ${runs[0]?.mode ?? ''} loop, ${runs.length} ` +
      `repeat${runs.length > 1 ? 's' : ''}`;
    const rps = runs.map((r) => r.throughput_rps);
    bigger.push({ name: `${label} throughput`, unit: 'req/s', value: Math.round(meanOf(rps)), ...spread(rps), extra });
    for (const [p, key] of [
      ['p50', 'p50_us'],
      ['p99', 'p99_us'],
      ['p99.9', 'p99_9_us'],
    ] as const) {
      const xs = runs.map((r) => r.latency[key] / 1000);
      smaller.push({ name: `${label} latency ${p}`, unit: 'ms', value: round3(meanOf(xs)), ...spread(xs), extra });
    }
    const cpu = runs.flatMap((r) => (r.cpu !== null ? [r.cpu.total_us_per_req] : []));
    if (cpu.length > 0)
      smaller.push({ name: `${label} CPU per request`, unit: 'µs/req', value: round3(meanOf(cpu)), ...spread(cpu), extra });
  }
  return { bigger, smaller };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** `range` as github-action-benchmark shows it: ± half the spread over repeats (none for one repeat). */
function spread(xs: readonly number[]): { range?: string } {
  if (xs.length < 2) return {};
  return { range: `± ${round3((Math.max(...xs) - Math.min(...xs)) / 2)}` };
}

export interface BmfMeasure {
  readonly value: number;
  readonly lower_value?: number;
  readonly upper_value?: number;
}

/**
 * Bencher Metric Format: per label, Bencher's `throughput` (operations a
 * second: the mean over repeats, lower and upper the extremes) and
 * `latency` (nanoseconds: the median, lower the fastest reply, upper the
 * p99), with `latency-p99` and `latency-p99-9` as measures of their own,
 * and `cpu-per-request` (µs) where the broker's CPU was measured.
 */
export function toBmf(doc: BenchDocument): Record<string, Record<string, BmfMeasure>> {
  const out: Record<string, Record<string, BmfMeasure>> = {};
  for (const label of labelsOf(doc)) {
    const runs = measured(doc, label);
    if (runs.length === 0) continue;
    const rps = runs.map((r) => r.throughput_rps);
    const ns = (pick: (r: BenchRun) => number): number => Math.round(meanOf(runs.map(pick)) * 1000);
    out[label] = {
      throughput: { value: meanOf(rps), lower_value: Math.min(...rps), upper_value: Math.max(...rps) },
      latency: { value: ns((r) => r.latency.p50_us), lower_value: ns((r) => r.latency.min_us), upper_value: ns((r) => r.latency.p99_us) },
      'latency-p99': { value: ns((r) => r.latency.p99_us) },
      'latency-p99-9': { value: ns((r) => r.latency.p99_9_us) },
    };
    const cpu = runs.flatMap((r) => (r.cpu !== null ? [r.cpu.total_us_per_req] : []));
    if (cpu.length > 0)
      out[label] = {
        ...out[label],
        'cpu-per-request': { value: meanOf(cpu), lower_value: Math.min(...cpu), upper_value: Math.max(...cpu) },
      };
  }
  return out;
}

/**
 * An HdrHistogram interval log, written as the run goes: a line per second
 * of measuring, tagged with the run's label (`Tag=inproc / 2`, repeat
 * after a `#`), values in microseconds. HdrHistogram's plotter and
 * HistogramLogProcessor read it.
 */
export class HdrLog {
  private readonly lines: string[] = [];
  private readonly writer = new hdr.HistogramLogWriter((text) => this.lines.push(text));
  private readonly startMs = Date.now();
  private runStartMs = 0;

  constructor(comment: string) {
    this.writer.outputComment(comment);
    this.writer.outputComment('values in microseconds; one interval histogram per second of measuring, tagged with the run');
    this.writer.outputLogFormatVersion();
    this.writer.outputStartTime(this.startMs);
    this.writer.outputLegend();
  }

  /** A run starts measuring now. */
  run(): void {
    this.runStartMs = Date.now() - this.startMs;
  }

  /** An interval of the current run (times in ms since it began measuring). */
  interval(h: Histogram, label: string, startMs: number, endMs: number): void {
    h.tag = label.replace(/[,\s]+/g, '_');
    this.writer.outputIntervalHistogram(h, (this.runStartMs + startMs) / 1000, (this.runStartMs + endMs) / 1000, 1);
  }

  save(file: string): void {
    writeFileSync(file, this.lines.join(''));
  }
}

/** Writes the exports asked for; returns the files written. */
export function writeExports(doc: BenchDocument, files: Partial<Record<ExportFormat, string>>, hdrLog: HdrLog | undefined): string[] {
  const written: string[] = [];
  const put = (file: string, text: string): void => {
    writeFileSync(file, text);
    written.push(file);
  };
  if (files.json !== undefined) put(files.json, `${JSON.stringify(doc, null, 2)}\n`);
  if (files.csv !== undefined) put(files.csv, toCsv(doc));
  if (files.markdown !== undefined) put(files.markdown, toMarkdown(doc));
  if (files['github-benchmark'] !== undefined) {
    const { bigger, smaller } = toGithubBenchmark(doc);
    put(files['github-benchmark'], `${JSON.stringify(bigger, null, 2)}\n`);
    put(latencySibling(files['github-benchmark']), `${JSON.stringify(smaller, null, 2)}\n`);
  }
  if (files.bmf !== undefined) put(files.bmf, `${JSON.stringify(toBmf(doc), null, 2)}\n`);
  if (files.hdr !== undefined && hdrLog !== undefined) {
    hdrLog.save(files.hdr);
    written.push(files.hdr);
  }
  return written;
}

/** `bench.json` → `bench.latency.json`: where the smaller-is-better entries go. */
export function latencySibling(file: string): string {
  return /\.json$/i.test(file) ? file.replace(/\.json$/i, '.latency.json') : `${file}.latency.json`;
}
