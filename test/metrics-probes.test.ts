/**
 * The probes a Kubernetes pod needs, on the --metrics HTTP server: /healthz
 * (alive) and /readyz (a device bound and running; for zqueue serve, a worker
 * ready too; never while paused or draining). And zqueue serve on SIGTERM:
 * not ready from then on, the request in flight still answered, then exit 0.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { Device } from '../src/device/device.js';
import { Broker } from '../src/serve/broker.js';
import { Client } from '../src/client.js';
import { MetricsServer } from '../src/operate/http.js';
import { EXAMPLES, cli, freePort, within } from './helpers.js';

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('/healthz and /readyz', () => {
  it('a device: alive, ready while running, not ready while paused or draining', async () => {
    const device = await new Device({ frontend: 'tcp://127.0.0.1:*', backend: 'tcp://127.0.0.1:*' }).start();
    const metrics = await MetricsServer.start(device, { host: '127.0.0.1', port: 0 });
    const url = (path: string): string => metrics.url.replace('/metrics', path);
    try {
      assert.deepEqual(await get(url('/healthz')), { status: 200, body: 'ok\n' });
      assert.deepEqual(await get(url('/readyz')), { status: 200, body: 'ready\n' });
      device.pause();
      assert.deepEqual(await get(url('/readyz')), { status: 503, body: 'the device is paused\n' });
      device.resume();
      assert.equal((await get(url('/readyz'))).status, 200);
      metrics.draining = true;
      assert.deepEqual(await get(url('/readyz')), { status: 503, body: 'draining\n' });
      assert.equal((await get(url('/healthz'))).status, 200, 'a draining process is still alive');
    } finally {
      await metrics.close();
      await device.close();
    }
  });

  it('zqueue serve as a library: ready once a worker thread is', async () => {
    const broker = await Broker.create({ handler: join(EXAMPLES, 'echo.js'), threads: 1, frontend: 'tcp://127.0.0.1:*' });
    const metrics = await MetricsServer.start(broker, { host: '127.0.0.1', port: 0 });
    try {
      await broker.device.waitForWorkers(1);
      await within(
        10_000,
        'the pool says its worker is ready',
        (async () => {
          while ((await get(metrics.url.replace('/metrics', '/readyz'))).status !== 200) await new Promise((r) => setTimeout(r, 20));
        })(),
      );
      // Thread restarts under their name, and under the name before it (kept for one release).
      const body = (await get(metrics.url)).body;
      assert.match(body, /^zqueue_thread_restarts_total 0$/m);
      assert.match(body, /^zqueue_worker_restarts_total 0$/m);
    } finally {
      await metrics.close();
      await broker.close();
    }
  });

  it('zqueue serve on SIGTERM: /readyz turns 503 and stays so, the request in flight is answered, then it exits 0', async () => {
    const front = await freePort();
    const port = await freePort();
    const p = cli(
      [
        'serve',
        '--handler',
        join(EXAMPLES, 'sleep.js'),
        '--threads',
        '1',
        '--frontend',
        `tcp://127.0.0.1:${front}`,
        '--metrics',
        `127.0.0.1:${port}`,
        '--close-timeout',
        '5000',
      ],
      { ZQ_SLEEP_MS: '800' },
    );
    const client = new Client({ endpoint: `tcp://127.0.0.1:${front}`, timeoutMs: 10_000, retries: 0 });
    try {
      await within(20_000, 'the first reply', client.request('warm'));
      assert.equal((await get(`http://127.0.0.1:${port}/readyz`)).status, 200);
      const inFlight = client.request('in flight');
      // The request reaches the worker (its handler waits 800 ms) before the signal: the device counts it in flight.
      await within(
        10_000,
        'the request in flight',
        (async () => {
          while (!/^zqueue_requests_in_flight 1$/m.test((await get(`http://127.0.0.1:${port}/metrics`)).body))
            await new Promise((r) => setTimeout(r, 20));
        })(),
      );
      p.kill('SIGTERM');
      const seen: number[] = [];
      const watching = (async () => {
        for (;;) {
          try {
            seen.push((await get(`http://127.0.0.1:${port}/readyz`)).status);
          } catch {
            return; // the server has closed
          }
        }
      })();
      assert.deepEqual((await within(10_000, 'the request in flight', inFlight)).map(String), ['done', 'in flight']);
      assert.equal(await within(15_000, 'zqueue serve exits', p.exited), 0, p.stderr());
      await watching;
      // The signal arrives some time after kill(): a probe may still see 200 before it; from the first 503 on, never 200 again.
      const first = seen.indexOf(503);
      assert.ok(first >= 0 && seen.slice(first).every((s) => s === 503), `readyz while draining: ${seen.join(', ')}`);
    } finally {
      await client.close();
      p.kill('SIGKILL');
    }
  });
});
