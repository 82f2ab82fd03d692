/**
 * `npm run bench:baseline`: measures the gate's cells afresh and writes
 * results/baseline.json, on purpose, printing how each figure moved from the
 * previous baseline. Commit the file with the change that justifies it.
 */
import { parseArgs } from 'node:util';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkBaseline, checkMarkdown, compare, gateDefaults, metricsOf, type Baseline } from '../bench/lib/gate.js';
import { environment, SCHEMA_VERSION } from '../bench/lib/results.js';
import { gateMatrix, measure } from './check.js';

const { positionals } = parseArgs({ allowPositionals: true, options: {} });
const out = positionals[0] ?? 'results';
const path = join(out, 'baseline.json');
const repeats = Number(process.env.ZQ_BASELINE_REPEATS ?? 10);
const cells = await measure(gateMatrix(repeats, 300), false);
const js = cells.filter((c) => c.mode === 'js' && c.status === 'ok').map((c) => (c.status === 'ok' ? c.summary.device_us_per_req : 0));
const baseline: Baseline = {
  schemaVersion: SCHEMA_VERSION,
  created_at: new Date().toISOString(),
  environment: environment(),
  js_device_us_per_req: js.length > 0 ? js.reduce((a, b) => a + b, 0) / js.length : 0,
  metrics: metricsOf(cells),
};
if (existsSync(path)) {
  try {
    const old = checkBaseline(JSON.parse(readFileSync(path, 'utf8')));
    console.log(
      checkMarkdown(
        compare(old.metrics, baseline.metrics, gateDefaults),
        gateDefaults,
        `How the new baseline differs from the one of ${old.created_at}:`,
      ),
    );
  } catch (err) {
    console.log(`(the previous baseline could not be read: ${err instanceof Error ? err.message : String(err)})`);
  }
}
mkdirSync(out, { recursive: true });
writeFileSync(path, `${JSON.stringify(baseline, null, 2)}\n`);
console.log(`wrote ${path}: ${baseline.metrics.length} figures, ${repeats} repeats each`);
