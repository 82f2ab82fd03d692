/** Each statistic of the js device, checked against a load whose every figure is known. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { ErrorCode } from '../src/errors.js';
import { connectUrlFor } from '../src/endpoints.js';
import { POLICIES } from '../src/options.js';
import { errorFrame } from '../src/protocol.js';
import { StatsLine } from '../src/operate/stats-line.js';
import { TRANSPORTS, endpointFor, removeTempDirs } from './helpers.js';

after(removeTempDirs);

const CLIENTS = 8;
const OK_EACH = 10;
const FAIL_EACH = 2;
const BODY = 'x'.repeat(32);
/** libzmq gives each peer of a ROUTER a 5-byte routing id; the zqueue client's envelope adds its deadline frame (16 bytes). */
const ROUTING_ID = 5;
const DEADLINE_FRAME = 16;
const ENVELOPE = ROUTING_ID + DEADLINE_FRAME;

for (const transport of TRANSPORTS) {
  for (const policy of POLICIES) {
    describe(`device statistics over ${transport}, ${policy}`, () => {
      it('counts messages, bytes, answers, failures by kind, latency, workers and peers exactly', async () => {
        const device = await new Device({
          frontend: endpointFor(transport, 'front'),
          backend: endpointFor(transport, 'back'),
          engine: 'js',
          policy,
        }).start();
        const servers = await Promise.all(
          [0, 1].map(() =>
            new Server(
              (req) => {
                if (req[0]?.toString() === 'fail') throw new Error('boom');
                return req;
              },
              // No heartbeats: every message on the backend is then one the test can count.
              { endpoint: connectUrlFor(device.backendEndpoint), heartbeatIntervalMs: 0 },
            ).start(),
          ),
        );
        await Promise.all(servers.map((s) => s.connected()));
        if (policy === 'least-busy') await device.waitForWorkers(2);
        if (transport !== 'inproc') await device.waitForPeers('backend', 2);
        const clients = Array.from(
          { length: CLIENTS },
          () => new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 5000, retries: 0, batching: false }),
        );
        const line = new StatsLine(device);
        try {
          if (transport !== 'inproc') await Promise.all(clients.map((c) => c.request(BODY))); // connect them all first
          if (transport !== 'inproc') await device.waitForPeers('frontend', CLIENTS);
          const warm = transport === 'inproc' ? 0 : CLIENTS;
          await Promise.all(
            clients.map(async (c) => {
              for (let i = 0; i < OK_EACH; i++) assert.equal((await c.request(BODY))[0]?.toString(), BODY);
              for (let i = 0; i < FAIL_EACH; i++) await assert.rejects(c.request('fail'), { code: ErrorCode.Handler, message: /boom/ });
            }),
          );
          const ok = CLIENTS * OK_EACH + warm;
          const fail = CLIENTS * FAIL_EACH;
          const s = device.stats();
          assert.ok(s.counted);
          const errorReply = errorFrame('handler', 'boom').length;
          assert.deepEqual(s.frontendTraffic, {
            messagesIn: ok + fail,
            bytesIn: (ok + fail) * ENVELOPE + ok * BODY.length + fail * 'fail'.length,
            messagesOut: ok + fail,
            bytesOut: (ok + fail) * ENVELOPE + ok * BODY.length + fail * errorReply,
          });
          assert.equal(s.answered, ok + fail);
          assert.deepEqual(s.failed, {
            busy: 0,
            closing: 0,
            timeout: 0,
            handler: fail,
            workerDied: 0,
            badRequest: 0,
            noService: 0,
            other: 0,
          });
          assert.equal(s.malformed, 0);
          assert.equal(s.inFlight, 0);
          assert.equal(s.queued, 0);
          assert.equal(s.latency.count, ok + fail, 'every answered request timed');
          assert.ok(s.latency.p50_us > 0 && s.latency.p50_us <= s.latency.p99_us && s.latency.p99_us <= s.latency.p99_9_us);
          assert.ok(s.latency.p99_9_us <= s.latency.max_us * 1.001 + 1);
          assert.ok(s.uptimeMs > 0);
          // Each server announced READY once.
          assert.equal(s.control, 2);
          assert.equal(s.backendTraffic.messagesOut, ok + fail);
          assert.equal(s.backendTraffic.messagesIn, ok + fail + 2);
          if (policy === 'least-busy') {
            assert.equal(s.workers.length, 2);
            assert.equal(
              s.workers.reduce((n, w) => n + w.served, 0),
              ok + fail,
            );
            for (const w of s.workers)
              assert.deepEqual({ state: w.state, inFlight: w.inFlight, credits: w.credits }, { state: 'ready', inFlight: 0, credits: 1 });
          } else {
            assert.equal(s.workers.length, 0, 'round-robin knows no workers');
          }
          if (transport !== 'inproc') assert.deepEqual(s.peers, { frontend: CLIENTS, backend: 2 });
          const text = line.next();
          assert.match(text, /^zqueue running \| /);
          assert.match(text, /answered \d+\/s/);
          assert.match(text, new RegExp(`p50 \\d+(\\.\\d)?(µs|ms) p99 `));
        } finally {
          await Promise.all(clients.map((c) => c.close()));
          await Promise.all(servers.map((s) => s.close()));
          await device.close();
        }
      });
    });
  }
}

describe('device statistics under refusal and timeouts', () => {
  it('counts busy, queued, in-flight and timed-out requests as they happen', async () => {
    const device = await new Device({
      frontend: 'tcp://127.0.0.1:*',
      backend: endpointFor('inproc', 'back'),
      engine: 'js',
      policy: 'least-busy',
      maxQueued: 2,
      handlerTimeoutMs: 300,
      prefetch: 0,
    }).start();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const first = new Promise<void>((r) => (started = r));
    const server = await new Server(
      async (req) => {
        if (req[0]?.toString() === 'hang') return new Promise<string>(() => {});
        started();
        await gate;
        return req;
      },
      { endpoint: connectUrlFor(device.backendEndpoint), concurrency: 1, closeTimeoutMs: 0 },
    ).start();
    await device.waitForWorkers(1);
    const clients = Array.from(
      { length: 6 },
      () => new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 5000, retries: 0, batching: false }),
    );
    try {
      const held = clients[0]?.request('held') ?? Promise.reject(new Error('no client'));
      await first;
      const queued = [clients[1], clients[2]].map((c) => c?.request('queued') ?? Promise.reject(new Error('no client')));
      await device.waitForPeers('frontend', 3);
      const refused = clients.slice(3).map((c) => assert.rejects(c.request('refused'), { code: ErrorCode.Busy }));
      await Promise.all(refused);
      let s = device.stats();
      assert.ok(s.counted);
      assert.equal(s.failed.busy, 3);
      assert.equal(s.queued, 2);
      assert.equal(s.inFlight, 1);
      assert.equal(s.workers[0]?.state, 'full');
      release();
      assert.deepEqual((await held).map(String), ['held']);
      for (const q of queued) assert.deepEqual((await q).map(String), ['queued']);
      // A request that never ends: the device answers it with a timeout and retires the worker.
      const retired = new Promise<string>((r) => device.once('worker-timeout', r));
      await assert.rejects(clients[0]?.request('hang') ?? Promise.resolve(), { code: ErrorCode.HandlerTimeout });
      await retired;
      s = device.stats();
      assert.ok(s.counted);
      assert.deepEqual(s.failed, { busy: 3, closing: 0, timeout: 1, handler: 0, workerDied: 0, badRequest: 0, noService: 0, other: 0 });
      assert.equal(s.answered, 3);
      assert.equal(s.latency.count, 3);
      assert.equal(s.workers[0]?.state, 'retired');
      assert.equal(s.inFlight, 0);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await server.close();
      await device.close();
    }
  });
});
