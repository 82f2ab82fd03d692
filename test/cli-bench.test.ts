/**
 * `zqueue bench` against services the test starts: the seed's Python device
 * and servers, an echo that drops some requests, a fixed-rate run, and a
 * handler through zqueue serve.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { EXAMPLES, cli, freePort, pyzmqMissing, python, within, type Spawned } from './helpers.js';

interface Run {
  label: string;
  clients: number;
  mode: string;
  requests: number;
  throughput_rps: number;
  latency: { p50_us: number; p99_us: number; p99_9_us: number; max_us: number };
  errors: number;
  timeouts: number;
  per_client: { min_rps: number; mean_rps: number; max_rps: number; stddev_rps: number };
  cpu: {
    total_us_per_req: number;
    main_us_per_req: number;
    zmq_us_per_req: number;
    workers_us_per_req: number;
    other_us_per_req: number;
  } | null;
  cpu_pid: number | null;
  client_figures: { client: number; requests: number }[];
}

interface Doc {
  schema: string;
  kind: string;
  runs: Run[];
}

/** The one run of a --connect document. */
function only(doc: unknown): Run {
  const d = doc as Doc;
  assert.equal(d.schema, 'zqueue-bench/2');
  assert.equal(d.runs.length, 1);
  const r = d.runs[0];
  assert.ok(r !== undefined);
  return r;
}

/** Runs `zqueue bench` to its end: exit code, and the JSON it printed. */
async function bench(args: string[]): Promise<{ code: number | string; doc: unknown; stderr: string; pid: number }> {
  const p = cli(['bench', ...args, '--json']);
  const code = await within(120_000, 'zqueue bench', p.exited);
  const out = p.stdout().trim();
  return { code, doc: out === '' ? undefined : JSON.parse(out.split('\n').pop() ?? ''), stderr: p.stderr(), pid: p.child.pid ?? 0 };
}

/** A ROUTER that echoes, dropping every `dropEvery`-th request after the first `after` (0: never drops). */
async function echo(dropEvery = 0, afterN = 0): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const router = new zmq.Router({ linger: 0 });
  await router.bind('tcp://127.0.0.1:*');
  const loop = (async () => {
    let n = 0;
    try {
      for await (const frames of router) {
        n++;
        if (dropEvery > 0 && n > afterN && n % dropEvery === 0) continue;
        await router.send(frames);
      }
    } catch {
      // closed
    }
  })();
  return {
    endpoint: (router.lastEndpoint ?? '').replace('0.0.0.0', '127.0.0.1'),
    close: async () => {
      router.close();
      await loop;
    },
  };
}

describe('zqueue bench --connect', () => {
  const skip = pyzmqMissing();
  const procs: Spawned[] = [];
  let front = 0;
  let devicePid = 0;
  before(async () => {
    if (skip !== false) return;
    front = await freePort();
    const back = await freePort();
    const device = python('seed_device.py', [`tcp://127.0.0.1:${front}`, `tcp://127.0.0.1:${back}`]);
    procs.push(device);
    devicePid = device.child.pid ?? 0;
    await within(10_000, 'seed device ready', device.waitFor('ready'));
    for (let i = 0; i < 2; i++) procs.push(python('seed_server.py', [`tcp://127.0.0.1:${back}`, '0']));
  });
  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
  });

  it("measures the seed's Python device and two seed servers: 200 clients, req/s, percentiles, no errors, as JSON", { skip }, async () => {
    const r = await bench(['--connect', `tcp://127.0.0.1:${front}`, '--clients', '200', '--duration', '2', '--cpu-pid', String(devicePid)]);
    assert.equal(r.code, 0, r.stderr);
    const d = only(r.doc);
    assert.equal(d.clients, 200);
    assert.equal(d.mode, 'closed');
    assert.ok(d.requests > 0 && d.throughput_rps > 0, `${d.requests} requests, ${d.throughput_rps} req/s`);
    assert.ok(d.latency.p50_us > 0 && d.latency.p99_us >= d.latency.p50_us && d.latency.max_us >= d.latency.p99_9_us);
    assert.equal(d.errors, 0);
    assert.equal(d.timeouts, 0);
    assert.equal(d.client_figures.length, 200, 'a row per client');
    // --cpu-pid: the Python device's CPU per request, by thread: its main thread and libzmq's I/O thread both worked.
    assert.equal(d.cpu_pid, devicePid);
    assert.ok(d.cpu !== null && d.cpu.main_us_per_req > 0 && d.cpu.zmq_us_per_req > 0, JSON.stringify(d.cpu));
    assert.ok(
      Math.abs(
        d.cpu.total_us_per_req - (d.cpu.main_us_per_req + d.cpu.zmq_us_per_req + d.cpu.workers_us_per_req + d.cpu.other_us_per_req),
      ) < 0.05,
    );
    assert.equal(
      d.client_figures.reduce((n, c) => n + c.requests, 0),
      d.requests,
      "the clients' requests add up to the run's",
    );
    assert.ok(
      d.per_client.min_rps > 0 && d.per_client.min_rps <= d.per_client.mean_rps && d.per_client.mean_rps <= d.per_client.max_rps,
      JSON.stringify(d.per_client),
    );
    assert.match(r.stderr, /\| tcp:\/\/127\.0\.0\.1:\d+ \| 200 \|/, 'the table');
  });

  it('exits 1 when requests time out, and counts them', async () => {
    const svc = await echo(10, 100);
    try {
      const r = await bench(['--connect', svc.endpoint, '--clients', '4', '--duration', '2', '--timeout', '200']);
      assert.equal(r.code, 1, r.stderr);
      const d = only(r.doc);
      assert.ok(d.timeouts > 0, `${d.timeouts} timeouts`);
      assert.match(r.stderr, /zqueue bench: 0 requests errored, \d+ timed out/);
    } finally {
      await svc.close();
    }
  });

  it('--rate offers the rate asked, within 20 %', async () => {
    const svc = await echo();
    try {
      const rate = 400;
      const r = await bench(['--connect', svc.endpoint, '--clients', '10', '--duration', '3', '--rate', String(rate)]);
      assert.equal(r.code, 0, r.stderr);
      const d = only(r.doc);
      assert.equal(d.mode, 'open');
      assert.ok(Math.abs(d.throughput_rps - rate) <= rate * 0.2, `offered ${rate} req/s, measured ${d.throughput_rps}`);
    } finally {
      await svc.close();
    }
  });

  it('refuses both --connect and --handler, or neither, with exit 2', async () => {
    for (const args of [[], ['--connect', 'tcp://127.0.0.1:1', '--handler', 'x.js']]) {
      const p = cli(['bench', ...args]);
      assert.equal(await within(10_000, 'exit', p.exited), 2);
      assert.match(p.stderr(), /give one of --connect ENDPOINT or --handler FILE/);
    }
  });
});

describe('zqueue bench --handler', () => {
  it('runs the handler through zqueue serve over tcp, ipc and inproc backends, at each thread count', async () => {
    const r = await bench(['--handler', join(EXAMPLES, 'echo.js'), '--clients', '4', '--duration', '1']);
    assert.equal(r.code, 0, r.stderr);
    const d = r.doc as { schema: string; runs: (Run & { backend: string; threads: number })[] };
    assert.equal(d.schema, 'zqueue-bench/2');
    const backends = new Set(d.runs.map((x) => x.backend));
    assert.deepEqual([...backends].sort(), ['inproc', 'ipc', 'tcp']);
    for (const x of d.runs) {
      assert.ok(x.requests > 0, `${x.backend}/${x.threads}: ${x.requests} requests`);
      assert.equal(x.errors + x.timeouts, 0);
      // zqueue serve's CPU per request, by thread: the device's main thread, libzmq's, and the worker threads each did work.
      assert.equal(x.cpu_pid, r.pid);
      assert.ok(
        x.cpu !== null && x.cpu.main_us_per_req > 0 && x.cpu.workers_us_per_req > 0,
        `${x.backend}/${x.threads}: ${JSON.stringify(x.cpu)}`,
      );
      if (x.backend !== 'inproc') assert.ok(x.cpu.zmq_us_per_req > 0, `${x.backend}: libzmq's I/O thread carried its traffic`);
    }
    assert.ok(d.runs.some((x) => x.threads === 1));
  });
});
