/**
 * Majordomo (RFC 7) and MMI (RFC 8) through the least-busy device, with pyzmq
 * workers and clients written from the RFCs, on one endpoint for both sides
 * as MDP brokers do: routing by service, MMI's 200/404/501, a service with no
 * worker, a dead worker's request retried within its service, malformed
 * commands counted; and zqueue's own Majordomo worker and client, and all
 * kinds of worker and client on one device at once.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { ErrorCode, isZqueueError } from '../src/errors.js';
import { freePort, pyzmqMissing, python, removeTempDirs, tempDir, until, within, type Spawned } from './helpers.js';

const PERIOD = 200;
const skip = pyzmqMissing();

/** A device with one ROUTER for clients and workers, on a free port. */
async function broker(extra: ConstructorParameters<typeof Device>[0] = {}): Promise<{ device: Device; endpoint: string }> {
  const port = await freePort();
  const ep = `tcp://127.0.0.1:${port}`;
  const device = await new Device({
    frontend: ep,
    backend: ep,
    policy: 'least-busy',
    heartbeatIntervalMs: PERIOD,
    serviceWaitMs: 500,
    ...extra,
  }).start();
  return { device, endpoint: ep };
}

function counted(device: Device): Extract<ReturnType<Device['stats']>, { counted: true }> {
  const s = device.stats();
  assert.ok(s.counted);
  return s;
}

describe('Majordomo (RFC 7) and MMI (RFC 8), one endpoint for clients and workers', { skip }, () => {
  const procs: Spawned[] = [];
  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    removeTempDirs();
  });
  const py = (script: string, args: string[]): Spawned => {
    const p = python(script, args);
    procs.push(p);
    return p;
  };
  const mdpClient = async (endpoint: string, service: string, body: string): Promise<string> => {
    const p = py('mdp_client.py', [endpoint, service, body]);
    assert.equal(await within(15_000, 'mdp client', p.exited), 0, p.stdout() + p.stderr());
    return p.stdout().trim();
  };

  it('two services with one worker each: every request goes to its service, and MMI answers 200, 404 and 501', async () => {
    const { device, endpoint } = await broker();
    py('mdp_worker.py', [endpoint, 'echo', 'e1', '--interval', String(PERIOD)]);
    py('mdp_worker.py', [endpoint, 'upper', 'u1', '--interval', String(PERIOD)]);
    try {
      await within(10_000, 'workers join', device.waitForWorkers(2));
      const replies = await Promise.all([
        mdpClient(endpoint, 'echo', 'a'),
        mdpClient(endpoint, 'upper', 'b'),
        mdpClient(endpoint, 'echo', 'c'),
      ]);
      assert.deepEqual(replies, ['echo|e1:a', 'upper|u1:b', 'echo|e1:c']);
      assert.equal(await mdpClient(endpoint, 'mmi.service', 'echo'), 'mmi.service|200');
      assert.equal(await mdpClient(endpoint, 'mmi.service', 'nothing'), 'mmi.service|404');
      assert.equal(await mdpClient(endpoint, 'mmi.other', 'x'), 'mmi.other|501');
      const s = counted(device);
      assert.deepEqual(
        Object.keys(s.services ?? {})
          .filter((k) => k !== '')
          .sort(),
        ['echo', 'upper'],
      );
      assert.equal(s.services?.echo?.workers, 1);
    } finally {
      await device.close({ timeoutMs: 0 });
    }
  });

  it('a request for a service no worker offers waits serviceWaitMs, then the client gets ["MDPC01", service, "ZQ-ERROR no-service: …"]', async () => {
    const { device, endpoint } = await broker();
    try {
      const reply = await mdpClient(endpoint, 'nobody', 'hello');
      assert.match(reply, /^nobody\|ZQ-ERROR no-service: no worker offers service "nobody" \(waited 500 ms\)$/);
      assert.equal(counted(device).failed.noService, 1);
    } finally {
      await device.close({ timeoutMs: 0 });
    }
  });

  it("a dead worker's request is retried on another worker of the same service, and the client gets its own reply", async () => {
    const { device, endpoint } = await broker();
    const marker = join(tempDir(), 'crashed');
    py('mdp_worker.py', [endpoint, 'echo', 'a', '--interval', String(PERIOD), '--crash-once', marker]);
    py('mdp_worker.py', [endpoint, 'echo', 'b', '--interval', String(PERIOD), '--crash-once', marker]);
    py('mdp_worker.py', [endpoint, 'other', 'o', '--interval', String(PERIOD)]);
    try {
      await within(10_000, 'workers join', device.waitForWorkers(3));
      const reply = await mdpClient(endpoint, 'echo', 'crash');
      assert.match(reply, /^echo\|(a|b):crash$/);
      const s = counted(device);
      assert.equal(s.workersLost, 1);
      assert.equal(s.retried, 1);
    } finally {
      await device.close({ timeoutMs: 0 });
    }
  });

  it('malformed commands are counted, unexpected ones answered with DISCONNECT, and nothing dies of them', async () => {
    const { device, endpoint } = await broker();
    const w = new zmq.Dealer({ linger: 0, routingId: 'raw-worker' });
    const client = new Client({ endpoint, timeoutMs: 5000, retries: 0, service: 'echo' });
    try {
      w.connect(endpoint);
      await w.send(['', 'MDPW01', Buffer.from([0x03]), Buffer.from([0, 0, 0, 1]), '', 'a reply before READY']); // unknown worker: DISCONNECT
      const [, , dc] = await within(5000, 'disconnect', w.receive());
      assert.deepEqual(dc, Buffer.from([0x05]));
      await w.send(['', 'MDPW01', Buffer.from([0x01])]); // READY without a service
      await w.receive(); // DISCONNECT
      await w.send(['', 'MDPW01', Buffer.from([0x01]), 'echo']);
      await within(5000, 'joins', device.waitForWorkers(1));
      await w.send(['', 'MDPW01', Buffer.from([0x09])]); // unknown command: counted, DISCONNECT, dropped
      const [, , dc2] = await within(5000, 'disconnect', w.receive());
      assert.deepEqual(dc2, Buffer.from([0x05]));
      await until(5000, 'dropped', () => counted(device).workers.length === 0);
      await w.send(['', 'MDPW01', Buffer.from([0x01]), 'echo']);
      await within(5000, 'rejoins', device.waitForWorkers(1));
      await w.send(['', 'MDPW01', Buffer.from([0x01]), 'echo']); // READY twice: DISCONNECT
      const [, , dc3] = await within(5000, 'disconnect', w.receive());
      assert.deepEqual(dc3, Buffer.from([0x05]));
      await w.send(['', 'MDPW01', Buffer.from([0x01]), 'echo']);
      await within(5000, 'rejoins', device.waitForWorkers(1));
      await w.send(['', 'MDPW02', Buffer.from([0x04])]); // a wrong header from a worker: a client's request now, for service... none
      await w.send(['', 'MDPC01']); // a client request without a service
      await until(5000, 'counted', () => counted(device).malformed >= 3);
      // The worker still serves: the request comes with one address frame, the reply goes back with it.
      const reply = client.request('hi');
      let req: Buffer[];
      do req = await w.receive();
      while (req[2]?.[0] !== 0x02);
      await w.send(['', 'MDPW01', Buffer.from([0x03]), req[3] as Buffer, '', 'HI']);
      assert.deepEqual((await within(5000, 'reply', reply)).map(String), ['HI']);
    } finally {
      await client.close();
      w.close();
      await device.close({ timeoutMs: 0 });
    }
  });

  it('all at once: a plain REQ client, a Majordomo client, a zqueue worker, a PPP worker and Majordomo workers, on one device', async () => {
    const { device, endpoint } = await broker();
    const zq = await new Server((req) => ['zq', ...req], { endpoint, heartbeatIntervalMs: PERIOD }).start();
    const zqMdp = await new Server((req) => ['zq-mdp', ...req], { endpoint, heartbeatIntervalMs: PERIOD, service: 'zq' }).start();
    py('ppp_worker.py', [endpoint, 'ppp', '--interval', String(PERIOD)]);
    py('mdp_worker.py', [endpoint, 'echo', 'py', '--interval', String(PERIOD)]);
    const plain = new Client({ endpoint, timeoutMs: 5000, retries: 0 });
    const mdp = new Client({ endpoint, timeoutMs: 5000, retries: 0, service: 'zq' });
    try {
      await within(10_000, 'four workers', device.waitForWorkers(4));
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) seen.add(String((await plain.request(`p${i}`))[0]).split(':')[0] ?? '');
      assert.deepEqual([...seen].sort(), ['ppp', 'zq'], 'plain requests go to the default pool: zqueue and PPP workers');
      assert.deepEqual((await mdp.request('m')).map(String), ['zq-mdp', 'm'], "zqueue's Majordomo client and worker");
      assert.equal(await mdpClient(endpoint, 'echo', 'x'), 'echo|py:x', 'a pyzmq client and worker');
      const s = counted(device);
      assert.deepEqual(s.workers.map((w) => `${w.protocol}:${w.service}`).sort(), ['mdp:echo', 'mdp:zq', 'ppp:', 'zqueue:']);
      const nobody = new Client({ endpoint, timeoutMs: 5000, retries: 0, service: 'none' });
      try {
        await assert.rejects(nobody.request('?'), (err: unknown) => isZqueueError(err, ErrorCode.NoService));
      } finally {
        await nobody.close();
      }
    } finally {
      await plain.close();
      await mdp.close();
      await zq.close({ timeoutMs: 0 });
      await zqMdp.close({ timeoutMs: 0 });
      await device.close({ timeoutMs: 0 });
    }
  });
});
