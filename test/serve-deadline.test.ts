/**
 * The deadline frame (ZQDL) as a peer may forge it, through zqueue serve: a
 * budget past what a timer holds means no timer (no TimeoutOverflowWarning, no
 * signal aborted after 1 ms); a deadline already passed when the handler
 * first reads its signal finds it aborted.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { HANDLERS, cli, freePort, within } from './helpers.js';

function deadline(budgetMs: number, id: number): Buffer {
  const f = Buffer.alloc(16);
  f.write('ZQDL');
  f.writeUInt32BE(budgetMs >>> 0, 4);
  f.writeUInt32BE(id, 12);
  return f;
}

describe('zqueue serve and forged deadlines', () => {
  it('a budget of 0xFFFFFFFF ms: no warning, no early abort; a deadline passed before the signal is read: aborted at once', async () => {
    const port = await freePort();
    const serve = cli([
      'serve',
      '--handler',
      join(HANDLERS, 'signal-probe.js'),
      '--threads',
      '1',
      '--concurrency',
      '40',
      '--frontend',
      `tcp://127.0.0.1:${port}`,
      '--log-format',
      'json',
    ]);
    const dealer = new zmq.Dealer({ linger: 0 });
    try {
      await within(15_000, 'serve bound', serve.waitFor('"event":"bound"'));
      dealer.connect(`tcp://127.0.0.1:${port}`);
      for (let i = 0; i < 30; i++) await dealer.send([deadline(0xffff_ffff, i), '', '30']);
      // Its budget (40 ms) runs out while the handler waits (60 ms) before it first reads its signal.
      await dealer.send([deadline(40, 99), '', '60']);
      const replies = new Map<number, string[]>();
      await within(
        10_000,
        '31 replies',
        (async () => {
          while (replies.size < 31) {
            const [dl, , ...body] = await dealer.receive();
            replies.set(dl?.readUInt32BE(12) ?? -1, body.map(String));
          }
        })(),
      );
      for (let i = 0; i < 30; i++) {
        const [before, after, left] = replies.get(i) ?? [];
        assert.equal(before, 'false', `request ${i}: not aborted`);
        assert.equal(after, 'false', `request ${i}: not aborted 20 ms later either`);
        assert.ok(Number(left) > 1e9, `request ${i}: its deadline is far away (${left} ms)`);
      }
      assert.deepEqual(replies.get(99)?.slice(0, 2), ['true', 'true'], 'a passed deadline: aborted when first read');
      assert.doesNotMatch(serve.stderr(), /TimeoutOverflowWarning/);
    } finally {
      dealer.close();
      serve.kill('SIGTERM');
      await serve.exited;
    }
  });
});
