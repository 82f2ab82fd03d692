/**
 * The Writer (src/writer.ts) on a closed socket: a send is reported as
 * EBADF, as zeromq.js would throw it, and never reaches zeromq.js, whose
 * throw on a worker thread being terminated aborts the process.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as zmq from 'zeromq';
import { Writer } from '../src/writer.js';
import { isSocketClosedError } from '../src/errors.js';

describe('writer on a closed socket', () => {
  for (const immediate of [true, false]) {
    it(`reports EBADF and does not call the socket's send (immediate: ${immediate})`, async () => {
      let calls = 0;
      // Only what the Writer uses of a socket: a stand-in that counts the sends zeromq.js would be asked for.
      const socket = {
        closed: true,
        send: (): Promise<void> => {
          calls++;
          return Promise.resolve();
        },
      } as unknown as ConstructorParameters<typeof Writer>[0];
      const errors: unknown[] = [];
      const writer = new Writer(socket, (err) => errors.push(err), { immediate });
      await writer.send([Buffer.from('a')]);
      await writer.send([Buffer.from('b')]);
      assert.equal(calls, 0, "zeromq.js's send was not called");
      assert.equal(errors.length, 2);
      for (const err of errors) assert.ok(isSocketClosedError(err), String(err));
      assert.equal(writer.backlog, 0);
    });
  }

  it('a message queued behind a send in flight, when the socket closes meanwhile, is reported and dropped', async () => {
    // A DEALER with no peer and a blocking send: the first send waits, the second queues behind it.
    const socket = new zmq.Dealer({ linger: 0, sendTimeout: 200 });
    socket.connect('inproc://zq-writer-closed-nobody');
    const errors: unknown[] = [];
    const writer = new Writer(socket, (err) => errors.push(err));
    const first = writer.send([Buffer.from('first')]);
    const second = writer.send([Buffer.from('second')]);
    assert.equal(writer.backlog, 2);
    socket.close();
    await Promise.all([first, second]);
    assert.equal(writer.backlog, 0);
    // The one queued behind is dropped as the socket's own send would have failed it: EBADF.
    assert.ok(errors.some(isSocketClosedError), errors.map(String).join('; '));
  });
});
