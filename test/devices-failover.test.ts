/**
 * Several devices, as separate processes on loopback: two servers serve both
 * devices (zqueue server --connect A,B), a client that knows both makes 400
 * requests while one device is killed with SIGKILL, and every request is
 * answered; the survivor serves after the kill; the restarted device is
 * served again by both servers.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../src/client.js';
import { EXAMPLES, cli, freePort, within, type Spawned } from './helpers.js';

interface Ports {
  front: number;
  back: number;
  ctl: number;
}

async function ports(): Promise<Ports> {
  return { front: await freePort(), back: await freePort(), ctl: await freePort() };
}

function device(p: Ports): Spawned {
  return cli([
    'device',
    '--policy',
    'least-busy',
    '--frontend',
    `tcp://127.0.0.1:${p.front}`,
    '--backend',
    `tcp://127.0.0.1:${p.back}`,
    '--heartbeat',
    '200',
    '--control',
    `tcp://127.0.0.1:${p.ctl}`,
  ]);
}

/** The device's worker count, through its control socket. */
async function workers(p: Ports): Promise<number> {
  const c = cli(['ctl', `tcp://127.0.0.1:${p.ctl}`, 'stats', '--timeout', '2000']);
  if ((await c.exited) !== 0) return -1;
  return (JSON.parse(c.stdout()) as { workers: unknown[] }).workers.length;
}

async function untilWorkers(p: Ports, n: number, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  for (;;) {
    if ((await workers(p).catch(() => -1)) === n) return;
    if (performance.now() > deadline) throw new Error(`the device did not have ${n} workers within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('several devices: servers serve each, clients fail over', () => {
  const procs: Spawned[] = [];
  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
  });
  const spawn = (s: Spawned): Spawned => {
    procs.push(s);
    return s;
  };

  it('400 requests while one of two devices is killed -9: all answered; the survivor serves; the restarted one is served again by both servers', async () => {
    const a = await ports();
    const b = await ports();
    let devA = spawn(device(a));
    spawn(device(b));
    const backends = `tcp://127.0.0.1:${a.back},tcp://127.0.0.1:${b.back}`;
    for (let i = 0; i < 2; i++) spawn(cli(['server', '--connect', backends, '--handler', join(EXAMPLES, 'echo.js'), '--heartbeat', '200']));
    await untilWorkers(a, 2, 20_000);
    await untilWorkers(b, 2, 20_000);
    const client = new Client({ endpoints: [`tcp://127.0.0.1:${a.front}`, `tcp://127.0.0.1:${b.front}`], timeoutMs: 1000, retries: 5 });
    try {
      let answered = 0;
      let afterKill = 0;
      let killed = false;
      for (let i = 0; i < 400; i++) {
        if (i === 150) {
          devA.kill('SIGKILL');
          await devA.exited;
          killed = true;
        }
        const [reply] = await within(30_000, `request ${i}`, client.request(`r${i}`));
        assert.equal(String(reply), `r${i}`, 'each request gets its own reply');
        answered++;
        if (killed) afterKill++;
      }
      assert.equal(answered, 400);
      assert.equal(afterKill, 250, 'the survivor served every request after the kill');
      assert.ok(client.stats().failovers >= 1, `requests failed over to the survivor (${client.stats().failovers})`);
      // The killed device comes back on the same ports, and both servers rejoin it by themselves.
      devA = spawn(device(a));
      await untilWorkers(a, 2, 30_000);
      const only = new Client({ endpoint: `tcp://127.0.0.1:${a.front}`, timeoutMs: 2000, retries: 2 });
      try {
        assert.deepEqual((await only.request('back')).map(String), ['back']);
      } finally {
        await only.close();
      }
    } finally {
      await client.close();
    }
  });

  it('one client with 1000 requests in flight over both devices while one is killed -9: every request answered, its own reply', async () => {
    const a = await ports();
    const b = await ports();
    const devA = spawn(device(a));
    spawn(device(b));
    const backends = `tcp://127.0.0.1:${a.back},tcp://127.0.0.1:${b.back}`;
    for (let i = 0; i < 2; i++)
      spawn(
        cli(['server', '--connect', backends, '--handler', join(EXAMPLES, 'sleep.js'), '--concurrency', '64', '--heartbeat', '200'], {
          ZQ_SLEEP_MS: '20',
        }),
      );
    await untilWorkers(a, 2, 20_000);
    await untilWorkers(b, 2, 20_000);
    const client = new Client({ endpoints: [`tcp://127.0.0.1:${a.front}`, `tcp://127.0.0.1:${b.front}`], timeoutMs: 1000, retries: 5 });
    try {
      let answered = 0;
      let third: () => void = () => {};
      const midway = new Promise<void>((resolve) => (third = resolve));
      const requests = Array.from({ length: 1000 }, async (_, i) => {
        const reply = await client.request(`m${i}`);
        if (++answered === 330) third();
        assert.deepEqual(reply.map(String), ['done', `m${i}`], 'each request gets its own reply');
      });
      // Midway: once a third are answered, the other two thirds being in flight or waiting.
      await within(30_000, 'a third answered', midway);
      devA.kill('SIGKILL');
      await within(60_000, 'every request', Promise.all(requests));
      const s = client.stats();
      assert.equal(s.replies, 1000);
      assert.equal(s.failures, 0);
      assert.ok(
        s.retries > 0 && s.failovers > 0,
        `requests held by the killed device were retried on the other (${s.retries} retries, ${s.failovers} failovers)`,
      );
    } finally {
      await client.close();
    }
  });
});
