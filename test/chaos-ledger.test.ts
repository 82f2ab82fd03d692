/** The chaos run, short: servers killed and stalled, a worker crashing, garbage, the device restarted; nothing lost. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CHAOS_EVENTS, runChaos } from '../bench/chaos.js';
import { ErrorCode } from '../src/errors.js';

describe('chaos (short form of npm run chaos)', () => {
  it('every request ends answered or with a definite error; none is lost or answered wrongly', async () => {
    const l = await runChaos({ durationMs: 11_000, clients: 10, eventEveryMs: 1500, heartbeatMs: 250 });
    for (const e of CHAOS_EVENTS) assert.ok(l.events[e] >= 1, `${e} happened`);
    assert.equal(l.lost, 0, 'lost');
    assert.equal(l.wrong, 0, 'wrong replies');
    assert.ok(l.sent > 500, `load ran (${l.sent} requests)`);
    const definite = new Set<string>(Object.values(ErrorCode));
    for (const code of Object.keys(l.errors)) assert.ok(definite.has(code), `error ${code} is a definite zqueue error`);
    assert.equal(l.answered + Object.values(l.errors).reduce((a, b) => a + b, 0) + l.wrong + l.lost, l.sent, 'the ledger adds up');
    assert.ok(l.answered_after_retry >= 1, 'the device restart was ridden out by retries');
  });
});
