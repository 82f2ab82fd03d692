import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createBroker, type BrokerOptions } from '../src/serve/broker.js';
import { Client } from '../src/client.js';
import { connectUrlFor } from '../src/endpoints.js';
import { POLICIES } from '../src/options.js';
import { INPROC_MAX_FRAME } from '../src/endpoints.js';
import { EXAMPLES, HANDLERS } from './helpers.js';

// Frames over 128 bytes are where zeromq.js stops copying and hands memory
// over as is. Over inproc between threads that took the process down in the
// bench (heap corruption, within seconds, at 1 KiB); the default backend must
// carry them, both ways, for as long as the traffic lasts.
const SIZES = [129, 1024, 65_536];
const CLIENTS = 20;
const EACH = 30;

for (const policy of POLICIES) {
  describe(`broker: large messages through worker threads on the default backend (${policy})`, () => {
    it(`${CLIENTS} clients × ${EACH} echoes each of ${SIZES.join(', ')} bytes come back whole`, async () => {
      const options: BrokerOptions = { handler: join(EXAMPLES, 'echo.js'), threads: 2, frontend: 'tcp://127.0.0.1:*', policy };
      const broker = await createBroker(options);
      const clients = Array.from(
        { length: CLIENTS },
        () => new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 10_000, retries: 0 }),
      );
      try {
        await Promise.all(
          clients.map(async (c, i) => {
            for (let r = 0; r < EACH; r++) {
              const size = SIZES[r % SIZES.length] as number;
              const body = Buffer.alloc(size, (i + r) % 251);
              const [reply, ...rest] = await c.request([body]);
              assert.equal(rest.length, 0);
              assert.ok(reply?.equals(body), `client ${i}, request ${r}: ${size} bytes echoed`);
            }
          }),
        );
        const s = broker.stats();
        assert.ok(s.threads.every((w) => w.restarts === 0));
        assert.ok(s.device.engine === 'js');
        assert.equal(s.device.answered, CLIENTS * EACH, JSON.stringify(s.device));
      } finally {
        await Promise.all(clients.map((c) => c.close()));
        await broker.close();
      }
    });
  });
}

// Over inproc, frames over 128 bytes travel as strings (src/inproc.ts): any size, both ways.
const ENGINES_POLICIES = [
  { engine: 'js', policy: 'least-busy' },
  { engine: 'js', policy: 'round-robin' },
  { engine: 'native', policy: 'round-robin' },
] as const;
for (const { engine, policy } of ENGINES_POLICIES) {
  describe(`broker: an inproc backend carries frames of any size, both ways (${engine}, ${policy})`, () => {
    it(`${CLIENTS} clients mixing 16 B with ${SIZES.join(', ')} B echoes, and replies larger than their requests, come back whole`, async () => {
      const broker = await createBroker({
        handler: join(HANDLERS, 'behave.js'),
        threads: 2,
        frontend: 'tcp://127.0.0.1:*',
        backend: 'inproc',
        engine,
        policy,
      });
      const clients = Array.from(
        { length: CLIENTS },
        () => new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 10_000, retries: 0 }),
      );
      const sized = new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 10_000, retries: 0 });
      try {
        await Promise.all(
          clients.map(async (c, i) => {
            for (let r = 0; r < EACH; r++) {
              const size = r % 2 === 0 ? 16 : (SIZES[(r >> 1) % SIZES.length] as number);
              // Every byte value, not only ASCII: the codec must be lossless for binary frames.
              const body = Buffer.from(Array.from({ length: size }, (_, k) => (k * 7 + i + r) & 0xff));
              const [verb, reply, ...rest] = await c.request([Buffer.from('echo'), body]);
              assert.equal(rest.length, 0);
              assert.equal(String(verb), 'echo');
              assert.ok(reply?.equals(body), `client ${i}, request ${r}: ${size} bytes echoed byte for byte`);
            }
          }),
        );
        for (const n of [INPROC_MAX_FRAME, INPROC_MAX_FRAME + 1, 1024, 65_536, 1_000_000]) {
          const [big] = await sized.request(['size', String(n)]);
          assert.equal(big?.length, n, `a ${n}-byte reply to a small request`);
          assert.ok(big?.every((b) => b === 0x62));
        }
        const s = broker.stats();
        assert.ok(
          s.threads.every((w) => w.restarts === 0),
          'no worker died',
        );
        if (s.device.counted) assert.equal(s.device.answered, CLIENTS * EACH + 5);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
        await sized.close();
        await broker.close();
      }
    });
  });
}
