import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as zmq from 'zeromq';
import { Server } from '../src/server/server.js';
import { BATCH_MAX, WORKER_PROTOCOL, appendBatch, parseBatch } from '../src/protocols/zqueue.js';

/** A REQUESTS message (version 3: with budgets) to the worker `id`, one single-frame body per request id; `budgetMs` 0: no deadline. */
function requests(id: Buffer, ids: number[], body: (id: number) => string, budgetMs: (id: number) => number = () => 0): Buffer[] {
  const message = [id, Buffer.alloc(0), Buffer.from('REQUESTS')];
  const now = 1_000_000;
  appendBatch(
    message,
    ids.map((i) => ({ id: i, frames: [Buffer.from(body(i))], bodyAt: 0, deadline: budgetMs(i) === 0 ? 0 : now + budgetMs(i) })),
    now,
  );
  return message;
}

describe('server, worker protocol 3', () => {
  it('announces version 3, runs batches `concurrency` at a time and answers every request by id', async () => {
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
      await server.close({ timeoutMs: 1000 });
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
      assert.deepEqual(parseBatch(frames, 3), [{ id: 5, start: 4, end: 5, budgetMs: 0 }]);
      assert.equal(String(frames[4]), 'ok');
      assert.equal(server.stats().malformed, 1);
    } finally {
      await server.close({ timeoutMs: 1000 });
      device.close();
    }
  });

  it('gives the handler its deadline and an AbortSignal, and does not run a request whose deadline passed while it waited', async () => {
    const device = new zmq.Router({ linger: 0 });
    await device.bind('tcp://127.0.0.1:*');
    const seen: { body: string; deadline: number | undefined; aborted: boolean }[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const server = await new Server(
      async ([body], context) => {
        seen.push({ body: String(body), deadline: context.deadline, aborted: context.signal.aborted });
        if (String(body) === 'hold') await gate;
        return `re:${String(body)}`;
      },
      { endpoint: device.lastEndpoint ?? '', concurrency: 1, heartbeatIntervalMs: 0 },
    ).start();
    try {
      const [id] = await device.receive();
      const before = Date.now();
      // 'hold' runs first and holds the one slot; 'late' (a 1 ms budget) waits behind it; 'free' has no deadline.
      await device.send(
        requests(
          id as Buffer,
          [1, 2, 3],
          (i) => ['hold', 'late', 'free'][i - 1] as string,
          (i) => (i === 2 ? 1 : i === 1 ? 60_000 : 0),
        ),
      );
      while (seen.length < 1) await new Promise((resolve) => setImmediate(resolve));
      // Past the 1 ms budget for certain: wait until the wall clock says so, then let 'hold' finish.
      while (Date.now() < before + 5) await new Promise((resolve) => setTimeout(resolve, 2));
      release();
      const answered = new Map<number, string>();
      while (answered.size < 3) {
        const frames = await device.receive();
        for (const e of parseBatch(frames, 3) ?? []) answered.set(e.id, frames.slice(e.start, e.end).map(String).join('|'));
      }
      assert.equal(answered.get(1), 're:hold');
      assert.match(answered.get(2) ?? '', /^ZQ-ERROR timeout: the deadline passed/);
      assert.equal(answered.get(3), 're:free');
      assert.deepEqual(
        seen.map((s) => s.body),
        ['hold', 'free'],
        'the expired request never reached the handler',
      );
      const hold = seen[0];
      assert.ok(
        hold?.deadline !== undefined && hold.deadline >= before + 59_000 && hold.deadline <= Date.now() + 60_000,
        'the deadline is the budget from when it came',
      );
      assert.equal(seen[1]?.deadline, undefined, 'no budget, no deadline');
      assert.equal(server.stats().expired, 1);
    } finally {
      await server.close({ timeoutMs: 1000 });
      device.close();
    }
  });
});
