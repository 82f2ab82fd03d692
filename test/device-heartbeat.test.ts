/** Heartbeats with remote servers: the dead and the stalled are found within 3 periods, nothing they held is lost, and they come back by themselves. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { connectUrlFor } from '../src/endpoints.js';
import { HANDLERS, cli, freePort, until, within, type Spawned } from './helpers.js';

const PERIOD = 200;

async function setUp(): Promise<{ device: Device; servers: Spawned[]; spawn: (id: string) => Spawned; close: () => Promise<void> }> {
  const device = await new Device({
    frontend: 'tcp://127.0.0.1:*',
    backend: 'tcp://127.0.0.1:*',
    policy: 'least-busy',
    heartbeatIntervalMs: PERIOD,
  }).start();
  const servers: Spawned[] = [];
  const spawn = (id: string): Spawned => {
    const s = cli([
      'server',
      '--connect',
      connectUrlFor(device.backendEndpoint),
      '--handler',
      join(HANDLERS, 'behave.js'),
      '--heartbeat',
      String(PERIOD),
      '--routing-id',
      id,
    ]);
    servers.push(s);
    return s;
  };
  return {
    device,
    servers,
    spawn,
    close: async () => {
      for (const s of servers) {
        s.kill('SIGCONT');
        s.kill('SIGKILL');
      }
      await Promise.all(servers.map((s) => s.exited));
      await device.close({ timeoutMs: 0 });
    },
  };
}

/** Two requests that each hold a server for `ms`, once the device has given one to each. */
async function occupyBoth(device: Device, ms: number): Promise<{ replies: Promise<string[]>; close: () => Promise<unknown> }> {
  const clients = [0, 1].map(() => new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 15_000, retries: 0 }));
  const replies = Promise.all(clients.map(async (c) => (await c.request(['sleep', String(ms)]))[0]?.toString() ?? ''));
  await until(5000, 'both servers busy', () => device.inFlight === 2);
  return { replies, close: () => Promise.all(clients.map((c) => c.close())) };
}

describe('heartbeats with remote servers', () => {
  it('a stalled server is declared dead within 3 periods, its request retried elsewhere; resumed, it rejoins', async () => {
    const { device, spawn, close } = await setUp();
    try {
      const a = spawn('srv-a');
      spawn('srv-b');
      await within(10_000, 'both join', device.waitForWorkers(2));
      const busy = await occupyBoth(device, 1500);
      try {
        const lost = once(device, 'worker-lost');
        const t0 = performance.now();
        a.kill('SIGSTOP');
        assert.deepEqual(await within(5000, 'declared dead', lost), ['srv-a']);
        const took = performance.now() - t0;
        // 3 silent periods (the stall begins within a period), and as many again of margin for a loaded machine's timers.
        assert.ok(took >= 2 * PERIOD && took <= 6 * PERIOD, `found in ${took.toFixed(0)} ms (period ${PERIOD} ms)`);
        assert.deepEqual(
          await within(10_000, 'both replies', busy.replies),
          ['slept 1500', 'slept 1500'],
          "the stalled server's request was answered by the other",
        );
        const s = device.stats();
        assert.ok(s.counted);
        assert.deepEqual(
          { lost: s.workersLost, orphaned: s.orphaned, retried: s.retried, died: s.failed.workerDied },
          { lost: 1, orphaned: 1, retried: 1, died: 0 },
        );
        const rejoined = new Promise<string>((r) => device.on('worker', (_n, id) => id === 'srv-a' && r(id)));
        a.kill('SIGCONT');
        await within(10_000, 'srv-a rejoins', rejoined);
        const again = device.stats();
        assert.ok(again.counted);
        assert.deepEqual(again.workers.map((w) => w.id).sort(), ['srv-a', 'srv-b']);
      } finally {
        await busy.close();
      }
    } finally {
      await close();
    }
  });

  it('a server killed with SIGKILL: its request is retried on another, and a new server joins', async () => {
    const { device, spawn, close } = await setUp();
    try {
      const a = spawn('srv-a');
      spawn('srv-b');
      await within(10_000, 'both join', device.waitForWorkers(2));
      const busy = await occupyBoth(device, 800);
      try {
        const lost = once(device, 'worker-lost');
        a.kill('SIGKILL');
        assert.deepEqual(await within(5000, 'declared dead', lost), ['srv-a']);
        assert.deepEqual(await within(10_000, 'both replies', busy.replies), ['slept 800', 'slept 800']);
      } finally {
        await busy.close();
      }
      const joined = new Promise<string>((r) => device.on('worker', (_n, id) => id === 'srv-c' && r(id)));
      spawn('srv-c');
      await within(10_000, 'srv-c joins', joined);
    } finally {
      await close();
    }
  });

  it('a server that loses the device reconnects, and serves the restarted device', async () => {
    const [front, back] = [await freePort(), await freePort()];
    const options = {
      frontend: `tcp://127.0.0.1:${front}`,
      backend: `tcp://127.0.0.1:${back}`,
      policy: 'least-busy' as const,
      heartbeatIntervalMs: 100,
    };
    let device = await new Device(options).start();
    const server = await new Server((req) => req, { endpoint: `tcp://127.0.0.1:${back}`, heartbeatIntervalMs: 100 }).start();
    const client = new Client({ endpoint: `tcp://127.0.0.1:${front}`, timeoutMs: 1000, retries: 10 });
    try {
      await device.waitForWorkers(1);
      assert.deepEqual((await client.request('before')).map(String), ['before']);
      const reconnected = new Promise<string>((r) => server.once('reconnect', r));
      await device.close({ timeoutMs: 0 });
      assert.match(await within(5000, 'server notices', reconnected), /silent for 3 heartbeat periods/);
      device = await new Device(options).start();
      await within(5000, 'server rejoins', device.waitForWorkers(1));
      assert.deepEqual((await client.request('after')).map(String), ['after']);
      assert.ok(server.stats().reconnects >= 1);
    } finally {
      await client.close();
      await server.close();
      await device.close();
    }
  });
});
