/**
 * The fair queue on its own: each client's requests in order, clients served
 * in turn, bounds on the whole and on one client, retries first.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FairQueue } from '../src/device/scheduling/fairqueue.js';

describe('fair queue', () => {
  it("keeps each client's order and serves clients in turn", () => {
    const q = new FairQueue<string>(100, 100);
    for (let i = 0; i < 5; i++) q.enqueue('flood', `f${i}`);
    q.enqueue('a', 'a0');
    q.enqueue('b', 'b0');
    q.enqueue('a', 'a1');
    assert.deepEqual(q.drain(), ['f0', 'a0', 'b0', 'f1', 'a1', 'f2', 'f3', 'f4']);
    assert.equal(q.length, 0);
    assert.equal(q.clientsWaiting, 0);
  });

  it('a client that arrives behind a deep flood is served within one turn of the clients waiting', () => {
    const q = new FairQueue<string>(100_000, 100_000);
    for (let i = 0; i < 10_000; i++) q.enqueue('flood', `f${i}`);
    assert.equal(q.dequeue(), 'f0');
    q.enqueue('good', 'g');
    const waiting = q.clientsWaiting;
    let dispatches = 0;
    for (let item = q.dequeue(); item !== 'g'; item = q.dequeue()) dispatches++;
    assert.ok(dispatches + 1 <= waiting, `served after ${dispatches + 1} dispatches, ${waiting} clients waiting`);
  });

  it("bounds the whole queue and each client's share of it", () => {
    const q = new FairQueue<number>(5, 2);
    assert.equal(q.enqueue('x', 1), 'queued');
    assert.equal(q.enqueue('x', 2), 'queued');
    assert.equal(q.enqueue('x', 3), 'client-full');
    assert.equal(q.enqueue('y', 4), 'queued');
    assert.equal(q.enqueue('z', 5), 'queued');
    assert.equal(q.enqueue('w', 6), 'queued');
    assert.equal(q.enqueue('v', 7), 'full');
    assert.equal(q.deepestClient(), 2);
    assert.equal(q.clientsWaiting, 4);
  });

  it('serves retries first, past the bound', () => {
    const q = new FairQueue<string>(1, 1);
    q.enqueue('a', 'a0');
    q.retry('r0');
    q.retry('r1');
    assert.equal(q.length, 3);
    assert.deepEqual(q.drain(), ['r0', 'r1', 'a0']);
  });
});
