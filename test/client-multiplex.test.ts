/**
 * One Client, many requests in flight on one connection (src/client.ts):
 * every caller gets its own reply; timeouts, retries and cancellation are per
 * request; past maxInFlight callers wait their turn; and the client works on
 * the plain wire with any device that does not speak the batched one.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setEnvironmentData } from 'node:worker_threads';
import { createBroker } from '../src/serve/broker.js';
import { Client } from '../src/client.js';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { connectUrlFor } from '../src/endpoints.js';
import { ErrorCode, ZqueueError } from '../src/errors.js';
import { EXAMPLES, HANDLERS, TRANSPORTS, endpointFor, removeTempDirs, within } from './helpers.js';

after(removeTempDirs);

for (const transport of TRANSPORTS) {
  describe(`one client, many requests in flight, over ${transport}`, () => {
    it('1000 concurrent requests on a 2-thread serve: each its own reply; slow ones time out and are retried; cancelled ones reject at once', async () => {
      // A slow request is slow once across both threads: its retry, wherever it goes, is answered at once.
      setEnvironmentData('zq-first-slow', new SharedArrayBuffer(4 * 1000));
      const broker = await createBroker({
        handler: join(HANDLERS, 'first-slow.js'),
        threads: 2,
        concurrency: 64,
        frontend: endpointFor(transport, 'mux-front'),
        policy: 'least-busy',
      });
      const client = new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 300, retries: 4 });
      try {
        const cancel = new AbortController();
        const calls = Array.from({ length: 1000 }, (_, i) => {
          const body = i % 100 === 7 ? `slow:${i}` : `r${i}`;
          const signal = i % 100 === 50 ? cancel.signal : undefined;
          return { body, signal, reply: client.request([body, `#${i}`], signal === undefined ? {} : { signal }) };
        });
        cancel.abort();
        const outcomes = await within(30_000, '1000 requests', Promise.allSettled(calls.map((c) => c.reply)));
        let cancelled = 0;
        outcomes.forEach((o, i) => {
          const call = calls[i];
          assert.ok(call !== undefined);
          if (call.signal !== undefined) {
            assert.equal(o.status, 'rejected', `request ${i} was cancelled`);
            if (o.status === 'rejected')
              assert.ok(o.reason instanceof ZqueueError && o.reason.code === ErrorCode.Aborted, String(o.reason));
            cancelled++;
            return;
          }
          assert.equal(o.status, 'fulfilled', `request ${i}: ${o.status === 'rejected' ? String(o.reason) : ''}`);
          if (o.status === 'fulfilled') assert.deepEqual(o.value.map(String), [call.body, `#${i}`], `request ${i} got its own reply`);
        });
        const s = client.stats();
        assert.equal(cancelled, 10);
        assert.equal(s.cancelled, 10);
        assert.equal(s.replies, 990);
        assert.equal(s.failures, 0);
        assert.ok(s.retries >= 10, `the 10 slow requests were retried (${s.retries} retries)`);
        assert.equal(s.inFlight, 0);
        assert.equal(s.connections, 1, 'one connection carried them all');
        assert.ok(s.batchesSent > 0, 'a least-busy device takes batches');
        assert.ok(
          s.batchesSent + s.plainSent < 1000 + s.retries,
          `requests shared messages (${s.batchesSent} batches, ${s.plainSent} plain)`,
        );
      } finally {
        await client.close();
        await broker.close();
        setEnvironmentData('zq-first-slow', undefined);
      }
    });
  });
}

describe('one client: maxInFlight and order', () => {
  it('past maxInFlight callers wait their turn in order, with no error', async () => {
    const broker = await createBroker({
      handler: join(EXAMPLES, 'echo.js'),
      threads: 1,
      frontend: 'tcp://127.0.0.1:*',
      policy: 'least-busy',
    });
    const client = new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), maxInFlight: 8, timeoutMs: 5000 });
    try {
      const order: number[] = [];
      const replies = Array.from({ length: 200 }, (_, i) =>
        client.request(`w${i}`).then((r) => {
          order.push(i);
          return String(r[0]);
        }),
      );
      assert.equal(client.stats().inFlight, 8);
      assert.equal(client.stats().waiting, 192);
      assert.deepEqual(
        await within(10_000, 'all', Promise.all(replies)),
        Array.from({ length: 200 }, (_, i) => `w${i}`),
      );
      // A request waiting for a slot started only after every request before it had one: the first 8 end before any after 8 + 8.
      for (let k = 0; k < order.length; k++) assert.ok((order[k] ?? 0) < k + 16, `request ${order[k]} ended ${k}th`);
      assert.equal(client.stats().failures, 0);
    } finally {
      await client.close();
      await broker.close();
    }
  });

  it('close() lets requests in flight end, then refuses new ones with ERR_ZQ_CLOSED', async () => {
    const broker = await createBroker({
      handler: join(HANDLERS, 'first-slow.js'),
      threads: 1,
      concurrency: 8,
      frontend: 'tcp://127.0.0.1:*',
      policy: 'least-busy',
    });
    const client = new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 5000 });
    try {
      const slow = client.request('slow:close');
      const closing = client.close();
      await assert.rejects(client.request('late'), { code: ErrorCode.Closed });
      assert.deepEqual((await slow).map(String), ['slow:close'], 'the request in flight was answered during the drain');
      await closing;
      const again = new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 5000 });
      const cut = again.request('slow:cut');
      await again.close({ timeoutMs: 0 });
      await assert.rejects(cut, { code: ErrorCode.Closed });
    } finally {
      await client.close();
      await broker.close();
    }
  });
});

describe('one client on the plain wire, where a device does not take batches', () => {
  const echo = (req: Buffer[]): Buffer[] => req;

  for (const setup of ['round-robin device', 'native device', 'bound server'] as const) {
    it(`${setup}: 300 concurrent requests, each its own reply, one request a message`, async () => {
      let endpoint: string;
      let close: () => Promise<void>;
      if (setup === 'bound server') {
        const server = await new Server(echo, { endpoint: 'tcp://127.0.0.1:*', bind: true, concurrency: 16 }).start();
        endpoint = connectUrlFor(server.endpoint);
        close = () => server.close();
      } else {
        const device = await new Device({
          frontend: 'tcp://127.0.0.1:*',
          backend: 'tcp://127.0.0.1:*',
          engine: setup === 'native device' ? 'native' : 'js',
          policy: 'round-robin',
        }).start();
        const server = await new Server(echo, { endpoint: connectUrlFor(device.backendEndpoint), concurrency: 16 }).start();
        await server.connected();
        endpoint = connectUrlFor(device.frontendEndpoint);
        close = async () => {
          await server.close();
          await device.close();
        };
      }
      const client = new Client({ endpoint, timeoutMs: 5000, retries: 0 });
      try {
        const replies = await within(10_000, 'replies', Promise.all(Array.from({ length: 300 }, (_, i) => client.request([`p${i}`, 'x']))));
        replies.forEach((r, i) => assert.deepEqual(r.map(String), [`p${i}`, 'x']));
        const s = client.stats();
        assert.equal(s.batchesSent, 0, 'no batch went to a device that did not answer the offer');
        assert.equal(s.plainSent, 300);
        // A second round, once the first reply said which wire: still plain.
        await Promise.all(Array.from({ length: 50 }, (_, i) => client.request(`q${i}`)));
        assert.equal(client.stats().batchesSent, 0);
      } finally {
        await client.close();
        await close();
      }
    });
  }
});
