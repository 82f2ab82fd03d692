import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { frameCosts } from '../bench/micro.js';

describe('bench micro: zeromq.js cost by frame count', () => {
  it('times one send and receive of each message shape, every one completed', async () => {
    const results = await frameCosts(20, 0);
    assert.deepEqual(
      results.map((r) => r.name),
      ['1 frame of 16 B', '3 frames of 16 B', '8 frames of 16 B', '1 frame of 128 B'].map((s) => `zeromq.js send + receive, ${s}`),
    );
    for (const r of results) {
      assert.ok(r.samples > 0, `${r.name}: no samples`);
      assert.ok(r.mean_us > 0, `${r.name}: no time`);
    }
  });
});
