/**
 * `npm run bench:gate-rates -- [N]`: measures the gate itself. Runs the check
 * N times on unchanged code (every alarm is a false alarm), then N times with
 * the js device slowed by 25 % and by 50 % of its baseline CPU per request
 * (busy-work injected per request through the device's DeviceHooks seam (bench/lib/topology.ts); every alarm a detection).
 * Prints the rates and writes results/gate-rates.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { injected } from '../bench/lib/topology.js';
import { checkBaseline, gateDefaults } from '../bench/lib/gate.js';
import { check } from './check.js';
import { timeLeft } from '../bench/lib/progress.js';

const n = Number(process.argv[2] ?? 20);
const baseline = checkBaseline(JSON.parse(readFileSync('results/baseline.json', 'utf8')));
const rows: string[] = [];
const started = Date.now();
for (const slowdown of [0, 0.25, 0.5]) {
  injected.spinUs = slowdown * baseline.js_device_us_per_req;
  let alarms = 0;
  const flagged = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await check(baseline, 6, 300, gateDefaults, true);
    if (r.regressed) alarms++;
    for (const row of r.rows) if (row.verdict === 'regressed') flagged.set(row.key, (flagged.get(row.key) ?? 0) + 1);
    const done = ([0, 0.25, 0.5].indexOf(slowdown)) * n + i + 1;
    const left = timeLeft(done, 3 * n, Date.now() - started);
    console.error(`slowdown ${slowdown * 100} %: run ${i + 1}/${n}: ${r.regressed ? 'ALARM' : 'quiet'}${left === undefined ? '' : `, about ${left} left`}`);
  }
  const what = slowdown === 0 ? 'false alarms' : 'detections';
  const top = [...flagged.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, c]) => `${k} (${c})`).join('; ');
  rows.push(`| ${slowdown * 100} % (${injected.spinUs.toFixed(1)} µs/request) | ${alarms} of ${n} ${what} | ${top || '–'} |`);
}
injected.spinUs = 0;
const md = [
  '# How well the regression gate sees',
  '',
  `${n} checks per row, ${new Date().toISOString()}, ${Math.round((Date.now() - started) / 60_000)} min; threshold ${gateDefaults.threshold * 100} %, 6 repeats of 300 ms per cell, flagged cells re-measured once.`,
  '',
  '| injected slowdown of the js device | alarms | figures flagged most (times) |',
  '| --- | --- | --- |',
  ...rows,
  '',
].join('\n');
writeFileSync('results/gate-rates.md', md);
console.log(md);
