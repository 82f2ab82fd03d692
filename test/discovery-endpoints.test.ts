/**
 * dns: endpoints (src/discovery.ts): their forms and mistakes, the set an
 * `Endpoints` keeps as records change or a resolver fails, when it asks
 * again, and a client and the CLI that reach a device through the system's
 * resolver (`dns:///localhost:PORT`).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Endpoints, parseDnsEndpoint, refreshDelayMs, tcpEndpoint, type DnsTarget, type Resolution } from '../src/discovery.js';
import { parseEndpoint } from '../src/endpoints.js';
import { ErrorCode, ZqueueError } from '../src/errors.js';
import { Client } from '../src/client.js';
import { createDevice } from '../src/device/device.js';
import { createServer } from '../src/server/server.js';
import { cli, freePort, within } from './helpers.js';

const invalid = (fn: () => unknown, why: RegExp): void => {
  assert.throws(fn, (err: unknown) => err instanceof ZqueueError && err.code === ErrorCode.InvalidEndpoint && why.test(err.message));
};

describe('dns: endpoints', () => {
  it('parse as gRPC names them: dns:///NAME:PORT and dns://SERVER[:PORT]/NAME:PORT', () => {
    assert.deepEqual(parseDnsEndpoint('dns:///zqueue-devices.default.svc:5559'), {
      server: undefined,
      name: 'zqueue-devices.default.svc',
      port: 5559,
    });
    assert.deepEqual(parseDnsEndpoint('dns://10.0.0.10/devices:5560'), { server: '10.0.0.10:53', name: 'devices', port: 5560 });
    assert.deepEqual(parseDnsEndpoint('dns://127.0.0.1:5353/devices:1'), { server: '127.0.0.1:5353', name: 'devices', port: 1 });
    assert.deepEqual(parseDnsEndpoint('dns://[::1]:5353/devices:2'), { server: '[::1]:5353', name: 'devices', port: 2 });
    assert.equal(parseEndpoint('dns:///devices:5559', 'connect').transport, 'tcp');
  });

  it('refuse what they cannot use, saying why', () => {
    invalid(() => parseDnsEndpoint('dns://devices:5559'), /third slash/);
    invalid(() => parseDnsEndpoint('dns:///devices'), /NAME is a host name and PORT a number/);
    invalid(() => parseDnsEndpoint('dns:///devices:70000'), /between 1 and 65535/);
    invalid(() => parseDnsEndpoint('dns://ns.example/devices:1'), /must be an IP address/);
    invalid(() => parseEndpoint('dns:///devices:5559', 'bind'), /names devices to connect to/);
    invalid(() => parseEndpoint('dnz:///devices:5559', 'connect'), /unknown transport "dnz"/);
  });

  it('ask again when the shortest TTL runs out, within 1 s and 30 s', () => {
    assert.equal(refreshDelayMs(0), 1_000);
    assert.equal(refreshDelayMs(5), 5_000);
    assert.equal(refreshDelayMs(3600), 30_000);
    assert.equal(tcpEndpoint('::1', 5), 'tcp://[::1]:5');
  });

  it('an Endpoints set follows the records: added and removed as they change, kept when the resolver fails', async () => {
    const answers: (Resolution | Error)[] = [
      { addresses: ['10.0.0.1', '10.0.0.2'], ttlS: 0 },
      new Error('SERVFAIL'),
      { addresses: ['10.0.0.2', '10.0.0.3'], ttlS: 0 },
    ];
    const asked: number[] = [];
    const resolve = (t: DnsTarget): Promise<Resolution> => {
      assert.equal(t.name, 'devices');
      asked.push(performance.now());
      const a = answers.shift() ?? { addresses: ['10.0.0.2', '10.0.0.3'], ttlS: 60 };
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    };
    const set = new Endpoints(['tcp://127.0.0.1:9', 'dns:///devices:7'], resolve);
    const events: string[] = [];
    set.on('added', (e) => events.push(`+${e}`));
    set.on('removed', (e) => events.push(`-${e}`));
    const failed = new Promise<Error>((r) => set.once('error', r));
    assert.deepEqual(set.current, ['tcp://127.0.0.1:9'], 'plain endpoints are members from the start');
    await set.start();
    assert.deepEqual(set.current, ['tcp://127.0.0.1:9', 'tcp://10.0.0.1:7', 'tcp://10.0.0.2:7']);
    assert.match((await within(5_000, 'the failure', failed)).message, /SERVFAIL/);
    assert.deepEqual(set.current, ['tcp://127.0.0.1:9', 'tcp://10.0.0.1:7', 'tcp://10.0.0.2:7'], 'a failure keeps the last good set');
    await within(5_000, 'the next answer', new Promise((r) => set.once('removed', r)));
    set.close();
    assert.deepEqual(set.current, ['tcp://127.0.0.1:9', 'tcp://10.0.0.2:7', 'tcp://10.0.0.3:7']);
    assert.deepEqual(events, ['+tcp://10.0.0.1:7', '+tcp://10.0.0.2:7', '+tcp://10.0.0.3:7', '-tcp://10.0.0.1:7']);
    // A TTL of 0 is asked again no sooner than a second later (a failure is retried after a second too).
    for (let i = 1; i < asked.length; i++)
      assert.ok((asked[i] ?? 0) - (asked[i - 1] ?? 0) >= 950, `asked again after ${Math.round((asked[i] ?? 0) - (asked[i - 1] ?? 0))} ms`);
  });

  it('a client and zqueue client reach a device through the system resolver (dns:///localhost:PORT)', async () => {
    const front = await freePort();
    const back = await freePort();
    const device = await createDevice({ frontend: `tcp://127.0.0.1:${front}`, backend: `tcp://127.0.0.1:${back}` });
    const server = await createServer((req) => ['echo', ...req], { endpoint: `tcp://127.0.0.1:${back}` });
    const client = new Client({ endpoint: `dns:///localhost:${front}`, timeoutMs: 5000 });
    try {
      assert.deepEqual((await client.request('hi')).map(String), ['echo', 'hi']);
      const p = cli(['client', '--connect', `dns:///localhost:${front}`, '--requests', '1', '--message', 'cli']);
      assert.equal(await within(20_000, 'zqueue client', p.exited), 0, p.stderr());
      assert.match(p.stdout(), /Received reply {2}1 \[ echo cli \]/);
    } finally {
      await client.close();
      await server.close();
      await device.close();
    }
  });

  it('a Server refuses a dns: endpoint and names ServerGroup', async () => {
    await assert.rejects(
      createServer(() => [], { endpoint: 'dns:///devices:5560' }),
      (err: unknown) => err instanceof ZqueueError && err.code === ErrorCode.InvalidEndpoint && /use ServerGroup/.test(err.message),
    );
  });
});
