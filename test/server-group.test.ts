/**
 * A server that serves several devices (ServerGroup): one socket, READY,
 * credits and heartbeats per device, so a device whose requests hold every
 * slot of its socket, or a device that is gone, never starves the others;
 * and a device that comes back is rejoined without being asked. Per
 * transport of the devices' backends.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../src/device/device.js';
import { ServerGroup } from '../src/server/group.js';
import { Client } from '../src/client.js';
import { connectUrlFor, type Transport } from '../src/endpoints.js';
import { endpointFor, removeTempDirs, until, within } from './helpers.js';

const TRANSPORTS: readonly Transport[] = ['tcp', 'ipc'];
const PERIOD = 200;

function device(backend: string): Promise<Device> {
  return new Device({ frontend: 'tcp://127.0.0.1:*', backend, policy: 'least-busy', heartbeatIntervalMs: PERIOD }).start();
}

after(removeTempDirs);

for (const transport of TRANSPORTS) {
  describe(`a server serving two devices (${transport} backends)`, () => {
    it('a device whose requests fill its slots, then one that closed, does not starve the other; the closed one, back, is rejoined', async () => {
      let a = await device(endpointFor(transport, 'group-a'));
      const b = await device(endpointFor(transport, 'group-b'));
      const aBackend = a.backendEndpoint;
      let release = (): void => {};
      const held = new Promise<void>((r) => (release = r));
      let holding = 0;
      const group = new ServerGroup(
        async (request) => {
          if (String(request[0]) === 'hold') {
            holding++;
            await held;
          }
          return request;
        },
        { endpoints: [connectUrlFor(aBackend), connectUrlFor(b.backendEndpoint)], concurrency: 2, heartbeatIntervalMs: PERIOD },
      );
      const clients: Client[] = [];
      const client = (d: Device): Client => {
        const c = new Client({ endpoint: connectUrlFor(d.frontendEndpoint), timeoutMs: 30_000, retries: 0 });
        clients.push(c);
        return c;
      };
      try {
        await group.start();
        await within(10_000, 'the group joins both', Promise.all([a.waitForWorkers(1), b.waitForWorkers(1)]));

        // A busy device: 20 requests through A that its socket's two slots hold and do not finish.
        const onA = Array.from({ length: 20 }, (_, i) => client(a).request(['hold', String(i)]));
        await until(10_000, "both of A's slots held", () => holding === 2);
        const viaB = client(b);
        for (let i = 0; i < 50; i++) assert.deepEqual((await viaB.request(`b${i}`)).map(String), [`b${i}`]);
        assert.equal(holding, 2, "B's requests went through B's own slots, not A's");
        const s = a.stats();
        assert.ok(s.counted);
        assert.equal(s.answered, 0, 'A had answered none of its held requests while B answered 50');
        release();
        const replies = await within(20_000, "A's requests", Promise.all(onA));
        assert.deepEqual(
          replies.map((r) => String(r[1])),
          Array.from({ length: 20 }, (_, i) => String(i)),
        );

        // A device that is gone: B goes on.
        await a.close({ timeoutMs: 0 });
        for (let i = 0; i < 20; i++) assert.deepEqual((await viaB.request(`after${i}`)).map(String), [`after${i}`]);

        // Back on the same endpoint: the group's socket for it rejoins by itself.
        a = await device(aBackend);
        await within(20_000, 'the group rejoins A', a.waitForWorkers(1));
        assert.deepEqual((await client(a).request('again')).map(String), ['again']);
      } finally {
        release();
        await Promise.all(clients.map((c) => c.close()));
        await group.close({ timeoutMs: 0 });
        await a.close({ timeoutMs: 0 });
        await b.close({ timeoutMs: 0 });
      }
    });
  });
}
