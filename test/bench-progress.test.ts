import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { formatDuration, progress, timeLeft } from '../bench/lib/progress.js';

describe('bench progress', () => {
  it('estimates the time left from the mean time per step so far', () => {
    assert.equal(timeLeft(0, 10, 5000), undefined, 'no estimate before a first step');
    assert.equal(timeLeft(2, 10, 10_000), '40 s');
    assert.equal(timeLeft(1, 4, 40_000), '2 min 00 s');
    assert.equal(timeLeft(10, 10, 1000), undefined, 'nothing left');
    assert.equal(formatDuration(65_400), '1 min 05 s');
  });

  it('prints each step with the time left on a non-terminal stream', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    let t = 0;
    const bar = progress(out as unknown as NodeJS.WriteStream, false, () => t);
    bar.tick(0, 4, 'first');
    t = 3000;
    bar.tick(1, 4, 'second');
    // A new scenario on the same bar starts its own clock.
    t = 100_000;
    bar.tick(0, 2, 'next');
    t = 101_000;
    bar.tick(1, 2, 'after');
    bar.done();
    assert.deepEqual(text.trim().split('\n'), ['0/4 first', '1/4, about 9 s left second', '0/2 next', '1/2, about 1 s left after']);
  });
});
