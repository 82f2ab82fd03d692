import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as zmq from 'zeromq';
import { Server } from '../src/server/server.js';
import { BATCH_MAX, WORKER_PROTOCOL, appendBatch, parseBatch } from '../src/protocol.js';

/** A REQUESTS message to the worker `id`, one single-frame body per request id. */
function requests(id: Buffer, ids: number[], body: (id: number) => string): Buffer[] {
  const message = [id, Buffer.alloc(0), Buffer.from('REQUESTS')];
  appendBatch(message, ids.map((i) => ({ id: i, frames: [Buffer.from(body(i))], bodyAt: 0 })));
  return message;
}

describe('server, worker protocol 2', () => {
  it('announces version 2, runs batches `concurrency` at a time and answers every request by id', async () => {
    // A ROUTER standing in for a least-busy device.
    const device = new zmq.Router({ linger: 0 });
    await device.bind('tcp://127.0.0.1:*');
    let running = 0;
    let most = 0;
    const server = await new Server(
      async ([body]) => {
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setImmediate(resolve));
        running--;
        return `re:${String(body)}`;
      },
      { endpoint: device.lastEndpoint ?? '', concurrency: 2, heartbeatIntervalMs: 0 },
    ).start();
    try {
      const [id, , verb, credits, beat, version] = await device.receive();
      assert.equal(String(verb), 'READY');
      assert.equal(String(credits), '2');
      assert.equal(String(beat), '0');
      assert.equal(Number(String(version)), WORKER_PROTOCOL);
      const N = 20;
      const ids = Array.from({ length: N }, (_, i) => 1000 + i);
      // Two batches, the second with a two-frame body.
      await device.send(requests(id as Buffer, ids.slice(0, 12), String));
      await device.send(requests(id as Buffer, ids.slice(12), String));
      const answered = new Map<number, string>();
      while (answered.size < N) {
        const frames = await device.receive();
        assert.equal(String(frames[2]), 'REPLIES');
        const entries = parseBatch(frames, 3);
        assert.ok(entries !== undefined);
        assert.equal(frames.length, 3 + entries.length + Math.ceil(entries.length / BATCH_MAX));
        for (const e of entries) answered.set(e.id, frames.slice(e.start, e.end).map(String).join('|'));
      }
      for (const i of ids) assert.equal(answered.get(i), `re:${i}`);
      assert.equal(most, 2, 'two at a time, never more');
      assert.equal(server.stats().received, N);
      assert.equal(server.stats().answered, N);
    } finally {
      await server.close(1000);
      device.close();
    }
  });

  it('a malformed batch is counted and the server lives on', async () => {
    const device = new zmq.Router({ linger: 0 });
    await device.bind('tcp://127.0.0.1:*');
    const server = await new Server((req) => req, { endpoint: device.lastEndpoint ?? '', heartbeatIntervalMs: 0 }).start();
    try {
      const [id] = await device.receive();
      await device.send([id as Buffer, '', 'REQUESTS', Buffer.from('bad'), 'x']);
      await device.send(requests(id as Buffer, [5], () => 'ok'));
      const frames = await device.receive();
      assert.deepEqual(parseBatch(frames, 3), [{ id: 5, start: 4, end: 5 }]);
      assert.equal(String(frames[4]), 'ok');
      assert.equal(server.stats().malformed, 1);
    } finally {
      await server.close(1000);
      device.close();
    }
  });
});
