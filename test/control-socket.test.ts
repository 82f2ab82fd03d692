/** Steering a running device: pause and resume lose nothing; the control socket refuses what it does not know. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as zmq from 'zeromq';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { ErrorCode } from '../src/errors.js';
import { connectUrlFor } from '../src/endpoints.js';
import { ControlServer, checkControlEndpoint, handlePauseSignals, sendControl } from '../src/operate/control.js';
import { parseErrorReply } from '../src/protocol.js';
import { cli, endpointFor, freePort, removeTempDirs, until, within } from './helpers.js';

after(removeTempDirs);

/** Resolves true if `p` settles within `ms`: for asserting that something does NOT happen while paused. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((res) => (timer = setTimeout(() => res(false), ms))),
  ]);
  clearTimeout(timer);
  return r;
}

async function setUp(): Promise<{ device: Device; server: Server; clients: Client[]; close: () => Promise<void> }> {
  const device = await new Device({
    frontend: 'tcp://127.0.0.1:*',
    backend: endpointFor('inproc', 'ctl-back'),
    engine: 'js',
    policy: 'least-busy',
  }).start();
  const server = await new Server((req) => req, { endpoint: connectUrlFor(device.backendEndpoint) }).start();
  await device.waitForWorkers(1);
  const clients = Array.from(
    { length: 10 },
    () => new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 10_000, retries: 0 }),
  );
  return {
    device,
    server,
    clients,
    close: async () => {
      await Promise.all(clients.map((c) => c.close()));
      await server.close();
      await device.close();
    },
  };
}

describe('control', () => {
  it('pause stops intake, resume restarts it, and every request sent meanwhile is answered (control socket)', async () => {
    const { device, clients, close } = await setUp();
    const ctl = await ControlServer.start(device, endpointFor('ipc', 'ctl'), () => {});
    try {
      assert.equal(await sendControl(ctl.endpoint, 'pause'), 'ok paused');
      const pending = clients.map((c, i) => c.request(`while paused ${i}`));
      assert.equal(await settlesWithin(Promise.race(pending), 300), false, 'no reply while paused');
      const paused = device.stats();
      assert.ok(paused.counted);
      assert.equal(paused.state, 'paused');
      assert.equal(paused.frontendTraffic.messagesIn, 0, 'requests wait, untaken');
      assert.equal(await sendControl(ctl.endpoint, 'resume'), 'ok running');
      const replies = await Promise.all(pending);
      assert.deepEqual(
        replies.map((r) => r[0]?.toString()),
        clients.map((_, i) => `while paused ${i}`),
      );
      const stats = JSON.parse(await sendControl(ctl.endpoint, 'stats')) as { answered: number; state: string };
      assert.deepEqual({ answered: stats.answered, state: stats.state }, { answered: clients.length, state: 'running' });
    } finally {
      await ctl.close();
      await ctl.close();
      await close();
    }
  });

  it('refuses unknown commands and multi-frame messages with an error reply, and keeps serving', async () => {
    const { device, close } = await setUp();
    let stops = 0;
    const ctl = await ControlServer.start(device, 'tcp://127.0.0.1:*', () => stops++);
    const raw = new zmq.Request({ linger: 0 });
    try {
      await assert.rejects(sendControl(ctl.endpoint, 'reboot'), {
        code: ErrorCode.BadRequest,
        message: /unknown command "reboot"; use pause, resume, stats, stop/,
      });
      raw.connect(ctl.endpoint);
      await raw.send(['pause', 'now']);
      assert.equal(parseErrorReply(await raw.receive())?.kind, 'bad-request');
      assert.equal(device.stats().state, 'running', 'a refused command changes nothing');
      assert.equal(await sendControl(ctl.endpoint, 'stop'), 'ok stopping');
      await until(2000, 'stop callback', () => stops > 0);
      assert.equal(stops, 1);
    } finally {
      raw.close();
      await ctl.close();
      await close();
    }
  });

  it('binds only where this host alone can reach it', () => {
    for (const ok of ['ipc:///tmp/zq-ctl', 'tcp://127.0.0.1:5570', 'tcp://localhost:*', 'tcp://[::1]:5570']) checkControlEndpoint(ok);
    for (const bad of ['tcp://*:5570', 'tcp://0.0.0.0:5570', 'tcp://10.1.2.3:5570', 'inproc://ctl']) {
      assert.throws(() => checkControlEndpoint(bad), { code: ErrorCode.InvalidOption, message: /option "control"/ });
    }
  });

  it('times out with a clear error when nothing answers', async () => {
    const port = await freePort();
    await assert.rejects(sendControl(`tcp://127.0.0.1:${port}`, 'stats', 200), {
      code: ErrorCode.Timeout,
      message: /no answer from the control socket/,
    });
  });

  it('SIGUSR1 pauses and SIGUSR2 resumes', async () => {
    const { device, close } = await setUp();
    const unhook = handlePauseSignals(device);
    // Node 26's test runner starts each file's process with reportOnSignal on (SIGUSR2): a diagnostic
    // report would land in the working directory. zqueue's own processes do not set it.
    const reportOnSignal = process.report.reportOnSignal;
    process.report.reportOnSignal = false;
    try {
      const paused = once(device, 'state');
      process.kill(process.pid, 'SIGUSR1');
      assert.deepEqual(await paused, ['paused']);
      const resumed = once(device, 'state');
      process.kill(process.pid, 'SIGUSR2');
      assert.deepEqual(await resumed, ['running']);
    } finally {
      process.report.reportOnSignal = reportOnSignal;
      unhook();
      await close();
    }
    assert.equal(process.listenerCount('SIGUSR1'), 0, 'listeners removed');
  });
});

describe('zqueue device --control, ctl and tap', () => {
  it('is steered and watched from the command line, and stops on "ctl stop" with exit 0', async () => {
    const [front, back] = [await freePort(), await freePort()];
    const ctlEp = endpointFor('ipc', 'cli-ctl');
    const tapEp = endpointFor('ipc', 'cli-tap');
    const device = cli([
      'device',
      '--frontend',
      `tcp://127.0.0.1:${front}`,
      '--backend',
      `tcp://127.0.0.1:${back}`,
      '--policy',
      'least-busy',
      '--control',
      ctlEp,
      '--tap',
      tapEp,
      '--log-format',
      'json',
    ]);
    const server = cli(['server', '--connect', `tcp://127.0.0.1:${back}`, '--delay', '0', '--quiet']);
    let tap: ReturnType<typeof cli> | undefined;
    try {
      await within(10_000, 'device up', device.waitFor('"event":"control"'));
      await within(10_000, 'server joins', device.waitFor('"event":"worker-joined"'));
      tap = cli(['tap', connectUrlFor(tapEp), '--count', '2']);
      await within(5000, 'tap subscribes', device.waitFor('"event":"tap-subscriptions"'));
      const client = new Client({ endpoint: `tcp://127.0.0.1:${front}`, timeoutMs: 5000, retries: 0, batching: false });
      try {
        await client.request('hello tap');
      } finally {
        await client.close();
      }
      assert.equal(await within(5000, 'tap exits', tap.exited), 0);
      // The envelope: the client's routing id, then its deadline frame ("ZQDL" and the ms left).
      assert.match(
        tap.stdout(),
        /^in {2}\[5\] [0-9a-f]{10} \| \[16\] 5a51444c[0-9a-f]{24} \| "" \| "hello tap"\nout \[5\] [0-9a-f]{10} \| \[16\] 5a51444c[0-9a-f]{24} \| "" \| "World from server \d+"\n$/,
      );
      const ctl = (args: string[]) => cli(['ctl', connectUrlFor(ctlEp), ...args]);
      const paused = ctl(['pause']);
      assert.equal(await within(5000, 'ctl pause', paused.exited), 0);
      assert.equal(paused.stdout().trim(), 'ok paused');
      const bad = ctl(['explode']);
      assert.equal(await within(5000, 'ctl explode', bad.exited), 1);
      assert.match(bad.stderr(), /^zqueue ctl: unknown command "explode"/);
      const stop = ctl(['stop']);
      assert.equal(await within(5000, 'ctl stop', stop.exited), 0);
      assert.equal(await within(5000, 'device exits', device.exited), 0, device.stderr());
      const events = device
        .stderr()
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { event: string }).event);
      assert.deepEqual(
        events.filter((e) => !e.startsWith('worker') && !e.startsWith('tap')),
        ['bound', 'control', 'paused', 'stopping', 'draining', 'closed'],
      );
    } finally {
      tap?.kill();
      server.kill();
      device.kill();
      await Promise.all([server.exited, device.exited, tap?.exited]);
    }
  });
});
