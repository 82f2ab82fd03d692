import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as zmq from 'zeromq';
import { Device } from '../src/device/device.js';
import { connectUrlFor } from '../src/endpoints.js';
import { BATCH_MAX, appendBatch, parseBatch } from '../src/protocols/zqueue.js';
import { TRANSPORTS, endpointFor, removeTempDirs } from './helpers.js';

after(removeTempDirs);

const CLIENTS = 4;
const EACH = 10;

/** A worker written by hand: a DEALER that says READY with the given extra frames. */
async function rawWorker(device: Device, ready: string[]): Promise<zmq.Dealer> {
  const worker = new zmq.Dealer({ linger: 0 });
  worker.connect(connectUrlFor(device.backendEndpoint));
  await worker.send(['', 'READY', ...ready]);
  await device.waitForWorkers(1);
  return worker;
}

/** A batch message from `[id, body]` pairs, after `head` frames. */
function batch(head: string[], items: [number, Buffer][]): Buffer[] {
  const message = head.map((h) => Buffer.from(h));
  appendBatch(
    message,
    items.map(([id, body]) => ({ id, frames: [body], bodyAt: 0 })),
  );
  return message;
}

/** DEALER clients, each sending its requests `c<n>-<i>` at once with a REQ-style envelope. */
async function sendAll(device: Device): Promise<zmq.Dealer[]> {
  const clients = Array.from({ length: CLIENTS }, () => new zmq.Dealer({ linger: 0 }));
  for (const c of clients) c.connect(connectUrlFor(device.frontendEndpoint));
  for (let i = 0; i < EACH; i++) for (const [n, c] of clients.entries()) await c.send(['', `c${n}-${i}`]);
  return clients;
}

async function repliesOf(client: zmq.Dealer): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < EACH; i++) {
    const [delimiter, body] = await client.receive();
    assert.equal(delimiter?.length, 0);
    out.push(String(body));
  }
  return out.sort();
}

for (const transport of TRANSPORTS) {
  describe(`least-busy device, worker protocol over ${transport}`, () => {
    it('gives a version-2 worker its requests in batches, and sends each reply of a batch to its own client', async () => {
      const device = await new Device({
        frontend: endpointFor(transport, 'front'),
        backend: endpointFor(transport, 'back'),
        policy: 'least-busy',
      }).start();
      const worker = await rawWorker(device, ['64', '0', '2']);
      const clients = await sendAll(device);
      try {
        const ids: number[] = [];
        const bodies: Buffer[] = [];
        let messages = 0;
        while (ids.length < CLIENTS * EACH) {
          const frames = await worker.receive();
          messages++;
          assert.equal(frames[0]?.length, 0);
          assert.equal(String(frames[1]), 'REQUESTS');
          const entries = parseBatch(frames, 2);
          assert.ok(entries !== undefined, 'a well-formed batch');
          // Groups of at most BATCH_MAX: a header every BATCH_MAX bodies.
          assert.equal(frames.length, 2 + entries.length + Math.ceil(entries.length / BATCH_MAX));
          for (const e of entries) {
            assert.equal(e.end - e.start, 1, 'the body alone: the envelope stays at the device');
            ids.push(e.id);
            bodies.push(frames[e.start] as Buffer);
          }
        }
        assert.ok(messages < CLIENTS * EACH, `${CLIENTS * EACH} requests came in ${messages} messages`);
        // All replies in one batch, in reverse order: each must still find its client.
        ids.reverse();
        bodies.reverse();
        await worker.send(
          batch(
            ['', 'REPLIES'],
            ids.map((id, i) => [id, Buffer.concat([Buffer.from('re:'), bodies[i] as Buffer])]),
          ),
        );
        const got = await Promise.all(clients.map(repliesOf));
        for (const [n, replies] of got.entries()) {
          assert.deepEqual(replies, Array.from({ length: EACH }, (_, i) => `re:c${n}-${i}`).sort());
        }
        const s = device.stats();
        assert.ok(s.engine === 'js');
        assert.equal(s.answered, CLIENTS * EACH);
        assert.equal(s.backendTraffic.messagesOut, CLIENTS * EACH, 'requests counted one by one');
        assert.equal(s.backendTraffic.messagesIn, CLIENTS * EACH + 1, 'replies one by one, and READY');
      } finally {
        for (const c of clients) c.close();
        worker.close();
        await device.close({ timeoutMs: 0 });
      }
    });

    it('gives a version-1 worker (READY without a version) each request alone, with its envelope', async () => {
      const device = await new Device({
        frontend: endpointFor(transport, 'front'),
        backend: endpointFor(transport, 'back'),
        policy: 'least-busy',
      }).start();
      const worker = await rawWorker(device, ['64']);
      const clients = await sendAll(device);
      try {
        for (let i = 0; i < CLIENTS * EACH; i++) {
          const frames = await worker.receive();
          // [request id, client identity, "", body]: echoed like any REP server would.
          assert.equal(frames.length, 4);
          assert.equal(frames[0]?.length, 4);
          assert.equal(frames[2]?.length, 0);
          await worker.send([...frames.slice(0, 3), Buffer.concat([Buffer.from('re:'), frames[3] as Buffer])]);
        }
        const got = await Promise.all(clients.map(repliesOf));
        for (const [n, replies] of got.entries()) {
          assert.deepEqual(replies, Array.from({ length: EACH }, (_, i) => `re:c${n}-${i}`).sort());
        }
      } finally {
        for (const c of clients) c.close();
        worker.close();
        await device.close({ timeoutMs: 0 });
      }
    });

    it('drops a REPLIES message that does not add up, counts it, and still takes the good one after it', async () => {
      const device = await new Device({
        frontend: endpointFor(transport, 'front'),
        backend: endpointFor(transport, 'back'),
        policy: 'least-busy',
      }).start();
      const worker = await rawWorker(device, ['1', '0', '2']);
      const client = new zmq.Dealer({ linger: 0 });
      client.connect(connectUrlFor(device.frontendEndpoint));
      try {
        await client.send(['', 'hello']);
        const frames = await worker.receive();
        const entries = parseBatch(frames, 2);
        const id = entries?.[0]?.id;
        assert.ok(id !== undefined);
        await worker.send(['', 'REPLIES', Buffer.from('short'), Buffer.from('x')]);
        const wrong = batch(['', 'REPLIES'], [[id, Buffer.from('only one')]]);
        (wrong[2] as Buffer).writeUInt32BE(3, 4); // says 3 body frames, has 1
        await worker.send(wrong);
        await worker.send(batch(['', 'REPLIES'], [[id, Buffer.from('world')]]));
        const [, body] = await client.receive();
        assert.equal(String(body), 'world');
        const s = device.stats();
        assert.ok(s.engine === 'js');
        assert.equal(s.malformed, 2);
        assert.equal(s.answered, 1);
      } finally {
        client.close();
        worker.close();
        await device.close({ timeoutMs: 0 });
      }
    });
  });
}
