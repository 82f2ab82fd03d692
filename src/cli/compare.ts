/**
 * `zqueue bench compare BASE.json HEAD.json`: the regression gate's
 * statistics (src/load/compare.ts) on two saved `zqueue bench` runs. A
 * verdict per figure (each run's throughput, p50 and p99); exit 1 when one
 * regressed or went missing, 2 when a file cannot be read.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolveTable, type ResolvedOf } from '../options.js';
import { compareOptions } from './options.js';
import { checkMarkdown, compare, gateDefaults } from '../load/compare.js';
import { labelsOf, metricsOfDocument, readBenchDocument, type BenchDocument } from '../load/document.js';
import { UsageError, type CommandSpec, type Parsed } from './flags.js';

export const spec: CommandSpec = {
  name: 'bench compare',
  summary: 'compare two saved zqueue bench runs (--export-json or --json): a verdict per figure, exit 1 on a regression',
  usage: 'BASE.json HEAD.json [options]',
  intro: [
    "Each run's throughput, p50 and p99 are compared with one sample per repeat (zqueue bench --repeat N):",
    'a figure regresses when it is worse by more than the threshold and its whole 95 % bootstrap interval',
    'is worse than zero. With one repeat a side, the threshold alone decides.',
  ].join('\n'),
  sections: [{ table: compareOptions, keys: ['thresholdPct', 'exportMarkdown'] }],
  notes:
    'Exit 0: nothing regressed; 1: a figure regressed or is missing from HEAD; 2: a file cannot be read, or the two runs ' +
    'carried different loads.',
  positionals: 2,
};

type CompareOptions = ResolvedOf<typeof compareOptions>;

function readDoc(file: string): BenchDocument {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`zqueue bench compare: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    // An --export-json file, or what --json printed (the document is its last line).
    const trimmed = text.trim();
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch {
      value = JSON.parse(trimmed.split('\n').pop() ?? '');
    }
    return readBenchDocument(value, file);
  } catch (err) {
    throw new UsageError(`zqueue bench compare: ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function run(parsed: Parsed): void {
  const o = resolveTable('bench compare', compareOptions, parsed.of(compareOptions)) as CompareOptions;
  const [baseFile, headFile] = parsed.args;
  if (baseFile === undefined || headFile === undefined) throw new UsageError('zqueue bench compare: give two files, BASE.json HEAD.json');
  const base = readDoc(baseFile);
  const head = readDoc(headFile);
  const mismatch = loadMismatch(base, head);
  if (mismatch !== undefined)
    throw new UsageError(
      `the two runs did not carry the same load (${mismatch}): a comparison of their figures would judge ` +
        `the load, not the code; compare runs made with the same options`,
    );
  const g = { ...gateDefaults, threshold: o.thresholdPct / 100 };
  // Two runs of one target each (two --connect runs, say of two systems or ports) are compared with each other whatever their labels.
  const [baseLabels, headLabels] = [labelsOf(base), labelsOf(head)];
  const single = baseLabels.length === 1 && headLabels.length === 1 && baseLabels[0] !== headLabels[0];
  const headMetrics = metricsOfDocument(head).map((m) =>
    single ? { ...m, key: m.key.replace(m.cell, baseLabels[0] ?? m.cell), cell: baseLabels[0] ?? m.cell } : m,
  );
  const rows = compare(metricsOfDocument(base), headMetrics, g);
  const which = single ? `${headLabels[0] ?? ''} (HEAD) is compared with ${baseLabels[0] ?? ''} (BASE), each file's one target. ` : '';
  const side = (file: string, doc: BenchDocument): string =>
    `${file} (${doc.created_at || 'undated'}, ${doc.repeats} repeat${doc.repeats > 1 ? 's' : ''})`;
  const note = `${which}${side(baseFile, base)} against ${side(headFile, head)}.`;
  const markdown = checkMarkdown(rows, g, note, 'zqueue bench compare');
  process.stdout.write(markdown);
  if (o.exportMarkdown !== '') writeFileSync(o.exportMarkdown, markdown);
  const bad = rows.filter((r) => r.verdict === 'regressed' || r.verdict === 'missing');
  if (bad.length > 0)
    throw new Error(
      `${bad.length} figure${bad.length > 1 ? 's are' : ' is'} worse: ${bad.map((r) => `${r.key} (${r.verdict})`).join(', ')}`,
    );
}

/**
 * How the loads of two runs differ (clients, requests in flight, body size, open or closed loop and its rate), or undefined when they do
 * not.
 */
export function loadMismatch(base: BenchDocument, head: BenchDocument): string | undefined {
  const shape = (doc: BenchDocument): Map<string, string> => {
    const out = new Map<string, string>();
    for (const r of doc.runs) {
      const text = [
        `${r.clients} clients`,
        `${r.in_flight ?? 1} in flight each`,
        `${r.size_bytes} B`,
        r.mode === 'open' ? `open loop at ${r.offered_rps ?? 0} req/s` : 'closed loop',
      ].join(', ');
      out.set(r.label, text);
    }
    return out;
  };
  const [b, h] = [shape(base), shape(head)];
  const single = b.size === 1 && h.size === 1;
  for (const [label, text] of h) {
    const other = single ? [...b.values()][0] : b.get(label);
    if (other !== undefined && other !== text) return `${single ? '' : `${label}: `}BASE ${other}; HEAD ${text}`;
  }
  return undefined;
}
