import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { delimiterIndex, errorFrame, parseErrorReply, replyFrames } from '../src/protocol.js';
import { ErrorCode } from '../src/errors.js';

describe('wire protocol', () => {
  it('error replies are one readable frame that parses back to a code', () => {
    const frame = errorFrame('busy', 'queue full');
    assert.equal(frame.toString(), 'ZQ-ERROR busy: queue full');
    assert.deepEqual(parseErrorReply([frame]), { kind: 'busy', code: ErrorCode.Busy, message: 'queue full' });
  });

  it('ordinary replies are not errors, even close ones', () => {
    assert.equal(parseErrorReply([Buffer.from('World from server 1')]), undefined);
    assert.equal(parseErrorReply([Buffer.from('ZQ-ERROR unknown-kind: x')]), undefined);
    assert.equal(parseErrorReply([errorFrame('busy', 'x'), Buffer.from('more')]), undefined);
    assert.equal(parseErrorReply([]), undefined);
  });

  it('finds the envelope delimiter after at least one identity frame', () => {
    const e = Buffer.alloc(0);
    const x = Buffer.from('x');
    assert.equal(delimiterIndex([x, e, x]), 1);
    assert.equal(delimiterIndex([x, x, e, x]), 2);
    assert.equal(delimiterIndex([e, x]), -1);
    assert.equal(delimiterIndex([x, x]), -1);
    assert.equal(delimiterIndex([]), -1);
    assert.equal(delimiterIndex([e, x], 0), 0, 'a server reached straight from a REQ');
  });

  it('turns handler results into frames and refuses anything else', () => {
    assert.deepEqual(replyFrames('a').map(String), ['a']);
    assert.deepEqual(replyFrames(Buffer.from('b')).map(String), ['b']);
    assert.deepEqual(replyFrames(['c', Buffer.from('d')]).map(String), ['c', 'd']);
    assert.throws(() => replyFrames(42 as never), { code: 'ERR_ZQ_INVALID_OPTION' });
  });
});
