/**
 * The batched client wire at a least-busy device (src/protocols/client-wire.ts),
 * driven by a raw DEALER: batches are answered in batches; a batch that does
 * not add up gets bad-request where an id can be read, is counted, and costs
 * that client nothing else; cancel and retry act on what still waits; a
 * batching client is one client to the fair queue; and a fuzz of batches
 * leaves the device serving.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as zmq from 'zeromq';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { Link } from '../src/inproc.js';
import { connectUrlFor } from '../src/endpoints.js';
import { ERROR_PREFIX } from '../src/protocol.js';
import { BATCH, OFFER, isBatch, isHello } from '../src/protocols/client-wire.js';
import { FLAG_CANCEL, FLAG_RETRY, pack, packedSize, unpack, type PackItem } from '../src/protocols/pack.js';
import type { DeviceOptions } from '../src/options.js';
import { TRANSPORTS, endpointFor, removeTempDirs, until, within } from './helpers.js';

after(removeTempDirs);

type Transport = (typeof TRANSPORTS)[number];

function item(id: number, body: string | Buffer[], flags = 0, budgetMs = 5000): PackItem {
  return { id, budgetMs, flags, frames: typeof body === 'string' ? [Buffer.from(body)] : body, from: 0 };
}

function batch(items: readonly PackItem[]): Buffer[] {
  const out: Buffer[] = [BATCH];
  pack(
    out,
    items,
    items.reduce((n, i) => n + packedSize(i), 0),
  );
  return out;
}

/** A DEALER speaking the batched wire by hand; `replies` maps each id answered to its body (or error text). */
class RawClient {
  readonly link: Link<zmq.Dealer>;
  readonly replies = new Map<number, string>();
  private waiters: (() => void)[] = [];
  private readonly loop: Promise<void>;

  constructor(endpoint: string, routingId?: string) {
    const socket = new zmq.Dealer({ linger: 0, ...(routingId !== undefined ? { routingId } : {}) });
    socket.connect(endpoint);
    const link = new Link(socket, endpoint);
    this.link = link;
    this.loop = (async () => {
      try {
        for (;;) {
          const frames = await link.receive();
          if (isBatch(frames[0])) unpack(frames, 1, (id, _b, _f, body) => this.replies.set(id, body.map(String).join('|')), Infinity);
          this.waiters.forEach((w) => w());
        }
      } catch {
        // closed
      }
    })();
  }

  send(frames: Buffer[]): Promise<void> {
    return this.link.send(frames);
  }

  /** Resolves once every id has a reply. */
  async answered(ids: readonly number[], ms = 5000): Promise<void> {
    const done = (): boolean => ids.every((i) => this.replies.has(i));
    await within(
      ms,
      `replies to ${ids.join(',')}`,
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (done()) resolve();
        };
        this.waiters.push(check);
        check();
      }),
    );
  }

  async close(): Promise<void> {
    this.link.socket.close();
    await this.loop;
  }
}

async function setUp(transport: Transport, options: Partial<DeviceOptions> = {}, server: { concurrency?: number; delayMs?: number } = {}) {
  const device = await new Device({
    frontend: endpointFor(transport, 'cb-front'),
    backend: 'inproc://' + randomBytes(4).toString('hex'),
    engine: 'js',
    policy: 'least-busy',
    ...options,
  }).start();
  const delay = server.delayMs ?? 0;
  const srv = await new Server(
    async (req) => {
      if (delay > 0 && req[0]?.toString().startsWith('slow')) await new Promise((r) => setTimeout(r, delay));
      return req;
    },
    { endpoint: connectUrlFor(device.backendEndpoint), concurrency: server.concurrency ?? 4, heartbeatIntervalMs: 0 },
  ).start();
  await device.waitForWorkers(1);
  const endpoint = connectUrlFor(device.frontendEndpoint);
  return {
    device,
    endpoint,
    close: async () => {
      await srv.close();
      await device.close({ timeoutMs: 0 });
    },
  };
}

function counted(device: Device) {
  const s = device.stats();
  assert.ok(s.counted);
  return s;
}

for (const transport of TRANSPORTS) {
  describe(`batched client wire over ${transport}`, () => {
    it('a batch is answered in batches, each reply under its id; an offer is answered HELLO', async () => {
      const { device, endpoint, close } = await setUp(transport);
      const raw = new RawClient(endpoint);
      try {
        const items = Array.from({ length: 300 }, (_, i) => item(i + 1, [Buffer.from(`b${i}`), Buffer.alloc(i === 7 ? 20_000 : 3, 0x41)]));
        await raw.send(batch(items));
        await raw.answered(items.map((i) => i.id));
        for (let i = 0; i < 300; i++) assert.equal(raw.replies.get(i + 1), `b${i}|${'A'.repeat(i === 7 ? 20_000 : 3)}`);
        const s = counted(device);
        assert.equal(s.answered, 300);
        assert.equal(s.malformed, 0);
        assert.ok(s.frontendTraffic.messagesOut < 300, `replies shared messages (${s.frontendTraffic.messagesOut})`);
      } finally {
        await raw.close();
        await close();
      }
    });
  });
}

describe('batched client wire: bad batches', () => {
  it('each fault gets bad-request where an id can be read, is counted malformed, and costs nothing else of that client or of others', async () => {
    const { device, endpoint, close } = await setUp('tcp', { maxFrames: 8 });
    const raw = new RawClient(endpoint);
    const good = new Client({ endpoint, timeoutMs: 5000, retries: 0 });
    try {
      const pk = (items: PackItem[]): Buffer => batch(items)[1] as Buffer;
      const two = pk([item(101, 'ok-101'), item(102, 'x')]);
      const second = 12 + 4 + 'ok-101'.length;
      const bad: [string, Buffer[], number | undefined][] = [
        ['cut short', [BATCH, two.subarray(0, second + 6)], undefined],
        ['more frames than it holds', [BATCH, set16(two, second + 10, 500)], 102],
        ['an entry longer than its frame', [BATCH, set32(two, second + 12, 999)], 102],
        ['an extra frame missing', [BATCH, set32(two, second + 12, 0x8000_0000)], 102],
        ['extra frames left over', [BATCH, pk([item(103, 'fine')]), Buffer.from('stray')], undefined],
        ['unknown flags', [BATCH, set16(two, second + 8, 0x40)], 102],
      ];
      let expectMalformed = 0;
      const wanted: number[] = [];
      for (const [what, frames, id] of bad) {
        await raw.send(frames);
        expectMalformed++;
        if (id !== undefined) {
          await raw.answered([id]);
          assert.match(raw.replies.get(id) ?? '', new RegExp(`^${ERROR_PREFIX}bad-request: a batch that does not add up`), what);
        }
      }
      // What came before each fault stands: 101 was answered (and 103, whose batch only had a stray frame after it).
      wanted.push(101, 103);
      // Per entry: a repeated id, too many frames, too many entries; the rest of those batches is served.
      await raw.send(
        batch([
          item(201, 'first'),
          item(201, 'again'),
          item(
            202,
            Array.from({ length: 9 }, () => Buffer.from('f')),
          ),
          item(203, 'after'),
        ]),
      );
      await raw.answered([201, 202, 203]);
      assert.equal(raw.replies.get(201), 'first');
      assert.equal(raw.replies.get(202), `${ERROR_PREFIX}bad-request: more than 8 frames`);
      assert.equal(raw.replies.get(203), 'after');
      const many = Array.from({ length: 1030 }, (_, i) => item(10_000 + i, `m${i}`));
      await raw.send(batch(many));
      await raw.answered(
        many.map((m) => m.id),
        10_000,
      );
      assert.equal(raw.replies.get(10_000 + 1023), 'm1023');
      assert.match(raw.replies.get(10_000 + 1024) ?? '', /bad-request: more than 1024 requests in one batch/);
      await raw.answered(wanted);
      assert.equal(raw.replies.get(101), 'ok-101');
      // Another client never noticed.
      assert.deepEqual((await good.request('unaffected')).map(String), ['unaffected']);
      const s = counted(device);
      assert.equal(s.malformed, expectMalformed);
      assert.ok(s.failed.badRequest >= 4 + 1 + 6, `bad-request replies counted (${s.failed.badRequest})`);
      assert.equal(device.stats().state, 'running');
    } finally {
      await good.close();
      await raw.close();
      await close();
    }
  });

  it('fuzz: 2000 mutated batches from one client, another client served throughout, and the device still answers both', async () => {
    const { device, endpoint, close } = await setUp('tcp');
    const raw = new RawClient(endpoint);
    const good = new Client({ endpoint, timeoutMs: 5000, retries: 0 });
    try {
      let seed = 7;
      const next = (): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed / 0x7fffffff;
      };
      const background = (async () => {
        for (let i = 0; i < 200; i++) assert.deepEqual((await good.request(`g${i}`)).map(String), [`g${i}`]);
      })();
      for (let i = 0; i < 2000; i++) {
        const items = Array.from({ length: 1 + Math.floor(next() * 5) }, (_, k) =>
          item(i * 8 + k, `f${i}-${k}`, next() < 0.1 ? FLAG_RETRY : 0),
        );
        const frames = batch(items);
        const p = Buffer.from(frames[1] as Buffer);
        for (let m = 0; m < 1 + next() * 3; m++) p[Math.floor(next() * p.length)] = Math.floor(next() * 256);
        const cut = next() < 0.3 ? p.subarray(0, Math.floor(next() * p.length)) : p;
        await raw.send(next() < 0.1 ? [BATCH, cut, randomBytes(5)] : [BATCH, cut]);
      }
      await within(20_000, 'the good client', background);
      await raw.send(batch([item(999_999, 'still here')]));
      await raw.answered([999_999], 10_000);
      assert.equal(raw.replies.get(999_999), 'still here');
      const s = counted(device);
      assert.ok(s.malformed > 0, 'mutated batches were counted');
      assert.equal(device.stats().state, 'running');
    } finally {
      await good.close();
      await raw.close();
      await close();
    }
  });
});

describe('batched client wire: what still waits', () => {
  it('a cancel drops a request still queued; a retry replaces its queued copy; neither reaches the worker', async () => {
    const { device, endpoint, close } = await setUp('tcp', { prefetch: 0 }, { concurrency: 1, delayMs: 300 });
    const raw = new RawClient(endpoint);
    try {
      await raw.send(batch([item(1, 'slow-1'), item(2, 'b'), item(3, 'c')]));
      await until(5000, 'two queued', () => counted(device).queued === 2);
      await raw.send(batch([item(3, [], FLAG_CANCEL), item(2, 'b-again', FLAG_RETRY)]));
      await raw.answered([1, 2]);
      assert.equal(raw.replies.get(2), 'b-again', 'the retry ran, not the stale copy');
      const s = counted(device);
      assert.equal(s.shed.cancelled, 1);
      assert.equal(s.shed.replaced, 1);
      assert.equal(s.answered, 2);
      assert.equal(raw.replies.has(3), false, 'a cancelled request gets no reply');
    } finally {
      await raw.close();
      await close();
    }
  });

  it('a batching client is one client to the fair queue and to maxQueuedPerClient', async () => {
    const { device, endpoint, close } = await setUp('tcp', { prefetch: 0, maxQueuedPerClient: 5 }, { concurrency: 1, delayMs: 50 });
    const raw = new RawClient(endpoint);
    const other = new Client({ endpoint, timeoutMs: 5000, retries: 0, batching: false });
    try {
      const items = Array.from({ length: 20 }, (_, i) => item(i + 1, `slow-${i}`));
      await raw.send(batch(items));
      await raw.answered(
        items.map((i) => i.id),
        10_000,
      );
      const busy = [...raw.replies.values()].filter((r) => r.includes('busy: this client has 5 requests waiting')).length;
      assert.equal(busy, 14, '1 with the worker, 5 waiting, the rest refused');
      // Sent while the flood still waited: served after at most one of the flood's turn.
      await raw.send(batch(Array.from({ length: 6 }, (_, i) => item(100 + i, `slow-again-${i}`))));
      const t0 = performance.now();
      assert.deepEqual((await other.request('fair')).map(String), ['fair']);
      assert.ok(performance.now() - t0 < 5000);
      assert.ok(counted(device).queue.busyPerClient >= 14);
      await raw.answered(
        Array.from({ length: 6 }, (_, i) => 100 + i),
        10_000,
      );
    } finally {
      await other.close();
      await raw.close();
      await close();
    }
  });

  it('an offer in a plain request is answered HELLO before the reply; a draining device answers a batch "closing"', async () => {
    const { device, endpoint, close } = await setUp('tcp', {}, { delayMs: 500 });
    const socket = new zmq.Dealer({ linger: 0 });
    socket.connect(endpoint);
    try {
      const dl = Buffer.alloc(16);
      dl.write('ZQDL');
      dl.writeUInt32BE(5000, 4);
      await socket.send([OFFER, dl, Buffer.alloc(0), Buffer.from('plain')]);
      const first = await socket.receive();
      assert.ok(isHello(first[0]), 'HELLO first');
      const second = await socket.receive();
      assert.deepEqual(second.slice(3).map(String), ['plain']);
      assert.ok(second[0]?.equals(OFFER), 'the reply echoes the envelope');
      // A slow request keeps the device draining while the batch comes.
      await socket.send(batch([item(4, 'slow-4')]));
      await until(5000, 'the slow one with its worker', () => device.inFlight === 1);
      const stopping = device.close({ timeoutMs: 5000 });
      await socket.send(batch([item(5, 'late')]));
      const late = await within(5000, 'closing', socket.receive());
      assert.ok(isBatch(late[0]));
      let text = '';
      unpack(late, 1, (_id, _b, _f, body) => (text = body.map(String).join('')), Infinity);
      assert.match(text, /^ZQ-ERROR closing: /);
      const slow = await within(5000, 'the slow reply', socket.receive());
      assert.ok(isBatch(slow[0]), 'the request in flight is still answered');
      await stopping;
    } finally {
      socket.close();
      await close();
    }
  });
});

function set16(p: Buffer, at: number, v: number): Buffer {
  const c = Buffer.from(p);
  c.writeUInt16BE(v, at);
  return c;
}

function set32(p: Buffer, at: number, v: number): Buffer {
  const c = Buffer.from(p);
  c.writeUInt32BE(v >>> 0, at);
  return c;
}
