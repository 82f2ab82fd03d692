/**
 * The retry-storm scenario end to end, short: the device in this process, its
 * Lazy Pirate clients in a child process, the figures read from both sides.
 * What it asserts is the ledger's shape and what the adaptive policy does
 * that off does not (drop the requests of clients that left), not a rate.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runRetryStorm } from '../bench/retry-storm.js';

describe('retry-storm scenario', () => {
  it('runs its clients in a child process and reports each cell: REQ clients that give up are dropped as they leave', async () => {
    const labels: string[] = [];
    const r = await runRetryStorm(
      {
        durationMs: 800,
        warmupMs: 400,
        factors: [2],
        clients: ['req', 'zqueue'],
        policies: [
          { name: 'off', overloadPolicy: 'off', maxWaitMs: 0 },
          { name: 'adaptive', overloadPolicy: 'adaptive', maxWaitMs: 0 },
        ],
      },
      (label) => labels.push(label),
    );
    assert.deepEqual(labels, [
      'off, req clients, 2x',
      'adaptive, req clients, 2x',
      'off, zqueue clients, 2x',
      'adaptive, zqueue clients, 2x',
    ]);
    assert.equal(r.cells.length, 4);
    for (const c of r.cells) {
      // 2× a capacity of 200 req/s, by clients that ask once per 200 ms timeout.
      assert.equal(c.clients, 80);
      assert.equal(c.capacity_rps, 200);
      assert.ok(c.processed_rps > 0, `${c.policy}, ${c.client}: the workers answered (${c.processed_rps}/s)`);
      assert.ok(c.timeouts_rps > 0, `${c.policy}, ${c.client}: at 2× some clients gave up (${c.timeouts_rps}/s)`);
      assert.ok(c.goodput >= 0 && c.useful_share >= 0 && c.useful_share <= 1.2, JSON.stringify(c));
    }
    const cell = (policy: string, client: string): (typeof r.cells)[number] => {
      const found = r.cells.find((c) => c.policy === policy && c.client === client);
      assert.ok(found);
      return found;
    };
    assert.equal(cell('off', 'req').shed_rps.abandoned, 0, 'off drops nothing');
    assert.ok(cell('adaptive', 'req').shed_rps.abandoned > 0, 'adaptive drops the requests of REQ clients that left');
  });
});
