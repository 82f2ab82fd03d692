/**
 * A cold start behind DNS: devices not up yet, so their name has no records.
 * zqueue server stays up, says so once, and joins the device when its record
 * appears; a client's request waits for a device within its attempts and is
 * answered once one is found.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../src/client.js';
import { createDevice } from '../src/device/device.js';
import { DnsServer, EXAMPLES, cli, dnsmasqMissing, freePort, until, within } from './helpers.js';

const NAME = 'devices.zq.test';

describe('a cold start behind DNS (dnsmasq on loopback)', () => {
  const skip = dnsmasqMissing();
  const dns = new DnsServer(NAME);
  after(() => dns.remove());

  it(
    'zqueue server stays up with no records, says so once, and joins the device when it appears; a client waiting meanwhile is answered',
    { skip },
    async () => {
      await dns.start([]);
      const front = await freePort();
      const back = await freePort();
      const device = await createDevice({
        policy: 'least-busy',
        frontend: `tcp://127.0.0.2:${front}`,
        backend: `tcp://127.0.0.2:${back}`,
        heartbeatIntervalMs: 250,
      });
      const health = await freePort();
      const server = cli([
        'server',
        '--connect',
        `dns://127.0.0.1:${dns.port}/${NAME}:${back}`,
        '--handler',
        join(EXAMPLES, 'echo.js'),
        '--heartbeat',
        '250',
        '--health',
        String(health),
      ]);
      const probe = async (path: string): Promise<[number, string]> => {
        const r = await fetch(`http://127.0.0.1:${health}${path}`);
        return [r.status, (await r.text()).trim()];
      };
      const client = new Client({ endpoint: `dns://127.0.0.1:${dns.port}/${NAME}:${front}`, timeoutMs: 3000, retries: 3 });
      try {
        // Three lookups (A and AAAA each), a second apart, with nothing found.
        await within(
          15_000,
          'three lookups',
          until(15_000, 'dnsmasq asked three times', () => dns.queries() >= 6),
        );
        const waiting = client.request('hello');
        assert.equal(server.child.exitCode, null, 'the server is still running');
        const said = server
          .stderr()
          .split('\n')
          .filter((l) => l.includes('cannot resolve'));
        assert.equal(said.length, 1, `said once: ${server.stderr()}`);
        assert.match(said[0] ?? '', /waiting for devices/);
        // Alive, and not ready: it serves no device yet.
        assert.deepEqual(await probe('/healthz'), [200, 'ok']);
        assert.deepEqual(await probe('/readyz'), [503, 'no device served yet']);
        dns.set(['127.0.0.2']);
        await within(15_000, 'the server joins the device', device.waitForWorkers(1));
        await within(5000, 'the server says so', server.waitFor(`joined the device at tcp://127.0.0.2:${back}`));
        assert.deepEqual(await probe('/readyz'), [200, 'serving 1 device']);
        assert.deepEqual((await within(15_000, 'the waiting request', waiting)).map(String), ['hello']);
      } finally {
        await client.close();
        server.kill('SIGTERM');
        await server.exited;
        await device.close();
      }
    },
  );
});
