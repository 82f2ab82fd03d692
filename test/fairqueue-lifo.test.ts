/**
 * The fair queue under overload (src/device/scheduling/overload.ts's adaptive policy): newest
 * first while a queue stands, still one client at a time; a client's
 * requests removed when it leaves.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Deque, FairQueue } from '../src/device/scheduling/fairqueue.js';
import { Balancer, type Pending } from '../src/device/scheduling/balancer.js';
import { adaptiveOrder, staleReason } from '../src/device/scheduling/overload.js';

describe('fair queue, newest first', () => {
  it('serves the client that most recently began to wait, its newest request first', () => {
    const q = new FairQueue<string>(100, 100);
    q.enqueue('old', 'o0');
    q.enqueue('old', 'o1');
    q.enqueue('mid', 'm0');
    q.enqueue('new', 'n0');
    assert.equal(q.dequeue('lifo'), 'n0');
    assert.equal(q.dequeue('lifo'), 'm0');
    assert.equal(q.dequeue('lifo'), 'o1', "a client's newest first");
    assert.equal(q.dequeue('lifo'), 'o0');
    assert.equal(q.dequeue('lifo'), undefined);
  });

  it('a flooding client gets one turn in N, never more, while fresh clients keep arriving', () => {
    const q = new FairQueue<string>(10_000, 10_000);
    for (let i = 0; i < 1000; i++) q.enqueue('flood', `f${i}`);
    const served: string[] = [];
    for (let round = 0; round < 50; round++) {
      // Two fresh clients, then the flood sends more, then two dispatches.
      q.enqueue(`c${round}a`, 'fresh');
      q.enqueue(`c${round}b`, 'fresh');
      q.enqueue('flood', `f-new${round}`);
      served.push(q.dequeue('lifo') ?? '', q.dequeue('lifo') ?? '');
    }
    assert.equal(served.filter((s) => s !== 'fresh').length, 0, 'the flood waits while clients that began waiting later are served');
    // Clients that stay backlogged take turns with the flood: one turn each.
    for (let i = 0; i < 3; i++) {
      q.enqueue('x', `x${i}`);
      q.enqueue('y', `y${i}`);
    }
    const rest: string[] = [];
    for (let i = 0; i < 9; i++) rest.push(q.dequeue('lifo') ?? '');
    // The flood had one turn as the client that began to wait first (it never had one), then its turns in the line.
    assert.deepEqual(rest, ['y2', 'x2', 'f-new49', 'f-new48', 'x1', 'y1', 'f-new47', 'x0', 'y0']);
  });

  it('a closed-loop client that was just served waits its turn behind the others: two such clients cannot take every turn', () => {
    const q = new FairQueue<string>(100, 100, 200);
    for (const c of ['a', 'b', 'c']) q.enqueue(c, `${c}0`);
    assert.deepEqual([q.dequeue('lifo', 10), q.dequeue('lifo', 10), q.dequeue('lifo', 10)], ['c0', 'b0', 'a0'], 'all fresh: newest first');
    // c and b answered at once and ask again; a new client d arrives; a asks again last.
    q.enqueue('c', 'c1');
    q.enqueue('b', 'b1');
    q.enqueue('d', 'd0');
    q.enqueue('a', 'a1');
    const turns: string[] = [];
    for (let t = 20; t < 30; t++) {
      const item = q.dequeue('lifo', t) ?? '';
      turns.push(item);
      // Whoever is served asks again at once, as a closed-loop client does.
      const client = item.charAt(0);
      if (item !== '') q.enqueue(client, `${client}${Number(item.slice(1)) + 1}`);
    }
    assert.equal(turns[0], 'd0', 'the fresh client first');
    assert.deepEqual(
      turns.slice(1, 4).map((s) => s.charAt(0)),
      ['c', 'b', 'a'],
      'then the recent ones in turn',
    );
    const counts = new Map<string, number>();
    for (const s of turns) counts.set(s.charAt(0), (counts.get(s.charAt(0)) ?? 0) + 1);
    assert.ok(
      [...counts.values()].every((n) => n >= 2 && n <= 3),
      `every client had its turns: ${JSON.stringify([...counts])}`,
    );
  });

  it("removes a client's requests when it leaves, and the line goes on without it", () => {
    const q = new FairQueue<string>(100, 100);
    q.enqueue('a', 'a0');
    q.enqueue('gone', 'g0');
    q.enqueue('gone', 'g1');
    q.enqueue('b', 'b0');
    assert.deepEqual(q.removeClient('gone'), ['g0', 'g1']);
    assert.equal(q.length, 2);
    q.enqueue('gone', 'g2');
    assert.deepEqual(q.drain(), ['a0', 'b0', 'g2'], 'a client back after leaving waits at the end, once');
  });

  it('removes the requests a test picks from one client (a retry replacing its stale copy)', () => {
    const q = new FairQueue<string>(100, 100);
    q.enqueue('a', 'x1');
    q.enqueue('a', 'x2');
    q.enqueue('a', 'x1');
    assert.deepEqual(
      q.remove('a', (s) => s === 'x1'),
      ['x1', 'x1'],
    );
    assert.deepEqual(q.drain(), ['x2']);
  });

  it('a deque grows at both ends and keeps its order', () => {
    const d = new Deque<number>();
    for (let i = 0; i < 40; i++) {
      d.pushBack(i);
      d.pushFront(-i - 1);
    }
    assert.equal(d.length, 80);
    assert.equal(d.shift(), -40);
    assert.equal(d.pop(), 39);
    const all: number[] = [];
    for (let x = d.shift(); x !== undefined; x = d.shift()) all.push(x);
    assert.deepEqual(all, [...Array.from({ length: 39 }, (_, i) => -39 + i), ...Array.from({ length: 39 }, (_, i) => i)]);
  });
});

describe('overload policy: a standing queue', () => {
  const req = (client: string, at: number, deadline = 0): Pending => ({
    frames: [Buffer.from(client), Buffer.alloc(0), Buffer.from(`${client}@${at}`)],
    bodyAt: 2,
    retried: false,
    receivedAt: at,
    deadline,
  });
  const body = (p: Pending | undefined): string => String(p?.frames[2]);

  it('is first come, first served until the queue has stood for standingQueueMs, then newest first, and first come again once it empties', () => {
    const b = new Balancer(100, 0, 100, adaptiveOrder(100));
    b.enqueue('a', req('a', 0));
    b.enqueue('b', req('b', 10));
    assert.equal(body(b.dequeue(50)), 'a@0', 'a burst that drains within 100 ms: arrival order');
    b.enqueue('c', req('c', 60));
    assert.equal(b.standing(120, 100), true);
    assert.equal(body(b.dequeue(120)), 'c@60', 'standing since 0: the newest first');
    assert.equal(body(b.dequeue(121)), 'b@10');
    assert.equal(b.queued, 0);
    b.enqueue('d', req('d', 200));
    b.enqueue('e', req('e', 210));
    assert.equal(b.standing(250, 100), false, 'a queue that emptied starts its count again');
    assert.equal(body(b.dequeue(250)), 'd@200');
  });

  it('finds a request stale when its deadline passed (adaptive) or it waited maxWaitMs (either policy)', () => {
    const adaptive = { overloadPolicy: 'adaptive' as const, standingQueueMs: 100, maxWaitMs: 0 };
    assert.equal(staleReason(req('a', 0, 50), 49, adaptive), undefined);
    assert.equal(staleReason(req('a', 0, 50), 50, adaptive), 'expired');
    assert.equal(staleReason(req('a', 0, 0), 1e9, adaptive), undefined, 'no deadline, no bound');
    assert.equal(staleReason(req('a', 0, 50), 60, { ...adaptive, overloadPolicy: 'off' }), undefined, 'off drops nothing by deadline');
    assert.equal(staleReason(req('a', 0), 30, { ...adaptive, overloadPolicy: 'off', maxWaitMs: 30 }), 'policy');
  });
});
