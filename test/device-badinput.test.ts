/** What a misbehaving peer sends never kills the device or a server, and is counted. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as zmq from 'zeromq';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { connectUrlFor } from '../src/endpoints.js';
import { POLICIES } from '../src/options.js';
import { until } from './helpers.js';

for (const policy of POLICIES) {
  describe(`js device (${policy}) under bad input`, () => {
    it('drops and counts messages without an envelope, cuts off oversized senders, and keeps serving', async () => {
      const device = await new Device({
        frontend: 'tcp://127.0.0.1:*',
        backend: 'tcp://127.0.0.1:*',
        engine: 'js',
        policy,
        maxMessageSize: 1024,
      }).start();
      const server = await new Server((req) => req, { endpoint: connectUrlFor(device.backendEndpoint) }).start();
      const rogue = new zmq.Dealer({ linger: 0 });
      const big = new zmq.Dealer({ linger: 0 });
      const client = new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 5000, retries: 0 });
      try {
        await server.connected();
        rogue.connect(connectUrlFor(device.frontendEndpoint));
        // No empty delimiter: the device sees [identity, payload].
        for (let i = 0; i < 100; i++) await rogue.send([Buffer.from(`junk ${i}`), Buffer.from('more')]);
        big.connect(connectUrlFor(device.frontendEndpoint));
        await big.send([Buffer.alloc(0), Buffer.alloc(4096, 1)]);
        for (let i = 0; i < 20; i++) assert.deepEqual((await client.request(`ok ${i}`)).map(String), [`ok ${i}`]);
        await until(5000, 'junk counted', () => {
          const s = device.stats();
          return s.engine === 'js' && s.malformed === 100;
        });
        const s = device.stats();
        assert.ok(s.engine === 'js');
        if (s.engine === 'js') {
          assert.equal(s.answered, 20, 'only the good requests reached the server');
          assert.equal(server.stats().received, 20);
        }
      } finally {
        await client.close();
        rogue.close();
        big.close();
        await server.close();
        await device.close();
      }
    });
  });
}

describe('server under bad input', () => {
  it('survives requests with no envelope, an empty body or many frames, counting the malformed ones', async () => {
    const server = await new Server((req) => `frames ${req.length}`, { endpoint: 'tcp://127.0.0.1:*', bind: true }).start();
    const peer = new zmq.Dealer({ linger: 0 });
    peer.connect(server.endpoint);
    const e = Buffer.alloc(0);
    const id = Buffer.from('peer-1');
    try {
      await peer.send([Buffer.from('no envelope at all')]);
      await peer.send([id, e]);
      await peer.send([id, e, ...Array.from({ length: 50 }, (_, i) => Buffer.from(String(i)))]);
      await peer.send([id, e, Buffer.from('one')]);
      const replies: string[] = [];
      for (let i = 0; i < 3; i++) {
        const [rid, delim, body] = await peer.receive();
        assert.deepEqual(rid, id);
        assert.equal(delim?.length, 0);
        replies.push(body?.toString() ?? '');
      }
      assert.deepEqual(replies, ['frames 0', 'frames 50', 'frames 1']);
      assert.equal(server.stats().malformed, 1);
      assert.equal(server.stats().received, 4);
    } finally {
      peer.close();
      await server.close();
    }
  });
});
