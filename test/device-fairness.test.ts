/**
 * Fairness at the device, on counts, not timings: while a flooding client
 * holds many queued requests, a well-behaved client's request is dispatched
 * within as many dispatches as there are clients with waiting work; a client
 * past its share gets `busy` and the others do not; each client's requests
 * keep their order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as zmq from 'zeromq';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { parseErrorReply } from '../src/protocol.js';
import { connectUrlFor } from '../src/endpoints.js';
import { TRANSPORTS, endpointFor, removeTempDirs, until, within } from './helpers.js';

/** A server whose handler holds each request until the test lets it go, recording the order it saw them in. */
function gatedServer(endpoint: string): { server: Server; seen: string[]; release: (n: number) => void } {
  const seen: string[] = [];
  const waiting: (() => void)[] = [];
  let credit = 0;
  const server = new Server(
    async (req) => {
      seen.push(String(req[0]));
      if (credit > 0) credit--;
      else await new Promise<void>((r) => waiting.push(r));
      return req;
    },
    { endpoint, heartbeatIntervalMs: 0 },
  );
  const release = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const next = waiting.shift();
      if (next !== undefined) next();
      else credit++;
    }
  };
  return { server, seen, release };
}

for (const transport of TRANSPORTS) {
  describe(`fairness over ${transport}`, () => {
    it('a good client behind a deep flood is dispatched within (clients waiting) dispatches; the flood keeps its order', async () => {
      const K = 300;
      const device = await new Device({
        frontend: endpointFor(transport, 'front'),
        backend: endpointFor(transport, 'back'),
        policy: 'least-busy',
        prefetch: 0,
        handlerTimeoutMs: 0,
        heartbeatIntervalMs: 0,
      }).start();
      const { server, seen, release } = gatedServer(connectUrlFor(device.backendEndpoint));
      const flood = new zmq.Dealer({ linger: 0 });
      const good = new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 30_000, retries: 0 });
      try {
        await server.start();
        await device.waitForWorkers(1);
        flood.connect(connectUrlFor(device.frontendEndpoint));
        for (let i = 0; i < K; i++) await flood.send(['', `f${i}`]);
        // One at the worker, the rest queued.
        await until(20_000, 'the flood queued', () => device.inFlight === 1 && stats(device).queued === K - 1);
        const reply = good.request('good');
        await until(20_000, 'the good request queued', () => stats(device).queued === K);
        const waiting = stats(device).queue.clientsWaiting;
        assert.equal(waiting, 2);
        release(K + 1);
        assert.deepEqual((await within(20_000, 'good reply', reply)).map(String), ['good']);
        const at = seen.indexOf('good');
        // seen[0] was at the worker before the good request came; it is dispatched within `waiting` more.
        assert.ok(at >= 1 && at <= waiting, `the good request was dispatch ${at} after it queued (${waiting} clients waiting)`);
        const floodOrder = seen.filter((s) => s !== 'good');
        assert.deepEqual(
          floodOrder,
          Array.from({ length: floodOrder.length }, (_, i) => `f${i}`),
          'the flood kept its order',
        );
      } finally {
        release(10 * K);
        await good.close();
        flood.close();
        await server.close({ timeoutMs: 0 });
        await device.close({ timeoutMs: 0 });
        removeTempDirs();
      }
    });

    it('a client past maxQueuedPerClient gets busy at once, counted apart; another client does not', async () => {
      const device = await new Device({
        frontend: endpointFor(transport, 'front'),
        backend: endpointFor(transport, 'back'),
        policy: 'least-busy',
        prefetch: 0,
        maxQueued: 100,
        maxQueuedPerClient: 10,
        heartbeatIntervalMs: 0,
      }).start();
      const { server, release } = gatedServer(connectUrlFor(device.backendEndpoint));
      const flood = new zmq.Dealer({ linger: 0 });
      const good = new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 30_000, retries: 0 });
      try {
        await server.start();
        await device.waitForWorkers(1);
        flood.connect(connectUrlFor(device.frontendEndpoint));
        // 1 at the worker, 10 queued, 9 refused.
        for (let i = 0; i < 20; i++) await flood.send(['', `f${i}`]);
        const busy: string[] = [];
        for (let i = 0; i < 9; i++) {
          const [, body] = await within(20_000, 'busy replies', flood.receive());
          busy.push((body !== undefined ? parseErrorReply([body])?.kind : undefined) ?? String(body));
        }
        assert.deepEqual(busy, Array(9).fill('busy'));
        const s = stats(device);
        assert.equal(s.failed.busy, 9);
        assert.equal(s.queue.busyPerClient, 9);
        assert.equal(s.queue.deepestClient, 10);
        const reply = good.request('good');
        await until(20_000, 'the good request queued', () => stats(device).queued === 11);
        release(100);
        assert.deepEqual((await within(20_000, 'good reply', reply)).map(String), ['good']);
        assert.equal(stats(device).failed.busy, 9, 'the good client got no busy');
      } finally {
        release(1000);
        await good.close();
        flood.close();
        await server.close({ timeoutMs: 0 });
        await device.close({ timeoutMs: 0 });
        removeTempDirs();
      }
    });
  });
}

function stats(device: Device): Extract<ReturnType<Device['stats']>, { counted: true }> {
  const s = device.stats();
  assert.ok(s.counted);
  return s;
}
