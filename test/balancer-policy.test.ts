import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Balancer, type Pending, PREFETCH_ACTIVE_MS, PREFETCH_BUDGET_MS, PREFETCH_BUSY_THREAD } from '../src/device/scheduling/balancer.js';
import { FIRST_COME } from '../src/device/scheduling/overload.js';

const id = (s: string): Buffer => Buffer.from(s);
const req = (n: number) => ({ frames: [id(`c${n}`), Buffer.alloc(0), id(`r${n}`)], bodyAt: 2, retried: false, receivedAt: 0 });

describe('balancer (least-busy bookkeeping)', () => {
  it('picks the worker with the lowest share of credits in use, rotating among equals', () => {
    const b = new Balancer(10);
    const a = b.join(id('a'), 2, 0);
    const c = b.join(id('c'), 2, 0);
    const first = b.pick();
    assert.ok(first);
    b.dispatch(first, req(1), 0);
    const second = b.pick();
    assert.notEqual(second, first, 'the idle one comes next');
    assert.ok(second);
    b.dispatch(second, req(2), 0);
    assert.equal(a.inFlight + c.inFlight, 2);
    b.dispatch(b.pick() ?? a, req(3), 0);
    b.dispatch(b.pick() ?? a, req(4), 0);
    assert.equal(b.pick(), undefined, 'all credits in use');
  });

  it('a reply gives the credit back; a late reply to an expired request does too, once', () => {
    const b = new Balancer(10);
    const w = b.join(id('w'), 1, 0);
    const h1 = b.dispatch(w, req(1), 0);
    assert.equal(b.complete('w', h1.id)?.id, h1.id);
    assert.equal(w.inFlight, 0);
    const h2 = b.dispatch(w, req(2), 10);
    assert.deepEqual(b.expire(5), [], 'not yet due');
    assert.deepEqual(
      b.expire(10).map((h) => h.id),
      [h2.id],
    );
    assert.equal(w.inFlight, 1, 'the worker still runs it');
    assert.equal(b.complete('w', h2.id), undefined, 'the late reply is not delivered');
    assert.equal(w.inFlight, 0, 'but its credit returns');
    assert.equal(b.complete('w', h2.id), undefined);
    assert.equal(w.inFlight, 0, 'only once');
  });

  it('a worker that leaves hands back what it held', () => {
    const b = new Balancer(10);
    const w = b.join(id('w'), 3, 0);
    b.dispatch(w, req(1), 0);
    b.dispatch(w, req(2), 0);
    const orphans = b.leave('w');
    assert.deepEqual(
      orphans.map((h) => h.frames[2]?.toString()),
      ['r1', 'r2'],
    );
    assert.equal(b.inFlight, 0);
    assert.equal(b.pick(), undefined);
    assert.deepEqual(b.leave('w'), []);
  });

  it('the queue is bounded, FIFO, and takes retries at the front past the bound', () => {
    const b = new Balancer(2);
    assert.equal(b.enqueue('c', req(1)), 'queued');
    assert.equal(b.enqueue('c', req(2)), 'queued');
    assert.equal(b.enqueue('c', req(3)), 'full');
    b.requeue({ ...req(0), retried: true }, 0);
    assert.deepEqual(
      [b.dequeue(0), b.dequeue(0), b.dequeue(0), b.dequeue(0)].map((p) => p?.frames[2]?.toString()),
      ['r0', 'r1', 'r2', undefined],
    );
    assert.equal(b.queued, 0);
  });

  it('a retired worker gets nothing more until it says READY again', () => {
    const b = new Balancer(10);
    const w = b.join(id('w'), 1, 0);
    assert.ok(b.retire('w'));
    assert.equal(b.pick(), undefined);
    b.join(id('w'), 1, 0);
    assert.equal(b.pick(), w);
  });

  it('prefetch goes only to workers measured quick: not before a first reply, not to a slow one', () => {
    const b = new Balancer(100, 2);
    const fast = b.join(Buffer.from('fast'), 1, 0);
    const slow = b.join(Buffer.from('slow'), 1, 0);
    assert.deepEqual([fast.limit, slow.limit], [1, 1], 'unmeasured workers get no prefetch');
    let now = 0;
    // 32 replies: the fast worker answers in 1 ms, the slow one in 20 ms.
    for (let i = 0; i < 32; i++) {
      const w = i % 2 === 0 ? fast : slow;
      const h = b.dispatch(w, { frames: [], bodyAt: 0, retried: false, receivedAt: now }, now);
      now += w === fast ? 1 : 20;
      assert.equal(b.complete(w.key, h.id, now), h);
    }
    assert.ok(fast.serviceMs > 0.9 && fast.serviceMs < 1.1 && slow.serviceMs > 19, `${fast.serviceMs} / ${slow.serviceMs} ms`);
    assert.deepEqual([fast.limit, slow.limit], [3, 1], 'the quick worker may hold 2 more, the slow one none');
    // Everyone slow (over 5 ms a request): no prefetch at all.
    const c = new Balancer(100, 2);
    const a = c.join(Buffer.from('a'), 1, 0);
    for (let i = 0, t = 0; i < 32; i++) {
      const h = c.dispatch(a, { frames: [], bodyAt: 0, retried: false, receivedAt: t }, t);
      t += 10;
      c.complete(a.key, h.id, t);
    }
    assert.equal(a.limit, 1);
  });

  it('a message of replies makes one sample, its time over its replies: a batching worker is measured as quick as it is, not quicker', () => {
    const b = new Balancer(100, 128);
    const batching = b.join(Buffer.from('batching'), 1, 0);
    const single = b.join(Buffer.from('single'), 1, 0);
    let t = 0;
    for (let round = 0; round < 8; round++) {
      // One worker answers 10 requests in one message after 10 ms; the other one request a millisecond.
      const held = Array.from({ length: 10 }, (_, i) =>
        b.dispatch(batching, { frames: [Buffer.from(`c${i}`)], bodyAt: 1, retried: false, receivedAt: t }, t),
      );
      for (let i = 0; i < 10; i++) {
        const h = b.dispatch(single, { frames: [Buffer.from('s')], bodyAt: 1, retried: false, receivedAt: t + i }, t + i);
        b.complete(single.key, h.id, t + i + 1);
      }
      t += 10;
      for (const h of held) b.complete(batching.key, h.id, t);
    }
    b.tune();
    assert.ok(batching.serviceMs > 0.9 && batching.serviceMs < 1.1, `batching: ${batching.serviceMs} ms a request`);
    assert.ok(single.serviceMs > 0.9 && single.serviceMs < 1.1, `single: ${single.serviceMs} ms a request`);
    assert.equal(batching.limit, single.limit, 'alike workers get alike prefetch');
  });

  it("a prefetch slot goes to a client within its share of the workers' slots; a free credit to anyone; a lone client gets them all", () => {
    const { b, w1, w2 } = twoWorkersAtOneMs();
    assert.deepEqual([w1.limit, w2.limit], [11, 11]);
    const req = (client: string): Pending => ({
      frames: [Buffer.from(client), Buffer.alloc(0), Buffer.from('body')],
      bodyAt: 2,
      retried: false,
      receivedAt: 0,
    });
    // A lone client may fill every slot (a second later: the warm-up's client is no longer recent).
    for (let i = 0; i < 20; i++) {
      assert.ok(b.mayPrefetch('flood'), `alone, request ${i}`);
      b.dispatch(i % 2 === 0 ? w1 : w2, req('flood'), 1000);
    }
    // Ten more clients with a request each: 11 active, a share of 2 slots; the flood, holding 20, may not take another.
    for (let c = 0; c < 10; c++) b.dispatch(c % 2 === 0 ? w1 : w2, req(`good${c}`), 1000);
    assert.equal(b.mayPrefetch('flood'), false);
    assert.equal(b.mayPrefetch('good3'), true, 'one held, share 2');
    assert.equal(b.mayPrefetch('newcomer'), true, 'nothing held');
    // A free credit is anyone's: a worker with nothing in flight admits the flood.
    const idle = b.join(Buffer.from('w3'), 1, 0);
    assert.equal(b.admits(idle, 'flood'), true);
    assert.equal(b.admits(w1, 'flood'), false);
    // A fifo queue promises no share.
    assert.equal(new Balancer(100, 2, 100, undefined, undefined, false).mayPrefetch('anyone'), true);
  });

  it('clients answered a moment ago still count for the share: a closed-loop client between requests does not leave its slots to a flood', () => {
    const { b, w1, w2 } = twoWorkersAtOneMs();
    assert.deepEqual([w1.limit, w2.limit], [11, 11]);
    const req = (client: string, at: number): Pending => ({
      frames: [Buffer.from(client), Buffer.alloc(0), Buffer.from('body')],
      bodyAt: 2,
      retried: false,
      receivedAt: at,
    });
    // Ten closed-loop clients, each answered at once: at this instant none holds or waits for anything.
    const t0 = 1000;
    for (let c = 0; c < 10; c++) {
      const w = c % 2 === 0 ? w1 : w2;
      const h = b.dispatch(w, req(`good${c}`, t0), t0);
      b.complete(w.key, h.id, t0 + 1);
    }
    // The flood is the only client holding: still 11 active, a share of 2 slots.
    b.dispatch(w1, req('flood', t0 + 2), t0 + 2);
    assert.equal(b.mayPrefetch('flood'), true, 'one held, share 2');
    b.dispatch(w2, req('flood', t0 + 2), t0 + 2);
    assert.equal(b.mayPrefetch('flood'), false, 'two held, share 2: the good clients answered 1 ms ago still count');
    // When the others have had no worker for PREFETCH_ACTIVE_MS, the flood is alone and may take every slot.
    const later = t0 + 2 + PREFETCH_ACTIVE_MS;
    b.dispatch(w1, req('flood', later), later);
    assert.equal(b.mayPrefetch('flood'), true, 'alone again: three held, share 22');
  });

  it("prefetch holds at most PREFETCH_BUDGET_MS of a worker's work, and at most the prefetch option", () => {
    const limitAt = (serviceMs: number): number => {
      const b = new Balancer(100, 128);
      const w = b.join(Buffer.from('w'), 1, 0);
      for (let i = 0, t = 0; i < 32; i++) {
        const h = b.dispatch(w, { frames: [], bodyAt: 0, retried: false, receivedAt: t }, t);
        t += serviceMs;
        b.complete(w.key, h.id, t);
      }
      return w.limit;
    };
    assert.equal(limitAt(1), 1 + PREFETCH_BUDGET_MS, '1 ms a request: 10 more');
    assert.equal(limitAt(4), 1 + Math.floor(PREFETCH_BUDGET_MS / 4), '4 ms a request: 2 more');
    assert.equal(limitAt(0.01), 1 + 128, 'quick: the option bounds it');
  });

  describe('prefetch depth while requests wait', () => {
    // One worker of 1 credit answering in 1 ms (a budget of 10 more), with
    // requests always waiting; `refill` says whether the device sends it the
    // next before it answers the one it runs (else it runs dry each time).
    const run = (load: number, refill: boolean, replies: number, b = new Balancer(1000, 128, 1000, FIRST_COME, () => load)) => {
      const w = b.join(id('w'), 1, 0);
      for (let i = 0; i < 5; i++) b.enqueue(`waiting${i}`, req(i));
      let t = 0;
      const queue: number[] = [];
      for (let i = 0; i < replies; i++) {
        while (queue.length < (refill ? w.limit : 1)) queue.push(b.dispatch(w, req(100 + i), t).id);
        t += 1;
        b.complete(w.key, queue.shift() ?? 0, t);
      }
      // What it still holds is answered at once: the next run starts with it empty.
      for (const held of queue) b.complete(w.key, held, t);
      return { b, w };
    };

    it('a device thread with time to spare shrinks it to one while the worker never runs dry', () => {
      const { w } = run(0.1, true, 32 * 16);
      assert.equal(w.limit, 2, 'its credit and one request in its socket');
    });

    it('a worker that runs dry gets it back', () => {
      const { b, w } = run(0.1, true, 32 * 16);
      assert.equal(w.limit, 2);
      run(0.1, false, 32 * 4, b);
      assert.ok(w.limit >= 1 + 4, `dry workers get more again (${w.limit})`);
    });

    it('a busy device thread keeps the whole budget', () => {
      const { w } = run(PREFETCH_BUSY_THREAD + 0.3, true, 32 * 16);
      assert.equal(w.limit, 1 + PREFETCH_BUDGET_MS);
    });
  });
});

/** A balancer with two workers, both measured at 1 ms a request: 10 requests of prefetch each, 22 slots in all. */
function twoWorkersAtOneMs(): { b: Balancer; w1: ReturnType<Balancer['join']>; w2: ReturnType<Balancer['join']> } {
  const b = new Balancer(10_000, 128);
  const w1 = b.join(Buffer.from('w1'), 1, 0);
  const w2 = b.join(Buffer.from('w2'), 1, 0);
  for (const w of [w1, w2]) {
    for (let i = 0, t = 0; i < 32; i++) {
      const h = b.dispatch(w, { frames: [Buffer.from('x')], bodyAt: 1, retried: false, receivedAt: t }, t);
      t += 1;
      b.complete(w.key, h.id, t);
    }
  }
  b.tune();
  return { b, w1, w2 };
}
