/**
 * Paranoid Pirate workers (RFC 6) through the least-busy device: a pyzmq
 * worker written from the RFC serves plain REQ clients; one killed
 * mid-request loses nothing; one stalled past 3 heartbeats is dropped and
 * rejoins; what is malformed is counted, and nothing dies of it.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { Device } from '../src/device/device.js';
import { Client } from '../src/client.js';
import { connectUrlFor } from '../src/endpoints.js';
import { pyzmqMissing, python, removeTempDirs, tempDir, until, within, type Spawned } from './helpers.js';

const PERIOD = 200;
const skip = pyzmqMissing();

async function pirateDevice(): Promise<Device> {
  return new Device({
    frontend: 'tcp://127.0.0.1:*',
    backend: 'tcp://127.0.0.1:*',
    policy: 'least-busy',
    heartbeatIntervalMs: PERIOD,
  }).start();
}

function counted(device: Device): Extract<ReturnType<Device['stats']>, { counted: true }> {
  const s = device.stats();
  assert.ok(s.counted);
  return s;
}

describe('Paranoid Pirate workers (RFC 6)', { skip }, () => {
  const procs: Spawned[] = [];
  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    removeTempDirs();
  });
  const worker = (device: Device, name: string, extra: string[] = []): Spawned => {
    const p = python('ppp_worker.py', [connectUrlFor(device.backendEndpoint), name, '--interval', String(PERIOD), ...extra]);
    procs.push(p);
    return p;
  };

  it('a PPP worker serves plain REQ clients, one request at a time', async () => {
    const device = await pirateDevice();
    const w = worker(device, 'w1');
    const clients = Array.from(
      { length: 5 },
      () => new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 5000, retries: 0 }),
    );
    try {
      await within(10_000, 'worker joins', device.waitForWorkers(1));
      const replies = await Promise.all(clients.map(async (c, i) => (await c.request(`hello ${i}`)).map(String)));
      assert.deepEqual(
        replies,
        clients.map((_, i) => [`w1:hello ${i}`]),
      );
      const s = counted(device);
      assert.equal(s.answered, 5);
      assert.deepEqual(
        s.workers.map((x) => x.credits),
        [1],
        'one credit',
      );
      assert.ok(s.workers.every((x) => x.inFlight <= 1));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      w.kill('SIGKILL');
      await w.exited;
      await device.close({ timeoutMs: 0 });
    }
  });

  it('a PPP worker killed mid-request: the request is retried on another and the client gets its own reply', async () => {
    const device = await pirateDevice();
    const marker = join(tempDir(), 'crashed');
    const a = worker(device, 'a', ['--crash-once', marker]);
    const b = worker(device, 'b', ['--crash-once', marker]);
    const client = new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 10_000, retries: 0 });
    try {
      await within(10_000, 'workers join', device.waitForWorkers(2));
      const [reply] = (await within(15_000, 'the retried reply', client.request('crash'))).map(String);
      assert.match(reply ?? '', /^(a|b):crash$/);
      const s = counted(device);
      assert.equal(s.workersLost, 1, 'the dead worker was found by its silence');
      assert.equal(s.retried, 1);
      assert.equal(s.answered, 1);
    } finally {
      await client.close();
      for (const p of [a, b]) p.kill('SIGKILL');
      await Promise.all([a.exited, b.exited]);
      await device.close({ timeoutMs: 0 });
    }
  });

  it('a PPP worker stalled past 3 heartbeats is dropped, and rejoins when it resumes', async () => {
    const device = await pirateDevice();
    const w = worker(device, 'slow');
    try {
      await within(10_000, 'worker joins', device.waitForWorkers(1));
      const lost = new Promise<void>((r) => device.once('worker-lost', () => r()));
      w.kill('SIGSTOP');
      await within(10_000, 'declared dead', lost);
      assert.equal(counted(device).workers.length, 0);
      const back = new Promise<void>((r) => device.once('worker', () => r()));
      w.kill('SIGCONT');
      await within(15_000, 'rejoins with READY', back);
      const client = new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 5000, retries: 0 });
      try {
        assert.deepEqual((await client.request('again')).map(String), ['slow:again']);
      } finally {
        await client.close();
      }
    } finally {
      w.kill('SIGKILL');
      await w.exited;
      await device.close({ timeoutMs: 0 });
    }
  });

  it('counts what is malformed (a reply from a worker that holds nothing, one with another address stack, an unknown one-byte command, READY twice) and lives on', async () => {
    const device = await pirateDevice();
    const fake = new zmq.Dealer({ linger: 0, routingId: 'fake' });
    const client = new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 5000, retries: 0 });
    try {
      fake.connect(connectUrlFor(device.backendEndpoint));
      await fake.send(Buffer.from([0x01]));
      await fake.send(Buffer.from([0x01])); // READY twice: still one worker
      await within(10_000, 'fake joins', device.waitForWorkers(1));
      await fake.send(['someone', '', 'a reply for nothing']);
      await fake.send(Buffer.from([0x07]));
      await until(10_000, 'both counted', () => counted(device).malformed >= 2);
      assert.equal(counted(device).workers.length, 1);
      // It still works as a worker: a request reaches it as [address, "", body] and its reply goes back.
      const reply = client.request('through the fake');
      let request: Buffer[] = [];
      for (;;) {
        request = await fake.receive();
        if (request.length > 1) break; // skip its heartbeats
      }
      assert.deepEqual(request.slice(-2).map(String), ['', 'through the fake']);
      // A "reply" whose address stack is not its request's is not that request's reply: dropped, counted.
      const before = counted(device).malformed;
      await fake.send([Buffer.from('someone else'), Buffer.alloc(0), Buffer.from('forged')]);
      await until(10_000, 'the forged reply counted', () => counted(device).malformed === before + 1);
      await fake.send([...request.slice(0, -1), Buffer.from('answered')]);
      assert.deepEqual((await within(5000, 'reply', reply)).map(String), ['answered'], 'the client got its own reply, not the forged one');
    } finally {
      await client.close();
      fake.close();
      await device.close({ timeoutMs: 0 });
    }
  });
});
