/**
 * src/serve/reaper.ts: a worker thread stuck in a loop, with a receive pending, is
 * made to close its sockets before it is terminated (zeromq.js would abort
 * the process otherwise); a thread it cannot reach is reported, not hung on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { closeSocketsOf, DESTROY_HOOK } from '../src/serve/reaper.js';

const STUCK = `
  const { parentPort } = require('node:worker_threads');
  import(${JSON.stringify(import.meta.resolve('zeromq'))}).then((zmq) => {
    const socket = new zmq.Dealer({ linger: 0 });
    socket.connect('inproc://zqueue-reaper-test-' + process.pid);
    socket.receive().catch(() => {});
    globalThis[Symbol.for(${JSON.stringify(DESTROY_HOOK)})] = () => { socket.close(); return 1; };
    parentPort.postMessage('mid-receive');
    setTimeout(() => { for (;;); }, 5);
  });
`;

describe('reaper', () => {
  it('has a thread stuck in a loop close its sockets, so that terminating it leaves the process alive', async () => {
    for (let round = 0; round < 3; round++) {
      const worker = new Worker(STUCK, { eval: true });
      await once(worker, 'message');
      const reaped = await closeSocketsOf(worker.threadId, 5000);
      assert.deepEqual(reaped, { kind: 'closed', sockets: 1 });
      await worker.terminate();
    }
  });

  it('reports a thread without the hook, and one that does not exist, as unreachable', async () => {
    const worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
    await once(worker, 'online');
    const plain = await closeSocketsOf(worker.threadId, 5000);
    assert.equal(plain.kind, 'unreachable');
    assert.match(plain.kind === 'unreachable' ? plain.reason : '', /no destroy hook/);
    await worker.terminate();
    const gone = await closeSocketsOf(worker.threadId, 5000);
    assert.equal(gone.kind, 'unreachable');
    assert.match(gone.kind === 'unreachable' ? gone.reason : '', /no worker thread/);
  });
});
