/**
 * 100 000 random multipart messages at a least-busy device's worker side,
 * where Paranoid Pirate and Majordomo workers speak, on a separate backend
 * and on one endpoint shared with clients: nothing dies of them, and a
 * zqueue worker, a Majordomo worker and their clients are still served.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import * as zmq from 'zeromq';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { connectUrlFor } from '../src/endpoints.js';
import { freePort, until, within } from './helpers.js';

/** A random message biased toward the protocols' own shapes: empty frames, MDPW01/MDPC01 headers, one-byte commands. */
function randomMessage(): Buffer[] {
  return Array.from({ length: randomInt(1, 8) }, () => {
    switch (randomInt(6)) {
      case 0:
        return Buffer.alloc(0);
      case 1:
        return Buffer.from(randomInt(2) === 0 ? 'MDPW01' : 'MDPC01');
      case 2:
        return Buffer.from([randomInt(8)]);
      default:
        return randomBytes(randomInt(1, 24));
    }
  });
}

for (const shared of [false, true]) {
  describe(`least-busy device under protocol garbage (${shared ? 'one endpoint for both sides' : 'separate backend'})`, () => {
    it('takes 100 000 random messages at its worker side and still serves zqueue and Majordomo workers and clients', async () => {
      const [p1, p2] = [await freePort(), await freePort()];
      const front = `tcp://127.0.0.1:${p1}`;
      const back = shared ? front : `tcp://127.0.0.1:${p2}`;
      const device = await new Device({
        frontend: front,
        backend: back,
        policy: 'least-busy',
        heartbeatIntervalMs: 200,
        serviceWaitMs: 500,
      }).start();
      const zq = await new Server((req) => ['zq', ...req], { endpoint: connectUrlFor(back), heartbeatIntervalMs: 200 }).start();
      const mdp = await new Server((req) => ['mdp', ...req], {
        endpoint: connectUrlFor(back),
        heartbeatIntervalMs: 200,
        service: 'svc',
      }).start();
      const rogue = new zmq.Dealer({ linger: 0, sendHighWaterMark: 0 });
      const drain = (async () => {
        try {
          for await (const _ of rogue);
        } catch {
          // closed
        }
      })();
      const plain = new Client({ endpoint: connectUrlFor(front), timeoutMs: 10_000, retries: 2 });
      const client = new Client({ endpoint: connectUrlFor(front), timeoutMs: 10_000, retries: 2, service: 'svc' });
      try {
        await within(10_000, 'workers join', device.waitForWorkers(2));
        rogue.connect(connectUrlFor(back));
        // On one endpoint for both sides, a lone empty frame reads as a connection notice (ROUTER_NOTIFY), counted as neither side's message.
        let notices = 0;
        for (let i = 0; i < 100_000; i++) {
          const m = randomMessage();
          if (shared && m.length === 1 && m[0]?.length === 0) notices++;
          await rogue.send(m);
        }
        await until(60_000, 'the device read it all', () => {
          const s = device.stats();
          return s.counted && s.backendTraffic.messagesIn + s.frontendTraffic.messagesIn >= 100_000 - notices;
        });
        assert.deepEqual((await within(15_000, 'plain', plain.request('p'))).map(String)[0], 'zq');
        assert.deepEqual((await within(15_000, 'majordomo', client.request('m'))).map(String), ['mdp', 'm']);
        const s = device.stats();
        assert.ok(s.counted && s.state === 'running');
      } finally {
        await plain.close();
        await client.close();
        rogue.close();
        await drain;
        await zq.close({ timeoutMs: 0 });
        await mdp.close({ timeoutMs: 0 });
        await device.close({ timeoutMs: 0 });
      }
    });
  });
}
