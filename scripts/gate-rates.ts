/**
 * `npm run bench:gate-rates -- [N]`: measures the gate itself, side by side as
 * CI runs it (bench/lib/side-by-side.ts), with this tree as both the base and
 * the tree. N checks a row (default 20): on unchanged code (every alarm is a
 * false alarm), then with the tree's device slowed by 10 %, 25 % and 50 % of the
 * base device's main-thread CPU per request in the same run, as a busy wait
 * and as allocations (every alarm a detection). Writes results/gate-rates.md
 * and the table docs/benchmarks.md shows.
 */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { gateDefaults } from '../bench/lib/gate.js';
import { sideBySide, type Injection } from '../bench/lib/side-by-side.js';
import { timeLeft } from '../bench/lib/progress.js';
import { checkout, removeCheckout } from './against.js';

const n = Number(parseArgs({ allowPositionals: true, options: {} }).positionals[0] ?? 20);
if (!Number.isInteger(n) || n < 1) throw new Error(`usage: npm run bench:gate-rates -- [N]: N is a positive whole number, got ${n}`);
const rows: { label: string; inject: Injection | undefined }[] = [
  { label: '0 %', inject: undefined },
  ...(['busy', 'alloc'] as const).flatMap((kind) =>
    [0.1, 0.25, 0.5].map((fraction) => ({
      label: `${fraction * 100} %, ${kind === 'busy' ? 'busy wait' : 'allocations'}`,
      inject: { kind, fraction },
    })),
  ),
];
const dir = checkout('HEAD');
const lines: string[] = [];
const started = Date.now();
let done = 0;
try {
  for (const row of rows) {
    let alarms = 0;
    const pairs: number[] = [];
    const changes: number[] = [];
    const injectedUs: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = await sideBySide({ refDir: dir, ...(row.inject !== undefined ? { inject: row.inject } : {}) });
      if (r.regressed) alarms++;
      pairs.push(r.ref.length);
      changes.push(r.rows[0]?.change ?? 0);
      if (r.injected !== undefined) injectedUs.push(r.injected.us);
      const left = timeLeft(++done, rows.length * n, Date.now() - started);
      console.error(
        `${row.label}: check ${i + 1}/${n}: ${r.regressed ? 'ALARM' : 'quiet'} (${((r.rows[0]?.change ?? 0) * 100).toFixed(1)} %, ${r.ref.length} pairs)${left === undefined ? '' : `, about ${left} left`}`,
      );
    }
    const what = row.inject === undefined ? 'false alarms' : 'detections';
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    lines.push(
      `| ${row.label} | ${injectedUs.length > 0 ? `${med(injectedUs).toFixed(1)} µs` : '–'} | **${alarms} of ${n}** ${what} | ${(med(changes) * 100).toFixed(1)} % | ${Math.min(...pairs)}–${Math.max(...pairs)} |`,
    );
  }
} finally {
  removeCheckout(dir);
}
const md = [
  '# How well the regression gate sees',
  '',
  `${n} checks a row, ${new Date().toISOString().slice(0, 10)}, ${Math.round((Date.now() - started) / 60_000)} min on this machine (${process.platform}, Node ${process.version}). Each check is the one CI runs (\`npm run bench:check\`): the base and this tree side by side in one process, least-busy over tcp at 4000 req/s, windows of 1 s, 3 to 8 pairs (more only while the verdict is unclear); a regression is a main-thread CPU a request worse by more than ${gateDefaults.threshold * 100} % with its whole 95 % bootstrap interval worse than zero. Here the base is this tree too, and the slowdown is injected into the tree's device as a fraction of the base device's main-thread CPU a request in the same run.`,
  '',
  '| injected slowdown | per request (median) | alarms | median change seen | pairs |',
  '| --- | ---: | --- | ---: | ---: |',
  ...lines,
  '',
].join('\n');
writeFileSync('results/gate-rates.md', md);
console.log(md);
