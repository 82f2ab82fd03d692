/** The harness end to end, small: a smoke run per transport, and a run with injected failures. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bench, writeResults } from '../bench/run.js';
import { parseBenchArgs, type BenchOptions } from '../bench/lib/options.js';
import { checkRunResult, SCHEMA_VERSION } from '../bench/lib/results.js';
import { cellFailed, markdown } from '../bench/lib/report.js';
import { decode } from '../src/load/histogram.js';
import { writeMatrixExports } from '../bench/lib/exports.js';
import { HANDLERS } from './helpers.js';

function options(extra: string[]): BenchOptions {
  const o = parseBenchArgs(['--quick', '--clients', '4', '--duration', '150', '--no-write', ...extra]);
  assert.ok(o !== 'help');
  return o;
}

describe('bench harness', () => {
  for (const transport of ['tcp', 'ipc', 'inproc', 'tcp-inproc']) {
    it(`a --quick smoke run over ${transport} measures every mode with no errors`, async () => {
      const r = await bench(options(['--transport', transport]));
      assert.equal(r.schemaVersion, SCHEMA_VERSION);
      // direct (not for tcp-inproc), native, js, least-busy, and one client with 100 requests in flight on least-busy.
      assert.equal(r.cells.length, transport === 'tcp-inproc' ? 4 : 5);
      assert.deepEqual(
        r.cells.filter((c) => (c.in_flight ?? 1) > 1).map((c) => [c.mode, c.clients, c.in_flight]),
        [['least-busy', 1, 100]],
      );
      for (const c of r.cells) {
        assert.equal(c.status, 'ok', c.status === 'failed' ? c.error : '');
        if (c.status !== 'ok') continue;
        assert.ok(c.summary.throughput_rps > 0, c.id);
        assert.equal(c.summary.errors, 0);
        assert.equal(c.summary.timeouts, 0);
        const h = decode(c.summary.histogram);
        assert.equal(
          h.totalCount,
          c.runs.reduce((n, run) => n + run.requests, 0),
          'the histogram holds every measured request',
        );
        h.destroy();
        if (c.mode !== 'direct') assert.ok(c.summary.device_us_per_req > 0, `${c.id} has a device CPU figure`);
      }
    });
  }

  it('a run with injected failures reports its errors, never hides them', async () => {
    const r = await bench(
      options(['--transport', 'inproc', '--mode', 'least-busy', '--in-flight', '0', '--handler', join(HANDLERS, 'fail-some.js')]),
    );
    const c = r.cells[0];
    assert.ok(c !== undefined && c.status === 'ok');
    if (c?.status !== 'ok') return;
    assert.ok(c.summary.errors > 0, 'errors counted');
    assert.match(c.runs[0]?.first_error ?? '', /handler: injected failure/);
    assert.match(markdown(r), /\*\*\d+ errors, 0 timeouts\*\*/);
    assert.match(markdown(r), /1 cell\(s\) failed or saw errors/);
  });

  it('a cell whose clients cannot all warm up is reported with where they stood, and does not fail the run', async () => {
    const o = {
      ...options(['--transport', 'inproc', '--mode', 'least-busy', '--in-flight', '0', '--handler', join(HANDLERS, 'slow.js')]),
      warmupTimeoutMs: 200,
    };
    const r = await bench(o);
    const c = r.cells[0];
    assert.ok(c !== undefined && c.status === 'not-warmed', JSON.stringify(c?.status));
    if (c?.status !== 'not-warmed') return;
    assert.match(c.diagnosis, /of 4 clients got no first reply within \d+ ms/);
    assert.equal(cellFailed(c), false);
    assert.match(markdown(r), /NOT MEASURED \(warm-up\)/);
    assert.doesNotMatch(markdown(r), /failed or saw errors/);
  });

  it('writes a results file that reads back, a Markdown table and two SVG charts', async () => {
    const r = await bench(options(['--transport', 'inproc', '--mode', 'direct,js']));
    const dir = mkdtempSync(join(tmpdir(), 'zq-results-'));
    try {
      writeResults(r, dir);
      assert.deepEqual(readdirSync(dir).sort(), ['latency.svg', 'latest.json', 'latest.md', 'raw', 'throughput.svg']);
      // Every run's own file goes to raw/, which git ignores: only the latest view is committed.
      assert.deepEqual(readdirSync(join(dir, 'raw')), [`${r.run.id}.json`]);
      const back = checkRunResult(JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')));
      assert.equal(back.cells.length, 2);
      assert.equal(back.environment.node, process.version);
      assert.match(readFileSync(join(dir, 'throughput.svg'), 'utf8'), /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.match(readFileSync(join(dir, 'latest.md'), 'utf8'), /\| inproc \| js \| 4 \| 16 \|/);
      assert.throws(() => checkRunResult({ ...back, schemaVersion: 99 }), /schemaVersion 99 is not the supported 1/);

      // The matrix for CI tools: a throughput entry per cell (bigger is better); p99 per cell and CPU per device cell (smaller).
      const written = writeMatrixExports(r, { exportGithubBenchmark: join(dir, 'gab.json'), exportBmf: join(dir, 'bmf.json') });
      assert.deepEqual(
        written.map((f) => f.slice(dir.length + 1)),
        ['gab.json', 'gab.latency.json', 'bmf.json'],
      );
      type Entry = { name: string; unit: string; value: number };
      const bigger = JSON.parse(readFileSync(join(dir, 'gab.json'), 'utf8')) as Entry[];
      const smaller = JSON.parse(readFileSync(join(dir, 'gab.latency.json'), 'utf8')) as Entry[];
      assert.deepEqual(
        bigger.map((e) => e.name),
        r.cells.map((c) => `${c.id} throughput`),
      );
      assert.deepEqual(smaller.map((e) => e.unit).sort(), ['ms', 'ms', 'µs/req']);
      for (const e of [...bigger, ...smaller]) assert.ok(Number.isFinite(e.value) && e.value > 0, JSON.stringify(e));
      const bmf = JSON.parse(readFileSync(join(dir, 'bmf.json'), 'utf8')) as Record<string, Record<string, { value: number }>>;
      assert.deepEqual(
        Object.keys(bmf),
        r.cells.map((c) => c.id),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
