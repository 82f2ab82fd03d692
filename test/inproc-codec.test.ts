/** The inproc codec on its own: which frames become strings, and that every byte comes back. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fromInproc, toInproc } from '../src/inproc.js';
import { INPROC_MAX_FRAME } from '../src/endpoints.js';

/** What zeromq.js puts on the wire for a frame: a Buffer as it is, a string as UTF-8. */
const wire = (f: Buffer | string): Buffer => (typeof f === 'string' ? Buffer.from(f, 'utf8') : Buffer.from(f));

describe('inproc codec', () => {
  it('sends frames of 128 bytes or less as Buffers, larger ones as strings, and leaves a small message alone', () => {
    const small = [Buffer.alloc(0), Buffer.alloc(INPROC_MAX_FRAME, 0xff)];
    assert.equal(toInproc(small), small, 'no copy when nothing is large');
    const out = toInproc([Buffer.alloc(5), Buffer.alloc(INPROC_MAX_FRAME + 1, 0x80)]);
    assert.ok(Buffer.isBuffer(out[0]));
    assert.equal(typeof out[1], 'string');
  });

  for (const size of [0, 1, 128, 129, 1024, 65_536, 1_000_000]) {
    it(`${size} bytes of every value come back whole through the wire form`, () => {
      const body =
        size === 0
          ? Buffer.alloc(0)
          : Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(size)]).subarray(0, size);
      const [back] = fromInproc(toInproc([body]).map(wire));
      assert.ok(back?.equals(body));
    });
  }
});
