/**
 * Failure never leaves a client hanging: a handler that throws, a worker
 * thread that dies, a handler past its timeout. Each case counts what the
 * client got and checks the worker was kept or replaced.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createBroker, type Broker, type BrokerOptions } from '../src/serve/broker.js';
import { Client } from '../src/client.js';
import { connectUrlFor } from '../src/endpoints.js';
import { ErrorCode, ZqueueError } from '../src/errors.js';
import { HANDLERS, PYTHON, pyzmqMissing, removeTempDirs, run, tempDir, until, within } from './helpers.js';

after(removeTempDirs);

async function withBroker(options: Partial<BrokerOptions>, body: (broker: Broker, client: Client) => Promise<void>): Promise<void> {
  const broker = await createBroker({ handler: join(HANDLERS, 'behave.js'), threads: 2, frontend: 'tcp://127.0.0.1:*', ...options });
  const client = new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 10_000, retries: 0 });
  try {
    await body(broker, client);
  } finally {
    await client.close();
    await broker.close();
  }
}

const restarts = (b: Broker): number => b.stats().threads.reduce((n, w) => n + w.restarts, 0);

for (const backend of ['inproc', 'ipc'] as const) {
  describe(`broker failures (${backend} backend)`, () => {
    it('a handler that throws or rejects: the client gets a handler error, the worker lives on', async () => {
      await withBroker({ backend }, async (broker, client) => {
        await assert.rejects(client.request('throw'), { code: ErrorCode.Handler, message: /handler failed on purpose/ });
        await assert.rejects(client.request('reject'), { code: ErrorCode.Handler, message: /handler rejected on purpose/ });
        assert.deepEqual((await client.request(['echo', 'after'])).map(String), ['echo', 'after']);
        assert.equal(restarts(broker), 0);
      });
    });

    it('a worker that calls process.exit(): its request is retried on another worker and the worker is replaced', async () => {
      const dir = tempDir();
      await withBroker({ backend }, async (broker, client) => {
        const reply = await client.request(['exit-once', dir]);
        assert.match(reply[0]?.toString() ?? '', /^survived exit-once/);
        const s = broker.stats();
        assert.equal(restarts(broker), 1);
        assert.ok(s.device.engine === 'js' && s.device.retried === 1 && s.device.orphaned === 1 && s.device.failed.workerDied === 0);
        assert.deepEqual((await client.request(['echo', 'x'])).map(String), ['echo', 'x']);
      });
    });

    it('an uncaught error in a worker timer: the request is retried, the worker replaced', async () => {
      const dir = tempDir();
      await withBroker({ backend }, async (broker, client) => {
        const reply = await client.request(['crash-once', dir]);
        assert.match(reply[0]?.toString() ?? '', /^survived crash-once/);
        assert.equal(restarts(broker), 1);
      });
    });

    it('with onWorkerDeath "fail" the client gets a worker-died error instead', async () => {
      const dir = tempDir();
      await withBroker({ backend, onWorkerDeath: 'fail' }, async (broker, client) => {
        await assert.rejects(client.request(['exit-once', dir]), { code: ErrorCode.WorkerDied });
        assert.equal(restarts(broker), 1);
        assert.deepEqual((await client.request(['echo', 'y'])).map(String), ['echo', 'y']);
      });
    });

    it('a handler stuck in synchronous code: the client gets a timeout error and the worker is replaced', async () => {
      const dir = tempDir();
      await withBroker({ backend, handlerTimeoutMs: 200, stopGraceMs: 100 }, async (broker, client) => {
        await assert.rejects(client.request(['spin-once', dir]), (err: unknown) => {
          assert.ok(err instanceof ZqueueError);
          assert.equal(err.code, ErrorCode.HandlerTimeout);
          return true;
        });
        await until(5000, 'the stuck worker is replaced', () => restarts(broker) >= 1);
        const after = await client.request(['spin-once', dir]);
        assert.match(after[0]?.toString() ?? '', /^survived spin-once/);
      });
    });

    // zeromq.js aborts the process when a thread ends with a receive pending:
    // with two slots a worker is mid-receive while its handler loops (src/serve/reaper.ts).
    it('a handler that loops forever a tick later, while its worker is mid-receive: the thread is ended and the process lives', async () => {
      const dir = tempDir();
      await withBroker({ backend, concurrency: 2, handlerTimeoutMs: 200, stopGraceMs: 100 }, async (broker, client) => {
        await assert.rejects(client.request(['spin-later', dir]), { code: ErrorCode.HandlerTimeout });
        await until(5000, 'the stuck worker is replaced', () => restarts(broker) >= 1);
        const after = await client.request(['spin-later', dir]);
        assert.match(after[0]?.toString() ?? '', /^survived spin-later/);
      });
    });

    it('closing with no stop grace ends threads that are mid-receive or still starting, and the process lives', async () => {
      for (let round = 0; round < 4; round++) {
        await withBroker({ backend, threads: 2, concurrency: 4, stopGraceMs: 0 }, async (broker, client) => {
          const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => client.request(['echo', String(i)])));
          assert.equal(replies.length, 8);
          if (round % 2 === 1) {
            // A worker exits and the broker closes while its replacement starts.
            const reply = await client.request(['exit-once', tempDir()]);
            assert.match(reply[0]?.toString() ?? '', /^survived exit-once/);
            assert.equal(restarts(broker), 1);
          }
        });
      }
    });

    it('an async handler that never resolves: timeout error, worker replaced', async () => {
      const dir = tempDir();
      await withBroker({ backend, handlerTimeoutMs: 200 }, async (broker, client) => {
        await assert.rejects(client.request(['hang-once', dir]), { code: ErrorCode.HandlerTimeout });
        const again = await client.request(['hang-once', dir]);
        assert.match(again[0]?.toString() ?? '', /^survived hang-once/);
        // The other thread may answer before the hung one has been replaced.
        await until(5000, 'the hung worker is replaced', () => restarts(broker) >= 1);
        assert.equal(restarts(broker), 1);
      });
    });
  });
}

describe("error replies reach the seed's plain REQ client as readable text", { skip: pyzmqMissing() }, () => {
  it('the Python client prints a handler error as its reply', async () => {
    await withBroker({}, async (broker) => {
      const py = run(PYTHON, [
        '-c',
        `
import zmq, sys
s = zmq.Context().socket(zmq.REQ)
s.connect(sys.argv[1])
s.send(b"throw")
print(s.recv().decode())
`,
        connectUrlFor(broker.frontendEndpoint),
      ]);
      assert.equal(await within(10_000, 'python client', py.exited), 0, py.stderr());
      assert.equal(py.stdout().trim(), 'ZQ-ERROR handler: handler failed on purpose');
    });
  });
});
