/**
 * The chaos run, short: servers killed and stalled, a worker crashing,
 * garbage, the device restarted; nothing lost. Then across devices: the same
 * with two devices, one killed -9 and restarted, clients failing over.
 * Each run goes on until every event has happened once, however slow the machine.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CHAOS_EVENTS, runChaos } from '../bench/chaos.js';
import { ErrorCode } from '../src/errors.js';

describe('chaos (short form of npm run chaos)', () => {
  it('every request ends answered or with a definite error; none is lost or answered wrongly', async () => {
    const l = await runChaos({ durationMs: 11_000, minEvents: CHAOS_EVENTS.length, clients: 10, eventEveryMs: 1500, heartbeatMs: 250 });
    for (const e of CHAOS_EVENTS) assert.ok(l.events[e] >= 1, `${e} happened`);
    assert.equal(l.lost, 0, 'lost');
    assert.equal(l.wrong, 0, 'wrong replies');
    assert.ok(l.sent > 500, `load ran (${l.sent} requests)`);
    const definite = new Set<string>(Object.values(ErrorCode));
    for (const code of Object.keys(l.errors)) assert.ok(definite.has(code), `error ${code} is a definite zqueue error`);
    assert.equal(l.answered + Object.values(l.errors).reduce((a, b) => a + b, 0) + l.wrong + l.lost, l.sent, 'the ledger adds up');
    assert.ok(l.answered_after_retry >= 1, 'the device restart was ridden out by retries');
  });

  it('across two devices (one killed -9, down, restarted): none lost or wrong, and requests failed over', async () => {
    const l = await runChaos({
      durationMs: 11_000,
      minEvents: CHAOS_EVENTS.length,
      devices: 2,
      servers: 2,
      clients: 10,
      eventEveryMs: 1500,
      heartbeatMs: 250,
    });
    for (const e of CHAOS_EVENTS) assert.ok(l.events[e] >= 1, `${e} happened`);
    assert.equal(l.devices, 2);
    assert.equal(l.lost, 0, 'lost');
    assert.equal(l.wrong, 0, 'wrong replies');
    assert.deepEqual(l.errors, {}, 'no request ended in an error: another device answered');
    assert.ok(l.failed_over >= 1, `requests on the killed device failed over (${l.failed_over})`);
    assert.ok(l.failed_over <= l.answered_after_retry, 'a failed-over request is one answered after a retry');
    assert.equal(l.answered + l.lost + l.wrong, l.sent, 'the ledger adds up');
  });
});
