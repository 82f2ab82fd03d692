/**
 * `zqueue bench compare`: the gate's statistics on two saved runs. A run
 * compared with itself passes; against a service 30 % slower (a handler
 * that waits 20 ms, then 29 ms, through zqueue serve) it exits 1 naming
 * the figures. The broker runs in this process, whose CPU per request
 * (--cpu-pid) is compared as well.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker } from '../src/serve/broker.js';
import { connectUrlFor } from '../src/endpoints.js';
import { EXAMPLES, cli, within } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'zq-compare-'));

/** `zqueue bench` (2 repeats) against zqueue serve with a handler that waits `ms`; the document's file. */
async function saved(name: string, ms: number): Promise<string> {
  const before = process.env.ZQ_SLEEP_MS;
  process.env.ZQ_SLEEP_MS = String(ms); // read by each worker thread as it loads examples/sleep.js
  const broker = await Broker.create({ handler: join(EXAMPLES, 'sleep.js'), threads: 1, frontend: 'tcp://127.0.0.1:*', backend: 'inproc' });
  if (before === undefined) delete process.env.ZQ_SLEEP_MS;
  else process.env.ZQ_SLEEP_MS = before;
  try {
    await broker.device.waitForWorkers(1);
    const out = join(dir, `${name}.json`);
    const p = cli([
      'bench',
      '--connect',
      connectUrlFor(broker.frontendEndpoint),
      '--clients',
      '4',
      '--duration',
      '2',
      '--repeat',
      '2',
      '--cpu-pid',
      String(process.pid),
      '--export-json',
      out,
    ]);
    assert.equal(await within(60_000, 'zqueue bench', p.exited), 0, p.stderr());
    return out;
  } finally {
    await broker.close();
  }
}

async function compare(base: string, head: string): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const p = cli(['bench', 'compare', base, head]);
  const code = await within(30_000, 'zqueue bench compare', p.exited);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

describe('zqueue bench compare', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 on a run against itself, and 1 against a 30 % slower service, naming the throughput', async () => {
    const base = await saved('base', 20);
    const slow = await saved('slow', 29);
    const same = await compare(base, base);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    assert.match(same.stdout, /throughput_rps \| [\d.]+ \| [\d.]+ \| \+0\.0 % \| .* \| ok \|/);
    // The broker's CPU per request (this process: --cpu-pid) is a figure too.
    assert.match(same.stdout, /cpu_us_per_req \| [\d.]+ \| [\d.]+ \| \+0\.0 % \|/);

    const worse = await compare(base, slow);
    assert.equal(worse.code, 1, worse.stdout + worse.stderr);
    assert.match(worse.stdout, /throughput_rps \| .* \| \*\*REGRESSED\*\* \|/);
    assert.match(worse.stderr, /zqueue bench compare: \d figures? (is|are) worse: .*throughput_rps \(regressed\)/);
    // The throughput really fell by about the handler's 30 %: read from the saved runs, not assumed.
    const rps = (f: string): number =>
      (JSON.parse(readFileSync(f, 'utf8')) as { runs: { throughput_rps: number }[] }).runs.reduce((n, r) => n + r.throughput_rps, 0);
    assert.ok(rps(slow) < rps(base) * 0.85, `${rps(slow)} against ${rps(base)} req/s`);
  });

  it('refuses, with exit 2 and the difference, to judge runs that carried different loads', async () => {
    const base = await saved('base-4', 5);
    const doc = JSON.parse(readFileSync(base, 'utf8')) as { runs: { clients: number }[] };
    for (const r of doc.runs) r.clients = 10;
    const other = join(dir, 'ten.json');
    writeFileSync(other, JSON.stringify(doc));
    const r = await compare(base, other);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /^zqueue bench compare: the two runs did not carry the same load \(BASE 4 clients, 1 in flight each, 16 B, closed loop; HEAD 10 clients, 1 in flight each, 16 B, closed loop\)/,
    );
    assert.doesNotMatch(r.stdout, /REGRESSED/);
  });

  it('says which file cannot be read, with exit 2', async () => {
    const r = await compare(join(dir, 'missing.json'), join(dir, 'missing.json'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /zqueue bench compare: cannot read .*missing\.json/);
  });
});
