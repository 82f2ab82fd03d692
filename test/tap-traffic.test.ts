/** The tap publishes exactly the requests and replies relayed, and a slow subscriber only costs itself. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as zmq from 'zeromq';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { ErrorCode } from '../src/errors.js';
import { connectUrlFor } from '../src/endpoints.js';
import { formatTapped } from '../src/tap.js';
import { resolveDeviceOptions } from '../src/options.js';
import { TRANSPORTS, endpointFor, removeTempDirs } from './helpers.js';

after(removeTempDirs);

async function subscribed(device: Device, endpoint: string, options: zmq.SocketOptions<zmq.Subscriber> = {}): Promise<zmq.Subscriber> {
  const sub = new zmq.Subscriber({ linger: 0, ...options });
  const joined = once(device, 'tap');
  sub.connect(connectUrlFor(endpoint));
  sub.subscribe();
  await joined;
  return sub;
}

for (const transport of TRANSPORTS) {
  describe(`tap over ${transport}`, () => {
    it('sees every request as "in" and every reply as "out", in order per client, and nothing else', async () => {
      const device = await new Device({
        frontend: endpointFor(transport, 'front'),
        backend: endpointFor(transport, 'back'),
        tap: endpointFor(transport, 'tap'),
        engine: 'js',
        policy: 'least-busy',
      }).start();
      const server = await new Server((req) => `re: ${req[0]?.toString() ?? ''}`, {
        endpoint: connectUrlFor(device.backendEndpoint),
      }).start();
      await device.waitForWorkers(1);
      const s0 = device.stats();
      assert.ok(s0.counted && s0.tap !== undefined);
      const sub = await subscribed(device, s0.tap.endpoint);
      const clients = [0, 1, 2].map(
        () => new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 5000, retries: 0, batching: false }),
      );
      try {
        const N = 10;
        await Promise.all(
          clients.map(async (c, i) => {
            for (let r = 0; r < N; r++) await c.request(`c${i} r${r}`);
          }),
        );
        const seen: { dir: string; id: string; body: string }[] = [];
        for (let k = 0; k < clients.length * N * 2; k++) {
          // The envelope as relayed: the routing id, the zqueue client's deadline frame, the delimiter.
          const [dir, id, deadline, delim, body, ...rest] = await sub.receive();
          assert.equal(deadline?.subarray(0, 4).toString(), 'ZQDL');
          assert.equal(delim?.length, 0, 'the envelope is published as relayed');
          assert.equal(rest.length, 0);
          seen.push({ dir: dir?.toString() ?? '', id: id?.toString('hex') ?? '', body: body?.toString() ?? '' });
        }
        const ins = seen.filter((m) => m.dir === 'in');
        const outs = seen.filter((m) => m.dir === 'out');
        assert.equal(ins.length, clients.length * N);
        assert.equal(outs.length, clients.length * N);
        assert.deepEqual(
          ins.map((m) => m.body).sort(),
          clients.flatMap((_, i) => Array.from({ length: N }, (_, r) => `c${i} r${r}`)).sort(),
        );
        assert.deepEqual(outs.map((m) => m.body).sort(), ins.map((m) => `re: ${m.body}`).sort());
        // Each client's reply follows its request, under the same routing id.
        for (const m of outs) {
          const req = seen.findIndex((x) => x.dir === 'in' && x.id === m.id && `re: ${x.body}` === m.body);
          assert.ok(req >= 0 && req < seen.indexOf(m));
        }
        const s = device.stats();
        assert.ok(s.counted);
        assert.deepEqual(
          { published: s.tap?.published, dropped: s.tap?.dropped, subscriptions: s.tap?.subscriptions },
          { published: clients.length * N * 2, dropped: 0, subscriptions: 1 },
        );
        assert.match(
          formatTapped([Buffer.from('in'), Buffer.from([0, 1, 2]), Buffer.alloc(0), Buffer.from('hi')]),
          /^in {2}\[3\] 000102 \| "" \| "hi"$/,
        );
      } finally {
        await Promise.all(clients.map((c) => c.close()));
        sub.close();
        await server.close();
        await device.close();
      }
    });
  });
}

describe('tap with a subscriber that does not read', () => {
  it('drops and counts what the subscriber cannot take, while every client gets its reply', async () => {
    // 4 KiB bodies: over ipc, since inproc carries frames of 128 bytes or less.
    const device = await new Device({
      frontend: 'tcp://127.0.0.1:*',
      backend: endpointFor('ipc', 'tap-slow-back'),
      tap: 'tcp://127.0.0.1:*',
      tapHighWaterMark: 10,
      engine: 'js',
      policy: 'least-busy',
    }).start();
    const server = await new Server((req) => req, { endpoint: connectUrlFor(device.backendEndpoint), concurrency: 16 }).start();
    await device.waitForWorkers(1);
    const s0 = device.stats();
    assert.ok(s0.counted && s0.tap !== undefined);
    const sub = await subscribed(device, s0.tap.endpoint, { receiveHighWaterMark: 10 });
    const clients = Array.from(
      { length: 20 },
      () => new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 5000, retries: 0, batching: false }),
    );
    try {
      const body = 'y'.repeat(4096);
      await Promise.all(
        clients.map(async (c) => {
          for (let r = 0; r < 100; r++) assert.equal((await c.request(body))[0]?.length, body.length);
        }),
      );
      const s = device.stats();
      assert.ok(s.counted && s.tap !== undefined);
      assert.equal(s.answered, 2000);
      assert.equal(s.tap.published + s.tap.dropped, 4000, 'every message published or counted as dropped');
      assert.ok(s.tap.dropped > 0, `the full subscriber caused drops (${s.tap.dropped})`);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      sub.close();
      await server.close();
      await device.close();
    }
  });

  it('refuses a tap on the native engine and a bad tap endpoint, naming the option', () => {
    assert.throws(() => resolveDeviceOptions({ engine: 'native', tap: 'tcp://127.0.0.1:*' }), {
      code: ErrorCode.InvalidOption,
      message: /option "tap"/,
    });
    assert.throws(() => resolveDeviceOptions({ tap: 'tcp://127.0.0.1' }), { code: ErrorCode.InvalidEndpoint });
    assert.throws(() => resolveDeviceOptions({ tapHighWaterMark: -1 }), { code: ErrorCode.InvalidOption, message: /tapHighWaterMark/ });
  });
});
