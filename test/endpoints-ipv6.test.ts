/**
 * IPv6 on loopback ([::1]): a device bound there, servers and clients that
 * connect there, zqueue serve's frontend, and a dns: name with only an AAAA
 * record. libzmq refuses or ignores IPv6 addresses on a socket without ZMQ_IPV6.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../src/client.js';
import { createDevice } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { ServerGroup } from '../src/server/group.js';
import { connectUrlFor } from '../src/endpoints.js';
import { DnsServer, EXAMPLES, cli, dnsmasqMissing, freePort, within } from './helpers.js';

const echo = (req: Buffer[]): Buffer[] => req;

describe('IPv6 endpoints', () => {
  it('a least-busy device on [::1]: a server and a client connect there, and the request is answered', async () => {
    const device = await createDevice({ policy: 'least-busy', frontend: 'tcp://[::1]:*', backend: 'tcp://[::1]:*' });
    assert.match(device.frontendEndpoint, /^tcp:\/\/\[::1\]:\d+$/);
    const server = await new Server(echo, { endpoint: connectUrlFor(device.backendEndpoint) }).start();
    const client = new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 5000, retries: 0 });
    try {
      await within(5000, 'the server joins', device.waitForWorkers(1));
      assert.deepEqual((await client.request('over v6')).map(String), ['over v6']);
    } finally {
      await client.close();
      await server.close();
      await device.close();
    }
  });

  it('a client reaches a server bound on [::1] directly', async () => {
    const server = await new Server(echo, { endpoint: 'tcp://[::1]:*', bind: true }).start();
    const client = new Client({ endpoint: connectUrlFor(server.endpoint), timeoutMs: 5000, retries: 0 });
    try {
      assert.deepEqual((await client.request('direct')).map(String), ['direct']);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it("zqueue serve --frontend 'tcp://[::1]:PORT' binds and serves", async () => {
    const port = await freePort();
    const serve = cli([
      'serve',
      '--handler',
      join(EXAMPLES, 'echo.js'),
      '--threads',
      '1',
      '--frontend',
      `tcp://[::1]:${port}`,
      '--log-format',
      'json',
    ]);
    const client = new Client({ endpoint: `tcp://[::1]:${port}`, timeoutMs: 5000, retries: 2 });
    try {
      await within(15_000, 'serve bound', serve.waitFor('"event":"bound"'));
      assert.deepEqual((await client.request('serve v6')).map(String), ['serve v6']);
    } finally {
      await client.close();
      serve.kill('SIGTERM');
      assert.equal(await serve.exited, 0);
    }
  });

  describe('a dns: name with only an AAAA record', () => {
    const skip = dnsmasqMissing();
    const dns = new DnsServer('v6.zq.test');
    after(() => dns.remove());

    it('resolves to [::1]: servers join and clients are answered', { skip }, async () => {
      await dns.start(['::1']);
      const front = await freePort();
      const back = await freePort();
      const device = await createDevice({ policy: 'least-busy', frontend: `tcp://[::1]:${front}`, backend: `tcp://[::1]:${back}` });
      const group = new ServerGroup(echo, { endpoint: `dns://127.0.0.1:${dns.port}/v6.zq.test:${back}` });
      const client = new Client({ endpoint: `dns://127.0.0.1:${dns.port}/v6.zq.test:${front}`, timeoutMs: 5000, retries: 1 });
      try {
        await group.start();
        assert.deepEqual(group.endpoints, [`tcp://[::1]:${back}`]);
        await within(5000, 'the group joins', device.waitForWorkers(1));
        assert.deepEqual((await client.request('aaaa')).map(String), ['aaaa']);
      } finally {
        await client.close();
        await group.close();
        await device.close();
      }
    });
  });
});
