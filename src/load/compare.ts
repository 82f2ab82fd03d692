/**
 * The statistics of comparing two benchmark runs, shared by the regression
 * gate (`npm run bench:check`) and `zqueue bench compare`. Free of I/O.
 *
 * Each figure has one sample per repeat. Baseline and current samples are
 * compared by a bootstrap of the relative change of the mean (seeded, so a
 * verdict is reproducible): a figure is flagged only when the change is
 * worse than the threshold AND the whole 95 % interval is on the worse side
 * of zero, i.e. the runs' own spread cannot explain it. With one sample a
 * side the interval is the change itself, and the threshold alone decides.
 */

export interface Metric {
  /** e.g. `tcp/js/100c/16B throughput_vs_direct`. */
  readonly key: string;
  /** What was measured: a bench cell, a `zqueue bench` run. */
  readonly cell: string;
  readonly metric: string;
  /** true when a larger value is better. */
  readonly higherIsBetter: boolean;
  readonly samples: readonly number[];
}

export type Verdict = 'ok' | 'improved' | 'regressed' | 'missing' | 'new';

export interface Comparison {
  readonly key: string;
  readonly verdict: Verdict;
  readonly baseline: number | undefined;
  readonly now: number | undefined;
  /** Relative change of the mean, signed so that negative is worse. */
  readonly change: number | undefined;
  /** 95 % bootstrap interval of that change. */
  readonly interval: readonly [number, number] | undefined;
}

/** What a gate check found: a row per figure, whether any regressed, and the report. */
export interface CheckResult {
  readonly rows: Comparison[];
  readonly regressed: boolean;
  readonly markdown: string;
}

export interface GateOptions {
  /** Worse by more than this fraction (and beyond the spread) is a regression. */
  readonly threshold: number;
  readonly resamples: number;
  readonly seed: number;
}

export const gateDefaults: GateOptions = Object.freeze({ threshold: 0.15, resamples: 4000, seed: 42 });

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** A small, seeded PRNG (mulberry32): the same verdict for the same samples. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Relative change of the mean from `base` to `now`, signed so that negative is worse. */
export function relativeChange(base: readonly number[], now: readonly number[], higherIsBetter: boolean): number {
  const b = mean(base);
  const n = mean(now);
  const change = (n - b) / Math.abs(b);
  return higherIsBetter ? change : -change;
}

/** 95 % percentile-bootstrap interval of relativeChange. */
export function bootstrapInterval(
  base: readonly number[],
  now: readonly number[],
  higherIsBetter: boolean,
  o: GateOptions = gateDefaults,
): [number, number] {
  const rand = prng(o.seed);
  const pick = (xs: readonly number[]): number[] => xs.map(() => xs[Math.floor(rand() * xs.length)] ?? 0);
  const changes: number[] = [];
  for (let i = 0; i < o.resamples; i++) changes.push(relativeChange(pick(base), pick(now), higherIsBetter));
  changes.sort((a, b) => a - b);
  return [changes[Math.floor(0.025 * changes.length)] ?? 0, changes[Math.ceil(0.975 * changes.length) - 1] ?? 0];
}

export function compare(base: readonly Metric[], now: readonly Metric[], o: GateOptions = gateDefaults): Comparison[] {
  const nowByKey = new Map(now.map((m) => [m.key, m]));
  const out: Comparison[] = [];
  for (const b of base) {
    const n = nowByKey.get(b.key);
    if (n === undefined || n.samples.length === 0) {
      out.push({ key: b.key, verdict: 'missing', baseline: mean(b.samples), now: undefined, change: undefined, interval: undefined });
      continue;
    }
    const change = relativeChange(b.samples, n.samples, b.higherIsBetter);
    const interval = bootstrapInterval(b.samples, n.samples, b.higherIsBetter, o);
    const verdict: Verdict =
      change < -o.threshold && interval[1] < 0 ? 'regressed' : change > o.threshold && interval[0] > 0 ? 'improved' : 'ok';
    out.push({ key: b.key, verdict, baseline: mean(b.samples), now: mean(n.samples), change, interval });
  }
  const baseKeys = new Set(base.map((m) => m.key));
  for (const n of now)
    if (!baseKeys.has(n.key))
      out.push({ key: n.key, verdict: 'new', baseline: undefined, now: mean(n.samples), change: undefined, interval: undefined });
  return out;
}

const pct = (x: number | undefined): string => (x === undefined ? '–' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`);
const num = (x: number | undefined): string => (x === undefined ? '–' : x.toFixed(3));

export function checkMarkdown(rows: readonly Comparison[], o: GateOptions, note: string, title = 'zqueue regression gate'): string {
  const verdictText: Record<Verdict, string> = {
    ok: 'ok',
    improved: 'improved',
    regressed: '**REGRESSED**',
    missing: '**missing**',
    new: 'new',
  };
  const lines = [
    `# ${title}`,
    '',
    note,
    '',
    `A figure regresses when it is worse than the baseline by more than ${(o.threshold * 100).toFixed(0)} ` +
      `% and its whole 95 % bootstrap interval is worse than zero. Change is signed: negative is worse.`,
    '',
    '| figure | baseline | now | change | 95 % interval | verdict |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    ...rows.map(
      (r) => `| ${r.key} | ${num(r.baseline)} | ${num(r.now)} | ${pct(r.change)} | ${interval(r.interval)} | ${verdictText[r.verdict]} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

function interval(i: readonly [number, number] | undefined): string {
  return i === undefined ? '–' : `${pct(i[0])} … ${pct(i[1])}`;
}
