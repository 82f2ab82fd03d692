/**
 * Each engine on its own, through the Engine interface (no Device facade):
 * it relays a request and its reply, reports what it counts (native: nothing,
 * by type), and stops cleanly. And a failure injected into a js engine's loop
 * reaches the device's `error` event, the device closes, the process lives on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as zmq from 'zeromq';
import { Device } from '../src/device/device.js';
import { DeviceSockets, type EngineKind } from '../src/device/sockets.js';
import { DeviceSecurity } from '../src/device/security.js';
import { NativeEngine } from '../src/device/native.js';
import { RelayEngine } from '../src/device/relay.js';
import { BalancedEngine } from '../src/device/balanced.js';
import type { Engine, EngineContext } from '../src/device/engine.js';
import { Server } from '../src/server/server.js';
import { connectUrlFor } from '../src/endpoints.js';
import { resolveDeviceOptions } from '../src/options.js';
import { endpointFor, removeTempDirs, within } from './helpers.js';

const ENGINES: readonly { kind: EngineKind; make: (ctx: EngineContext) => Engine }[] = [
  { kind: 'native', make: (ctx) => new NativeEngine(ctx) },
  { kind: 'relay', make: (ctx) => new RelayEngine(ctx) },
  { kind: 'balanced', make: (ctx) => new BalancedEngine(ctx) },
];

describe('engines on their own', () => {
  for (const { kind, make } of ENGINES) {
    it(`${kind}: relays a request and its reply, and stops`, async () => {
      const o = resolveDeviceOptions({
        frontend: endpointFor('ipc', 'front'),
        backend: endpointFor('ipc', 'back'),
        engine: kind === 'native' ? 'native' : 'js',
        policy: kind === 'balanced' ? 'least-busy' : 'round-robin',
      });
      const security = new DeviceSecurity(o, () => undefined);
      let stopping = false;
      const sockets = new DeviceSockets(o, kind, security, { peer: () => undefined, acceptFailed: () => undefined });
      await sockets.bind();
      const joined: string[] = [];
      const failures: unknown[] = [];
      const engine = make({
        options: o,
        sockets,
        tap: undefined,
        hooks: {},
        events: {
          worker: (_n, id) => joined.push(id),
          workerLeft: () => undefined,
          workerLost: () => undefined,
          workerTimeout: () => undefined,
        },
        stopping: () => stopping,
        fail: (err) => failures.push(err),
        settled: () => undefined,
      });
      assert.equal(engine.kind, kind);
      engine.start();
      const server = await new Server((req) => ['re', ...req], { endpoint: sockets.backendUrl(), heartbeatIntervalMs: 0 }).start();
      const req = new zmq.Request({ linger: 0 });
      try {
        req.connect(connectUrlFor(sockets.endpoint('frontend')));
        await req.send('hello');
        assert.deepEqual((await within(10_000, 'reply', req.receive())).map(String), ['re', 'hello']);
        const s = engine.stats();
        if (kind === 'native') assert.deepEqual(s, { counted: false });
        else {
          assert.ok(s.counted);
          assert.equal(s.answered, 1);
          assert.equal(s.frontendTraffic.messagesIn, 1);
          assert.equal(engine.inFlight, 0);
        }
        if (kind === 'balanced') assert.equal(joined.length, 1, 'the worker joined through the engine');
      } finally {
        req.close();
        await server.close({ timeoutMs: 0 });
        stopping = true;
        await engine.stop();
        sockets.close();
        await engine.ended();
        await sockets.closed();
        removeTempDirs();
      }
      assert.deepEqual(failures, []);
    });
  }
});

describe("a failure in a js engine's loop", () => {
  for (const policy of ['round-robin', 'least-busy'] as const) {
    it(`${policy}: reaches 'error', then the device closes; the process lives on`, async () => {
      let calls = 0;
      const device = await new Device(
        { frontend: endpointFor('ipc', 'front'), backend: endpointFor('ipc', 'back'), policy, heartbeatIntervalMs: 0 },
        {
          // The measuring seam, used here to make the loop fail on the second request.
          onRequest: () => {
            if (++calls === 2) throw new Error('injected loop failure');
          },
        },
      ).start();
      const server = await new Server((req) => req, { endpoint: connectUrlFor(device.backendEndpoint), heartbeatIntervalMs: 0 }).start();
      const errored = once(device, 'error') as Promise<[Error]>;
      const closed = new Promise<void>((resolve) => device.on('state', (s) => s === 'closed' && resolve()));
      const req = new zmq.Request({ linger: 0 });
      try {
        if (policy === 'least-busy') await device.waitForWorkers(1);
        req.connect(connectUrlFor(device.frontendEndpoint));
        await req.send('one');
        assert.deepEqual((await within(10_000, 'first reply', req.receive())).map(String), ['one']);
        await req.send('two');
        const [err] = await within(10_000, 'error event', errored);
        assert.match(err.message, /injected loop failure/);
        await within(10_000, 'device closed', closed);
        assert.equal(device.stats().state, 'closed');
        await device.close(); // idempotent, resolves
      } finally {
        req.close();
        await server.close({ timeoutMs: 0 });
        await device.close({ timeoutMs: 0 });
        removeTempDirs();
      }
    });
  }
});
