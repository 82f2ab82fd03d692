/**
 * `zqueue bench`'s six exports against the seed's Python device, each read
 * back in its tool's format: the versioned JSON, a CSV row per client,
 * Markdown, github-action-benchmark's two custom tools, Bencher's BMF and an
 * HdrHistogram interval log. And open loop's corrected and uncorrected
 * latency side by side.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { readBenchDocument, type BenchDocument } from '../src/load/document.js';
import { cli, freePort, pyzmqMissing, python, within, type Spawned } from './helpers.js';

const CLIENTS = 12;

describe("zqueue bench exports, against the seed's Python device", () => {
  const skip = pyzmqMissing();
  const procs: Spawned[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'zq-exports-'));
  const file = (name: string): string => join(dir, name);
  let front = 0;
  before(async () => {
    if (skip !== false) return;
    front = await freePort();
    const back = await freePort();
    const device = python('seed_device.py', [`tcp://127.0.0.1:${front}`, `tcp://127.0.0.1:${back}`]);
    procs.push(device);
    await within(10_000, 'seed device ready', device.waitFor('ready'));
    for (let i = 0; i < 2; i++) procs.push(python('seed_server.py', [`tcp://127.0.0.1:${back}`, '0']));
  });
  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
  });

  async function bench(args: readonly string[]): Promise<void> {
    const p = cli(['bench', '--connect', `tcp://127.0.0.1:${front}`, '--clients', String(CLIENTS), ...args]);
    assert.equal(await within(120_000, 'zqueue bench', p.exited), 0, p.stderr());
  }

  it("writes all six, each in its tool's format", { skip }, async () => {
    await bench([
      '--duration',
      '3',
      '--export-json',
      file('run.json'),
      '--export-csv',
      file('run.csv'),
      '--export-markdown',
      file('run.md'),
      '--export-github-benchmark',
      file('gab.json'),
      '--export-bmf',
      file('bmf.json'),
      '--export-hdr',
      file('run.hlog'),
    ]);
    // JSON: the versioned document, read back by the reader compare uses.
    const doc: BenchDocument = readBenchDocument(JSON.parse(readFileSync(file('run.json'), 'utf8')));
    assert.equal(doc.schema, 'zqueue-bench/2');
    const run = doc.runs[0];
    assert.ok(run !== undefined && run.requests > 0);

    // CSV: a header, then exactly one row per client, whose requests add up to the run's.
    const [header, ...rows] = readFileSync(file('run.csv'), 'utf8').trim().split('\n');
    assert.equal(header, 'run,repeat,client,requests,errors,timeouts,rps,p50_us,p99_us');
    assert.equal(rows.length, CLIENTS);
    const cols = rows.map((r) => r.split(','));
    assert.deepEqual(
      cols.map((c) => Number(c[2])),
      Array.from({ length: CLIENTS }, (_, i) => i),
    );
    assert.equal(
      cols.reduce((n, c) => n + Number(c[3]), 0),
      run.requests,
    );
    for (const c of cols) assert.ok(Number(c[7]) > 0 && Number(c[8]) >= Number(c[7]), `p50 ${c[7]}, p99 ${c[8]}`);

    // Markdown: a table with the run's row.
    const md = readFileSync(file('run.md'), 'utf8');
    assert.match(md, /^\| target \| clients \| req\/s \|/m);
    assert.match(md, new RegExp(`^\\| tcp://127\\.0\\.0\\.1:${front} \\| ${CLIENTS} \\| `, 'm'));

    // github-action-benchmark: customBiggerIsBetter in the file, customSmallerIsBetter beside it.
    type Entry = { name: string; unit: string; value: number; range?: string; extra?: string };
    const bigger = JSON.parse(readFileSync(file('gab.json'), 'utf8')) as Entry[];
    const smaller = JSON.parse(readFileSync(file('gab.latency.json'), 'utf8')) as Entry[];
    for (const e of [...bigger, ...smaller]) {
      assert.equal(typeof e.name, 'string');
      assert.equal(typeof e.unit, 'string');
      assert.ok(Number.isFinite(e.value), JSON.stringify(e));
    }
    assert.deepEqual(
      bigger.map((e) => [e.unit, e.value]),
      [['req/s', run.throughput_rps]],
    );
    assert.deepEqual(
      smaller.map((e) => e.name.split(' ').pop()),
      ['p50', 'p99', 'p99.9'],
    );

    // Bencher Metric Format: benchmark → measure → { value, lower_value?, upper_value? }.
    const bmf = JSON.parse(readFileSync(file('bmf.json'), 'utf8')) as Record<
      string,
      Record<string, { value: number; lower_value?: number; upper_value?: number }>
    >;
    const measures = bmf[`tcp://127.0.0.1:${front}`];
    assert.ok(measures !== undefined, Object.keys(bmf).join(', '));
    assert.equal(measures.throughput?.value, run.throughput_rps);
    assert.equal(measures.latency?.value, run.latency.p50_us * 1000, 'latency in ns');
    for (const m of Object.values(measures))
      assert.ok(
        Number.isFinite(m.value) && (m.lower_value ?? m.value) <= m.value && m.value <= (m.upper_value ?? m.value),
        JSON.stringify(m),
      );

    // HdrHistogram interval log: HdrHistogram's own reader finds the intervals, and they hold every measured reply.
    const reader = new hdr.HistogramLogReader(readFileSync(file('run.hlog'), 'utf8'));
    let total = 0;
    let intervals = 0;
    for (let h = reader.nextIntervalHistogram(); h !== null; h = reader.nextIntervalHistogram()) {
      total += h.totalCount;
      intervals++;
      assert.equal(h.tag, `tcp://127.0.0.1:${front}`);
    }
    assert.ok(intervals >= 3, `${intervals} intervals in 3 s`);
    assert.equal(total, run.requests);
  });

  it('open loop shows corrected and uncorrected latency side by side; corrected is never the lower', { skip }, async () => {
    await bench(['--duration', '2', '--rate', '300', '--export-json', file('open.json'), '--export-markdown', file('open.md')]);
    const run = readBenchDocument(JSON.parse(readFileSync(file('open.json'), 'utf8'))).runs[0];
    assert.ok(run !== undefined);
    assert.equal(run.mode, 'open');
    const u = run.latency_uncorrected;
    assert.ok(u !== null, 'uncorrected latency in open loop');
    assert.equal(u.count, run.latency.count);
    // Each reply's corrected time starts when it was due, at or before its send: no percentile can be lower.
    assert.ok(
      run.latency.p50_us >= u.p50_us && run.latency.p99_us >= u.p99_us && run.latency.max_us >= u.max_us,
      `${JSON.stringify(run.latency)} against ${JSON.stringify(u)}`,
    );
    assert.match(readFileSync(file('open.md'), 'utf8'), /uncorrected p50 ms \| uncorrected p99 ms/);
  });
});
