import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BATCH_ENTRY, BATCH_MAX, appendBatch, parseBatch } from '../src/protocols/zqueue.js';

const f = (s: string): Buffer => Buffer.from(s);

function header(...pairs: [id: number, count: number][]): Buffer {
  const h = Buffer.alloc(pairs.length * BATCH_ENTRY);
  pairs.forEach(([id, count], i) => {
    h.writeUInt32BE(id, i * BATCH_ENTRY);
    h.writeUInt32BE(count, i * BATCH_ENTRY + 4);
  });
  return h;
}

describe('worker protocol batches', () => {
  it('requests written as a batch read back as ids and body frame ranges', () => {
    const message = [f('x'), f('y')];
    appendBatch(message, [
      { id: 7, frames: [f('client'), f(''), f('a')], bodyAt: 2 },
      { id: 0xffff_fffe, frames: [f('b1'), f('b2')], bodyAt: 0 },
      { id: 3, frames: [], bodyAt: 0 },
    ]);
    assert.equal(message.length, 2 + 1 + 3, 'one header, then the bodies without their envelopes');
    assert.deepEqual(parseBatch(message, 2), [
      { id: 7, start: 3, end: 4, budgetMs: 0 },
      { id: 0xffff_fffe, start: 4, end: 6, budgetMs: 0 },
      { id: 3, start: 6, end: 6, budgetMs: 0 },
    ]);
    assert.deepEqual(message.slice(3).map(String), ['a', 'b1', 'b2']);
  });

  it(`more than ${BATCH_MAX} go as several groups, each header within the 128 bytes zeromq.js copies`, () => {
    const n = 2 * BATCH_MAX + 5;
    const message: Buffer[] = [];
    appendBatch(
      message,
      Array.from({ length: n }, (_, i) => ({ id: i + 1, frames: [f(`r${i}`)], bodyAt: 0 })),
    );
    assert.equal(message.length, n + 3, 'three headers');
    const headers = message.filter((m) => !m.toString().startsWith('r'));
    assert.ok(headers.every((h) => h.length <= 128));
    const entries = parseBatch(message, 0);
    assert.ok(entries !== undefined);
    assert.deepEqual(
      entries.map((e) => e.id),
      Array.from({ length: n }, (_, i) => i + 1),
    );
    assert.deepEqual(
      entries.map((e) => String(message[e.start])),
      Array.from({ length: n }, (_, i) => `r${i}`),
    );
  });

  it('a message that does not add up is refused whole', () => {
    assert.equal(parseBatch([header([1, 1])], 0), undefined, 'a count past the last frame');
    assert.equal(parseBatch([header([1, 1]), f('a'), f('extra')], 0), undefined, 'a frame left over that is no header');
    assert.equal(parseBatch([header([1, 1]).subarray(0, 5), f('a')], 0), undefined, 'a header cut short');
    assert.equal(parseBatch([Buffer.alloc(0)], 0), undefined, 'an empty header');
    assert.equal(parseBatch([f('a')], 3), undefined, 'no header at all');
  });
});
