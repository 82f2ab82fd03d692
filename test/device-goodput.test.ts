/**
 * Work nobody waits for never reaches a worker (src/device/scheduling/overload.ts): requests of
 * clients that left, requests whose deadline passed, stale copies a retry
 * replaced. One worker is held busy on a gate so that the others wait in
 * the queue; what the handler then sees is the test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as zmq from 'zeromq';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { connectUrlFor } from '../src/endpoints.js';
import { EMPTY, deadlineFrame } from '../src/protocol.js';
import type { OverloadPolicy } from '../src/device/scheduling/overload.js';
import { endpointFor, until } from './helpers.js';

interface Rig {
  readonly device: Device;
  readonly seen: string[];
  readonly deadlines: (number | undefined)[];
  release(): void;
  close(): Promise<void>;
}

/** A least-busy device with one worker that holds the request 'hold' until release(). */
async function rig(transport: 'tcp' | 'ipc', overloadPolicy: OverloadPolicy, label: string): Promise<Rig> {
  const device = await new Device({
    frontend: endpointFor(transport, `${label}-front`),
    backend: endpointFor(transport, `${label}-back`),
    policy: 'least-busy',
    prefetch: 0,
    overloadPolicy,
  }).start();
  const seen: string[] = [];
  const deadlines: (number | undefined)[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const server = await new Server(
    async ([body], context) => {
      seen.push(String(body));
      deadlines.push(context.deadline);
      if (String(body) === 'hold') await gate;
      return `re:${String(body)}`;
    },
    { endpoint: connectUrlFor(device.backendEndpoint), concurrency: 1, heartbeatIntervalMs: 0 },
  ).start();
  await device.waitForWorkers(1);
  return {
    device,
    seen,
    deadlines,
    release,
    close: async () => {
      release();
      await server.close({ timeoutMs: 500 });
      await device.close({ timeoutMs: 0 });
    },
  };
}

/** A REQ client that sends `body` and keeps its socket until closed. */
async function reqClient(endpoint: string, body: string): Promise<zmq.Request> {
  const s = new zmq.Request({ linger: 0 });
  s.connect(endpoint);
  await s.send(body);
  return s;
}

const queued = (r: Rig): number => (r.device.stats() as { queued: number }).queued;
const shed = (r: Rig): { abandoned: number; expired: number; replaced: number; policy: number } => {
  const s = r.device.stats();
  assert.ok(s.counted);
  return s.shed;
};

for (const transport of ['tcp', 'ipc'] as const) {
  describe(`overload policy over ${transport}: requests of clients that left`, () => {
    for (const policy of ['adaptive', 'off'] as const) {
      it(`${policy === 'adaptive' ? 'never reach a worker' : 'reach a worker with --overload off'}, and the others are answered`, async () => {
        const r = await rig(transport, policy, `gone-${policy}`);
        const front = connectUrlFor(r.device.frontendEndpoint);
        const sockets: zmq.Request[] = [];
        try {
          sockets.push(await reqClient(front, 'hold'));
          await until(5000, 'the worker holds the first request', () => r.seen.length === 1);
          for (let i = 0; i < 10; i++) sockets.push(await reqClient(front, `stay${i}`), await reqClient(front, `gone${i}`));
          await until(5000, 'twenty requests queued', () => queued(r) === 20);
          // The clients of the gone* requests give up, as a Lazy Pirate client does: they close their sockets.
          for (const s of sockets.filter((_, i) => i % 2 === 0 && i > 0)) s.close();
          if (policy === 'adaptive') await until(5000, 'the device drops what they left', () => shed(r).abandoned === 10);
          r.release();
          const stay = sockets.filter((_, i) => i % 2 === 1 || i === 0);
          const replies = await Promise.all(stay.map(async (s) => String((await s.receive())[0])));
          assert.deepEqual(replies, ['re:hold', ...Array.from({ length: 10 }, (_, i) => `re:stay${i}`)]);
          if (policy === 'adaptive') {
            assert.deepEqual(
              r.seen.filter((b) => b.startsWith('gone')),
              [],
              'no request of a client that left reached the handler',
            );
            assert.equal(queued(r), 0);
          } else {
            await until(5000, 'every request ran', () => r.seen.length === 21);
            assert.equal(r.seen.filter((b) => b.startsWith('gone')).length, 10, 'off: they run, and their replies are unroutable');
            assert.equal(shed(r).abandoned, 0);
          }
        } finally {
          for (const s of sockets) s.close();
          await r.close();
        }
      });
    }
  });
}

describe('overload policy: deadlines', () => {
  it("the zqueue client's deadline reaches the handler; a request whose deadline passed in the queue never does", async () => {
    const r = await rig('tcp', 'adaptive', 'deadline');
    const front = connectUrlFor(r.device.frontendEndpoint);
    const holder = await reqClient(front, 'hold');
    const client = new Client({ endpoint: front, timeoutMs: 100, retries: 0 });
    try {
      await until(5000, 'the worker holds the first request', () => r.seen.length === 1);
      // It waits behind 'hold' past its 100 ms, and its client gives up.
      await assert.rejects(client.request('late'), { code: 'ERR_ZQ_TIMEOUT' });
      await until(5000, 'the device drops it', () => shed(r).expired + shed(r).abandoned === 1);
      r.release();
      assert.equal(String((await holder.receive())[0]), 're:hold');
      const before = Date.now();
      const fresh = new Client({ endpoint: front, timeoutMs: 5000, retries: 0 });
      try {
        assert.equal(String((await fresh.request('fresh'))[0]), 're:fresh');
      } finally {
        await fresh.close();
      }
      assert.deepEqual(r.seen, ['hold', 'fresh'], "'late' never reached the handler");
      const deadline = r.deadlines[1];
      assert.ok(
        deadline !== undefined && deadline > before && deadline <= Date.now() + 5000,
        `the handler saw its client's deadline (${String(deadline)})`,
      );
      assert.equal(r.deadlines[0], undefined, 'a plain REQ client says nothing of time');
    } finally {
      await client.close();
      holder.close();
      await r.close();
    }
  });

  it('a retry of a request still queued replaces its stale copy: at most one copy waits', async () => {
    const r = await rig('tcp', 'adaptive', 'replace');
    const front = connectUrlFor(r.device.frontendEndpoint);
    const holder = await reqClient(front, 'hold');
    // A DEALER that resends on the same socket, with the same request id, as a Lazy Pirate DEALER would.
    const dealer = new zmq.Dealer({ linger: 0 });
    dealer.connect(front);
    const id = Buffer.from('request1');
    try {
      await until(5000, 'the worker holds the first request', () => r.seen.length === 1);
      await dealer.send([deadlineFrame(60_000, id), EMPTY, 'again']);
      await until(5000, 'one queued', () => queued(r) === 1);
      await dealer.send([deadlineFrame(60_000, id), EMPTY, 'again']);
      await dealer.send([deadlineFrame(60_000, Buffer.from('request2')), EMPTY, 'other']);
      await until(5000, 'the stale copy replaced', () => shed(r).replaced === 1);
      assert.equal(queued(r), 2);
      r.release();
      await holder.receive();
      const replies = [await dealer.receive(), await dealer.receive()].map((m) => String(m[2]));
      assert.deepEqual(replies.sort(), ['re:again', 're:other']);
      assert.deepEqual(r.seen, ['hold', 'other', 'again'].slice(0, 1).concat(r.seen.slice(1)));
      assert.equal(r.seen.filter((b) => b === 'again').length, 1, 'the request ran once');
    } finally {
      dealer.close();
      holder.close();
      await r.close();
    }
  });
});
