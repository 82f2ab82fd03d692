/** Overload and undeliverable replies: busy at once, memory bounded, capacity kept, nothing lost, drops counted. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { ErrorCode } from '../src/errors.js';
import { connectUrlFor } from '../src/endpoints.js';
import { runOverload } from '../bench/overload.js';
import { until } from './helpers.js';

describe('overload (short form of npm run chaos -- --overload)', () => {
  it('at 10× capacity for 3 s: the excess gets busy at once, accepted requests run at capacity, nothing is lost, memory stays bounded, and it recovers', async () => {
    const r = await runOverload({ durationMs: 3000, factor: 10 });
    assert.equal(r.lost, 0, 'every request got a reply');
    assert.equal(r.answered + r.busy + r.other_errors, r.sent);
    assert.equal(r.other_errors, 0);
    assert.ok(r.busy > r.sent * 0.8, `most of the excess refused (${r.busy} of ${r.sent})`);
    // At capacity: against what closed-loop clients got just before, on this machine as it was (the nominal figure is 200).
    assert.ok(
      r.accepted_vs_baseline >= 0.6,
      `accepted ${r.accepted_rps} req/s under overload, ${r.baseline_rps} req/s closed-loop just before`,
    );
    // "At once": faster than the typical answered request, which waited its turn in the queue.
    assert.ok(
      r.busy_latency.p99_us < r.answered_latency.p50_us,
      `busy came back at once (p99 ${r.busy_latency.p99_us} µs, answered p50 ${r.answered_latency.p50_us} µs)`,
    );
    assert.ok(r.peak_queued <= 50, 'the queue never passed maxQueued');
    assert.ok(r.rss_mb.peak - r.rss_mb.before < 150, `RSS ${r.rss_mb.before} → ${r.rss_mb.peak} MB`);
    // Recovered: all 20 answered, none waiting behind a leftover queue (faster than the typical request under load).
    assert.ok(
      r.recovered && r.recovery_max_ms * 1000 < r.answered_latency.p50_us,
      `recovered (slowest ${r.recovery_max_ms} ms, answered p50 under load ${r.answered_latency.p50_us} µs)`,
    );
  });
});

describe('replies nobody can take', () => {
  it('a late reply reaches a client that kept its connection and is thrown away there; one for a client that left is dropped and counted', async () => {
    const device = await new Device({ frontend: 'tcp://127.0.0.1:*', backend: 'inproc://overload-late', policy: 'least-busy' }).start();
    const server = await new Server(
      async (req) => {
        if (req[0]?.toString() === 'slow') await new Promise((r) => setTimeout(r, 300));
        return req;
      },
      { endpoint: 'inproc://overload-late' },
    ).start();
    await device.waitForWorkers(1);
    const endpoint = connectUrlFor(device.frontendEndpoint);
    const stays = new Client({ endpoint, timeoutMs: 100, retries: 0 });
    const leaves = new Client({ endpoint, timeoutMs: 100, retries: 0 });
    try {
      // The client that stays: its late "slow" reply comes to its connection before "next"'s, and is not taken for it.
      await assert.rejects(stays.request('slow'), { code: ErrorCode.Timeout });
      assert.deepEqual((await stays.request('next', { timeoutMs: 2000 })).map(String), ['next']);
      let s = device.stats();
      assert.ok(s.counted);
      assert.deepEqual(s.dropped, { unroutable: 0, full: 0 }, 'the late reply was routable: its client was still there');
      // The client that leaves: nobody can take its reply.
      await assert.rejects(leaves.request('slow'), { code: ErrorCode.Timeout });
      await leaves.close();
      await until(5000, 'the late reply dropped', () => {
        const d = device.stats();
        return d.counted && d.dropped.unroutable === 1;
      });
      assert.deepEqual((await stays.request('after', { timeoutMs: 2000 })).map(String), ['after']);
      s = device.stats();
      assert.ok(s.counted);
      assert.deepEqual(s.dropped, { unroutable: 1, full: 0 });
    } finally {
      await stays.close();
      await leaves.close();
      await server.close();
      await device.close();
    }
  });
});
