/** Bounded intake and an orderly close: busy past maxQueued, closing for what waits at shutdown. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createBroker } from '../src/serve/broker.js';
import { Client } from '../src/client.js';
import { connectUrlFor } from '../src/endpoints.js';
import { ErrorCode, isZqueueError } from '../src/errors.js';
import { HANDLERS, cli, freePort, until, within } from './helpers.js';

type Outcome = { kind: 'reply' } | { kind: 'error'; code: string };

async function outcome(p: Promise<Buffer[]>): Promise<Outcome> {
  try {
    await p;
    return { kind: 'reply' };
  } catch (err) {
    if (isZqueueError(err)) return { kind: 'error', code: err.code };
    throw err;
  }
}

for (const backend of ['inproc', 'ipc'] as const) {
  describe(`broker limits (${backend} backend)`, () => {
    it('past maxQueued, requests get an immediate busy error; the accepted ones are all answered', async () => {
      const broker = await createBroker({
        handler: join(HANDLERS, 'behave.js'),
        threads: 1,
        frontend: 'tcp://127.0.0.1:*',
        backend,
        maxQueued: 5,
        prefetch: 0,
      });
      const clients = Array.from(
        { length: 30 },
        () => new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 20_000, retries: 0 }),
      );
      try {
        const order: string[] = [];
        const results = await Promise.all(
          clients.map(async (c) => {
            const o = await outcome(c.request(['sleep', '100']));
            order.push(o.kind === 'reply' ? 'reply' : o.code);
            return o;
          }),
        );
        const replies = results.filter((r) => r.kind === 'reply').length;
        const busy = results.filter((r) => r.kind === 'error' && r.code === ErrorCode.Busy).length;
        assert.equal(replies + busy, 30, JSON.stringify(results));
        assert.ok(replies >= 6, `at least one running and five queued were served: ${replies}`);
        assert.ok(busy >= 15, `the excess was refused: ${busy}`);
        // Busy answers do not wait for the queue: they all come before the last reply.
        assert.ok(order.lastIndexOf(ErrorCode.Busy) < order.lastIndexOf('reply'), order.join(' '));
        const s = broker.stats().device;
        assert.ok(s.engine === 'js');
        if (s.engine === 'js') {
          assert.equal(s.failed.busy, busy);
          assert.equal(s.queued, 0);
          assert.equal(s.answered, replies);
        }
      } finally {
        await Promise.all(clients.map((c) => c.close()));
        await broker.close();
      }
    });

    it('close() lets the in-flight request finish and answers the queued ones with closing', async () => {
      // No prefetch: one request runs, the others wait at the device, where close() can answer them.
      const broker = await createBroker({
        handler: join(HANDLERS, 'behave.js'),
        threads: 1,
        frontend: 'tcp://127.0.0.1:*',
        backend,
        prefetch: 0,
      });
      const clients = Array.from(
        { length: 5 },
        () => new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 20_000, retries: 0 }),
      );
      try {
        // Five requests, one worker: one runs, four queue (which one runs depends on arrival).
        const all = clients.map((c) => outcome(c.request(['sleep', '300'])));
        await until(5000, 'four requests queue', () => {
          const s = broker.stats().device;
          return s.engine === 'js' && s.queued === 4 && s.inFlight === 1;
        });
        await broker.close({ timeoutMs: 5000 });
        const results = await Promise.all(all);
        assert.equal(results.filter((r) => r.kind === 'reply').length, 1, JSON.stringify(results));
        assert.equal(results.filter((r) => r.kind === 'error' && r.code === ErrorCode.Closing).length, 4, JSON.stringify(results));
        await broker.close(); // idempotent
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    });
  });
}

describe('zqueue serve', () => {
  it('SIGTERM under load closes cleanly and exits 0', async () => {
    const port = await freePort();
    const serve = cli(['serve', '--handler', join(HANDLERS, 'behave.js'), '--threads', '2', '--frontend', `tcp://127.0.0.1:${port}`]);
    const clients = Array.from({ length: 20 }, () => new Client({ endpoint: `tcp://127.0.0.1:${port}`, timeoutMs: 2000, retries: 0 }));
    let replies = 0;
    let stop = false;
    try {
      await within(10_000, 'serve starts', serve.waitFor(' bound '));
      let enough!: () => void;
      const busy = new Promise<void>((r) => (enough = r));
      const loops = clients.map(async (c) => {
        while (!stop) {
          try {
            await c.request(['sleep', '2']);
            if (++replies === 100) enough();
          } catch {
            return;
          }
        }
      });
      await within(10_000, '100 replies', busy);
      serve.kill('SIGTERM');
      assert.equal(await within(5000, 'serve exits', serve.exited), 0, serve.stderr());
      assert.match(serve.stderr(), /stopping reason=SIGTERM[^]*closed/);
      stop = true;
      await Promise.all(clients.map((c) => c.close()));
      await Promise.all(loops);
    } finally {
      stop = true;
      await Promise.all(clients.map((c) => c.close()));
      serve.kill('SIGKILL');
      await serve.exited;
    }
  });
});
