import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BATCH_ENTRY, BATCH_MAX, batchHeader, parseBatch } from '../src/protocol.js';

const f = (s: string): Buffer => Buffer.from(s);

describe('worker protocol batches', () => {
  it('a header and its bodies read back as ids and frame ranges', () => {
    const header = batchHeader([7, 0xffff_fffe, 3], [1, 2, 0]);
    assert.equal(header.length, 3 * BATCH_ENTRY);
    const frames = [f('x'), f('y'), header, f('a'), f('b1'), f('b2')];
    assert.deepEqual(parseBatch(frames, 2), [
      { id: 7, start: 3, end: 4 },
      { id: 0xffff_fffe, start: 4, end: 6 },
      { id: 3, start: 6, end: 6 },
    ]);
  });

  it('a message that does not add up is refused whole', () => {
    const one = batchHeader([1], [1]);
    assert.equal(parseBatch([one], 0), undefined, 'a count past the last frame');
    assert.equal(parseBatch([one, f('a'), f('extra')], 0), undefined, 'frames left over');
    assert.equal(parseBatch([one.subarray(0, 5), f('a')], 0), undefined, 'a header cut short');
    assert.equal(parseBatch([Buffer.alloc(0)], 0), undefined, 'an empty header');
    assert.equal(parseBatch([f('a')], 3), undefined, 'no header at all');
  });

  it('a full batch header stays within the 128 bytes zeromq.js copies', () => {
    const ids = Array.from({ length: BATCH_MAX }, (_, i) => i);
    assert.ok(batchHeader(ids, ids).length <= 128);
  });
});
