/** `/metrics`: valid Prometheus text whose figures match a known load; bound to loopback by default. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { ErrorCode } from '../src/errors.js';
import { connectUrlFor } from '../src/endpoints.js';
import { MetricsServer } from '../src/operate/http.js';
import { parseListenAddress } from '../src/endpoints.js';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * A strict reader of the Prometheus text format (0.0.4): every sample line
 * must parse, belong to a family announced by `# TYPE` before it, and each
 * family must have `# HELP`. Throws on anything else.
 */
function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  const family = (name: string): string | undefined => [name, name.replace(/_(sum|count|bucket|total)$/, '')].find((n) => types.has(n));
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta !== null) {
      const [, kind = '', name = '', rest = ''] = meta;
      if (kind === 'TYPE') {
        assert.match(rest, /^(counter|gauge|histogram|summary|untyped)$/, line);
        types.set(name, rest);
      } else helps.add(name);
      continue;
    }
    // Values as Prometheus reads them (Go's ParseFloat: NaN in any case, as prom-client writes "Nan").
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+-]+|[Nn][Aa][Nn]|\+Inf|-Inf)(?: \d+)?$/.exec(line);
    assert.ok(m !== null, `not a sample line: ${JSON.stringify(line)}`);
    const [, name = '', rawLabels, value = ''] = m;
    assert.ok(family(name) !== undefined, `sample ${name} before its # TYPE`);
    const labels: Record<string, string> = {};
    for (const pair of (rawLabels ?? '').split(/,(?=[a-zA-Z_])/).filter((p) => p !== '')) {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$/.exec(pair);
      assert.ok(lm !== null, `bad label ${JSON.stringify(pair)} in ${line}`);
      labels[lm[1] ?? ''] = lm[2] ?? '';
    }
    samples.push({ name, labels, value: Number(value) });
  }
  for (const name of types.keys()) assert.ok(helps.has(name), `${name} has no # HELP`);
  return { samples, types };
}

function value(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

function get(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Prometheus /metrics', () => {
  it('serves valid exposition text whose counters, gauges and quantiles match a known load', async () => {
    const device = await new Device({
      frontend: 'tcp://127.0.0.1:*',
      backend: 'inproc://metrics-test',
      engine: 'js',
      policy: 'least-busy',
    }).start();
    const server = await new Server(
      (req) => {
        if (req[0]?.toString() === 'fail') throw new Error('nope');
        return req;
      },
      { endpoint: 'inproc://metrics-test', heartbeatIntervalMs: 0 },
    ).start();
    await device.waitForWorkers(1);
    const metrics = await MetricsServer.start(device, parseListenAddress('metrics', '0', { anyPort: true }));
    const client = new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 5000, retries: 0, batching: false });
    try {
      assert.match(metrics.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'loopback unless told otherwise');
      for (let i = 0; i < 25; i++) await client.request('0123456789');
      for (let i = 0; i < 3; i++) await assert.rejects(client.request('fail'), { code: ErrorCode.Handler });
      const res = await get(metrics.url);
      assert.equal(res.status, 200);
      assert.match(res.type, /^text\/plain; version=0\.0\.4/);
      const { samples, types } = parsePrometheus(res.body);
      assert.equal(types.get('zqueue_messages_total'), 'counter');
      assert.equal(types.get('zqueue_requests_in_flight'), 'gauge');
      assert.equal(value(samples, 'zqueue_info', { engine: 'js', policy: 'least-busy', state: 'running' }), 1);
      assert.equal(value(samples, 'zqueue_messages_total', { side: 'frontend', direction: 'in' }), 28);
      assert.equal(value(samples, 'zqueue_messages_total', { side: 'frontend', direction: 'out' }), 28);
      assert.equal(value(samples, 'zqueue_messages_total', { side: 'backend', direction: 'out' }), 28);
      // Each request's envelope: a 5-byte routing id and the client's 16-byte deadline frame.
      assert.equal(value(samples, 'zqueue_bytes_total', { side: 'frontend', direction: 'in' }), 28 * (5 + 16) + 25 * 10 + 3 * 4);
      assert.equal(value(samples, 'zqueue_requests_answered_total'), 28);
      assert.equal(value(samples, 'zqueue_requests_failed_total', { kind: 'handler' }), 3);
      assert.equal(value(samples, 'zqueue_requests_failed_total', { kind: 'busy' }), 0);
      for (const reason of ['abandoned', 'expired', 'replaced', 'policy'])
        assert.equal(value(samples, 'zqueue_requests_shed_total', { reason }), 0, `shed ${reason}`);
      assert.equal(value(samples, 'zqueue_replies_dropped_total', { reason: 'unroutable' }), 0);
      assert.equal(value(samples, 'zqueue_accept_failures_total', { side: 'frontend' }), 0);
      assert.equal(value(samples, 'zqueue_requests_in_flight'), 0);
      assert.equal(value(samples, 'zqueue_requests_queued'), 0);
      assert.equal(value(samples, 'zqueue_queue_clients_waiting'), 0);
      assert.equal(value(samples, 'zqueue_queue_deepest_client'), 0);
      assert.equal(value(samples, 'zqueue_busy_per_client_total'), 0);
      assert.equal(value(samples, 'zqueue_service_workers', { service: '' }), 1);
      assert.equal(value(samples, 'zqueue_workers', { state: 'ready' }), 1);
      assert.equal(value(samples, 'zqueue_peers', { side: 'frontend' }), 1);
      const s = device.stats();
      assert.ok(s.counted);
      assert.equal(value(samples, 'zqueue_request_latency_seconds', { quantile: '0.99' }), s.latency.p99_us / 1e6);
      const p50 = value(samples, 'zqueue_request_latency_seconds', { quantile: '0.5' }) ?? -1;
      assert.ok(p50 > 0 && p50 < 5, `p50 ${p50} s`);
      assert.ok((value(samples, 'zqueue_uptime_seconds') ?? 0) > 0);
      assert.ok((value(samples, 'process_cpu_seconds_total') ?? -1) >= 0, "prom-client's process metrics are there");
      // A second scrape sees the new requests (counters are copied, not added twice).
      await client.request('again');
      const again = parsePrometheus((await get(metrics.url)).body).samples;
      assert.equal(value(again, 'zqueue_requests_answered_total'), 29);
      assert.equal(value(again, 'zqueue_requests_total'), 29, 'every request received is counted');
      assert.equal((await get(metrics.url.replace('/metrics', '/nothing'))).status, 404);
      assert.equal((await get(metrics.url, 'POST')).status, 405);
    } finally {
      await client.close();
      await metrics.close();
      await metrics.close();
      await server.close();
      await device.close();
    }
  });

  it('reports what a native device knows, without traffic counters', async () => {
    const device = await new Device({ frontend: 'tcp://127.0.0.1:*', backend: 'tcp://127.0.0.1:*', engine: 'native' }).start();
    const metrics = await MetricsServer.start(device, { host: '127.0.0.1', port: 0 });
    try {
      const { samples } = parsePrometheus(await metrics.render());
      assert.equal(value(samples, 'zqueue_info', { engine: 'native', policy: 'round-robin', state: 'running' }), 1);
      assert.equal(value(samples, 'zqueue_messages_total'), undefined);
    } finally {
      await metrics.close();
      await device.close();
    }
  });

  it('refuses a malformed address and a port in use, naming them', async () => {
    assert.deepEqual(parseListenAddress('metrics', '9100'), { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(parseListenAddress('metrics', '0.0.0.0:9100'), { host: '0.0.0.0', port: 9100 });
    assert.deepEqual(parseListenAddress('metrics', '[::1]:9100'), { host: '::1', port: 9100 });
    for (const bad of ['', 'localhost', '9100x', 'host:99999', ':9100', '0', '127.0.0.1:0']) {
      assert.throws(() => parseListenAddress('metrics', bad), {
        code: ErrorCode.InvalidOption,
        message: /option "metrics" must be PORT or HOST:PORT/,
      });
    }
    const device = await new Device({ frontend: 'tcp://127.0.0.1:*', backend: 'tcp://127.0.0.1:*' }).start();
    const first = await MetricsServer.start(device, { host: '127.0.0.1', port: 0 });
    try {
      const port = Number(new URL(first.url).port);
      await assert.rejects(MetricsServer.start(device, { host: '127.0.0.1', port }), {
        code: ErrorCode.AddressInUse,
        message: new RegExp(`127.0.0.1:${port}: address already in use`),
      });
    } finally {
      await first.close();
      await device.close();
    }
  });
});
