/** Lifecycle logs: one line per event, text or JSON, and none per request. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { Broker } from '../src/serve/broker.js';
import { Logger, logLifecycle } from '../src/operate/log.js';
import { ErrorCode } from '../src/errors.js';
import { connectUrlFor } from '../src/endpoints.js';
import { join } from 'node:path';
import { HANDLERS, removeTempDirs, tempDir } from './helpers.js';

after(removeTempDirs);
const at = new Date('2026-11-27T12:00:00.000Z');

describe('Logger', () => {
  it('writes text lines with quoted values where needed, and JSON objects', () => {
    const lines: string[] = [];
    new Logger(
      'text',
      (l) => lines.push(l),
      () => at,
    ).log('bound', { frontend: 'tcp://*:5559', note: 'two words', n: 3, skipped: undefined });
    new Logger(
      'json',
      (l) => lines.push(l),
      () => at,
    ).log('worker-left', { worker: 'w1', requests: 2 }, 'warn');
    assert.deepEqual(lines, [
      '2026-11-27T12:00:00.000Z zqueue bound frontend=tcp://*:5559 note="two words" n=3',
      '{"time":"2026-11-27T12:00:00.000Z","level":"warn","event":"worker-left","worker":"w1","requests":2}',
    ]);
    assert.throws(() => new Logger('xml' as 'text'), {
      code: ErrorCode.InvalidOption,
      message: /option "logFormat" must be one of "text", "json"/,
    });
  });
});

describe('logLifecycle', () => {
  it('logs bound, worker joined, paused, resumed, draining, worker left and closed, and nothing per request', async () => {
    const events: { event: string; worker?: string }[] = [];
    const logger = new Logger('json', (l) => events.push(JSON.parse(l) as { event: string }));
    const device = await new Device({
      frontend: 'tcp://127.0.0.1:*',
      backend: 'inproc://log-back',
      engine: 'js',
      policy: 'least-busy',
    }).start();
    const stop = logLifecycle(logger, device);
    const server = await new Server((req) => req, { endpoint: 'inproc://log-back', routingId: 'srv-1' }).start();
    const client = new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 5000, retries: 0 });
    try {
      await device.waitForWorkers(1);
      for (let i = 0; i < 50; i++) await client.request('x');
      device.pause();
      device.resume();
      await device.drain({ timeoutMs: 1000 });
      const left = new Promise<void>((r) => device.once('worker-left', () => r()));
      await server.close();
      await left;
    } finally {
      await client.close();
      await server.close();
      await device.close();
      stop();
    }
    assert.deepEqual(
      events.map((e) => e.event),
      ['bound', 'worker-joined', 'paused', 'resumed', 'draining', 'worker-left', 'closed'],
    );
    assert.equal(events[1]?.worker, 'srv-1');
  });

  it("logs a broker's replaced worker", async () => {
    const events: string[] = [];
    const logger = new Logger('text', (l) => events.push(l));
    const broker = await Broker.create({ handler: join(HANDLERS, 'behave.js'), threads: 1, frontend: 'tcp://127.0.0.1:*' });
    const stop = logLifecycle(logger, broker.device, broker);
    const client = new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 10_000, retries: 0 });
    try {
      const replaced = new Promise<void>((r) => broker.once('worker-replaced', () => r()));
      // The worker exits mid-request; its replacement answers the retried request.
      assert.match((await client.request(['exit-once', tempDir()]))[0]?.toString() ?? '', /^survived exit-once/);
      await replaced;
    } finally {
      await client.close();
      await broker.close();
      stop();
    }
    assert.ok(
      events.some((l) => / zqueue WARN worker-replaced slot=0 previous=zq-w0-1 worker=zq-w0-2 reason=died$/.test(l)),
      events.join('\n'),
    );
  });
});
