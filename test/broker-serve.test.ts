import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createBroker } from '../src/serve/broker.js';
import { Client } from '../src/client.js';
import { Server } from '../src/server/server.js';
import { connectUrlFor } from '../src/endpoints.js';
import { ErrorCode } from '../src/errors.js';
import { POLICIES } from '../src/options.js';
import { EXAMPLES, HANDLERS, removeTempDirs } from './helpers.js';

after(removeTempDirs);

for (const backend of ['inproc', 'ipc'] as const) {
  for (const policy of POLICIES) {
    describe(`broker: ${policy} over a ${backend} backend`, () => {
      it('worker threads answer many concurrent clients, each its own replies, and all take part', async () => {
        const broker = await createBroker({
          handler: join(EXAMPLES, 'echo.js'),
          threads: 2,
          frontend: 'tcp://127.0.0.1:*',
          backend,
          policy,
        });
        const clients = Array.from(
          { length: 40 },
          () => new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 5000, retries: 0 }),
        );
        try {
          await Promise.all(
            clients.map(async (c, i) => {
              for (let r = 0; r < 10; r++) {
                const reply = await c.request([`c${i}`, `r${r}`]);
                assert.deepEqual(reply.map(String), [`c${i}`, `r${r}`]);
              }
            }),
          );
          const stats = broker.stats();
          assert.equal(stats.threads.length, 2);
          assert.ok(stats.threads.every((w) => w.state === 'ready' && w.restarts === 0));
          assert.ok(stats.device.engine === 'js');
          if (stats.device.engine === 'js') {
            assert.equal(stats.device.answered, 400);
            if (policy === 'least-busy') {
              assert.equal(stats.device.workers.length, 2);
              assert.ok(
                stats.device.workers.every((w) => w.served > 0),
                JSON.stringify(stats.device.workers),
              );
            }
          }
        } finally {
          await Promise.all(clients.map((c) => c.close()));
          await broker.close();
        }
      });
    });
  }
}

describe('broker: remote servers join the worker threads', () => {
  for (const policy of POLICIES) {
    it(`a zqueue server on tcp takes part beside the threads (${policy})`, async () => {
      const broker = await createBroker({
        handler: join(EXAMPLES, 'echo.js'),
        threads: 1,
        frontend: 'tcp://127.0.0.1:*',
        backend: 'tcp://127.0.0.1:*',
        policy,
      });
      let remote = 0;
      const server = await new Server(
        async (req) => {
          remote++;
          await new Promise((r) => setTimeout(r, 1));
          return req;
        },
        { endpoint: connectUrlFor(broker.backendEndpoint) },
      ).start();
      const clients = Array.from(
        { length: 8 },
        () => new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 5000, retries: 0 }),
      );
      try {
        await server.connected();
        await broker.device.waitForPeers('backend', 1);
        await Promise.all(
          clients.map(async (c) => {
            for (let r = 0; r < 25; r++) assert.deepEqual((await c.request(`x${r}`)).map(String), [`x${r}`]);
          }),
        );
        assert.ok(remote > 0, 'the remote server got requests');
        assert.ok(remote < 200, 'so did the worker thread');
      } finally {
        await Promise.all(clients.map((c) => c.close()));
        await server.close();
        await broker.close();
      }
    });
  }
});

describe('broker: a handler that cannot load fails start-up with one clear error naming the file', () => {
  const cases: [string, string, RegExp][] = [
    ['a syntax error', join(HANDLERS, 'syntax-error.js'), /cannot load handler .*syntax-error\.js: /],
    ['no default export', join(HANDLERS, 'no-default.js'), /handler .*no-default\.js has no default export function/],
  ];
  for (const [what, file, message] of cases) {
    it(what, async () => {
      await assert.rejects(createBroker({ handler: file, threads: 2, frontend: 'tcp://127.0.0.1:*' }), {
        code: ErrorCode.HandlerLoad,
        message,
      });
    });
  }

  it('bad broker options are refused before anything starts, a handler module that is not there included', async () => {
    await assert.rejects(createBroker({ handler: join(HANDLERS, 'does-not-exist.js'), threads: 2, frontend: 'tcp://127.0.0.1:*' }), {
      code: ErrorCode.InvalidOption,
      message: /no handler module at .*does-not-exist\.js/,
    });
    await assert.rejects(createBroker({ handler: join(EXAMPLES, 'echo.js'), threads: 0 }), {
      code: ErrorCode.InvalidOption,
      message: /"threads"/,
    });
    await assert.rejects(createBroker({ handler: join(EXAMPLES, 'echo.js'), policy: 'fastest' }), {
      code: ErrorCode.InvalidOption,
      message: /"policy"/,
    });
    await assert.rejects(createBroker({ handler: join(EXAMPLES, 'echo.js'), backend: 'udp://x' }), { code: ErrorCode.InvalidEndpoint });
  });
});
