import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createBroker, type BrokerOptions } from '../src/broker.js';
import { Client } from '../src/client.js';
import { connectUrlFor } from '../src/endpoints.js';
import { POLICIES } from '../src/options.js';
import { ErrorCode, ZqueueError } from '../src/errors.js';
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
      const clients = Array.from({ length: CLIENTS }, () => new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 10_000, retries: 0 }));
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
        assert.ok(s.workers.every((w) => w.restarts === 0));
        assert.ok(s.device.engine === 'js');
        assert.equal(s.device.answered, CLIENTS * EACH, JSON.stringify(s.device));
      } finally {
        for (const c of clients) c.close();
        await broker.close();
      }
    });
  });
}

for (const policy of POLICIES) {
  describe(`broker: an inproc backend carries small frames and refuses large ones (${policy})`, () => {
    it('a large request is a bad request, a large reply a handler error, and the process lives on', async () => {
      const broker = await createBroker({ handler: join(HANDLERS, 'sized.js'), threads: 1, frontend: 'tcp://127.0.0.1:*', backend: 'inproc', policy });
      const client = new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 5000, retries: 0 });
      const refused = async (request: Buffer | string, code: ErrorCode): Promise<void> => {
        await assert.rejects(client.request([request]), (err: unknown) => err instanceof ZqueueError && err.code === code && /inproc/.test(err.message));
      };
      try {
        const [small] = await client.request([String(INPROC_MAX_FRAME)]);
        assert.equal(small?.length, INPROC_MAX_FRAME, 'a reply of 128 bytes goes through');
        await refused(Buffer.alloc(INPROC_MAX_FRAME + 1, 0x31), ErrorCode.BadRequest);
        await refused(String(INPROC_MAX_FRAME + 1), ErrorCode.Handler);
        await refused('65536', ErrorCode.Handler);
        for (let i = 0; i < 200; i++) {
          const [again] = await client.request(['16']);
          assert.equal(again?.length, 16);
        }
        const s = broker.stats();
        assert.ok(s.workers.every((w) => w.restarts === 0));
        assert.ok(s.device.engine === 'js' && s.device.failed.badRequest === 1 && s.device.failed.handler === 2, JSON.stringify(s.device));
      } finally {
        client.close();
        await broker.close();
      }
    });
  });
}
