import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { connectUrlFor } from '../src/endpoints.js';
import { ENGINES } from '../src/options.js';
import { TRANSPORTS, endpointFor, removeTempDirs } from './helpers.js';

after(removeTempDirs);

const CLIENTS = 50;
const REQUESTS_EACH = 6;
const SERVERS = 3;

for (const transport of TRANSPORTS) {
  for (const engine of ENGINES) {
    describe(`device relay over ${transport}, engine ${engine}`, () => {
      it(`${CLIENTS} concurrent clients each get their own replies from ${SERVERS} servers`, async () => {
        const device = await new Device({
          frontend: endpointFor(transport, 'front'),
          backend: endpointFor(transport, 'back'),
          engine,
        }).start();
        const served = new Map<string, number>();
        const servers = await Promise.all(
          Array.from({ length: SERVERS }, (_, i) =>
            new Server(
              (req) => {
                served.set(`s${i}`, (served.get(`s${i}`) ?? 0) + 1);
                return [`s${i}`, ...req];
              },
              { endpoint: connectUrlFor(device.backendEndpoint) },
            ).start(),
          ),
        );
        await Promise.all(servers.map((s) => s.connected()));
        if (transport !== 'inproc') await device.waitForPeers('backend', SERVERS);
        const clients = Array.from(
          { length: CLIENTS },
          () => new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs: 5000, retries: 0 }),
        );
        try {
          await Promise.all(
            clients.map(async (client, c) => {
              for (let r = 0; r < REQUESTS_EACH; r++) {
                const body = `client ${c} request ${r}`;
                const reply = await client.request(body);
                assert.equal(reply.length, 2);
                assert.match(reply[0]?.toString() ?? '', /^s\d$/);
                assert.equal(reply[1]?.toString(), body);
              }
            }),
          );
          const total = [...served.values()].reduce((a, b) => a + b, 0);
          assert.equal(total, CLIENTS * REQUESTS_EACH);
          assert.equal(served.size, SERVERS, 'every server took part');
          const stats = device.stats();
          assert.equal(stats.engine, engine);
          if (stats.engine === 'js') {
            assert.equal(stats.answered, CLIENTS * REQUESTS_EACH);
            assert.equal(stats.frontendTraffic.messagesIn, CLIENTS * REQUESTS_EACH);
            assert.equal(stats.frontendTraffic.messagesOut, CLIENTS * REQUESTS_EACH);
            assert.equal(stats.inFlight, 0);
            assert.equal(stats.control, SERVERS, 'each server announced READY once');
          }
        } finally {
          await Promise.all(clients.map((c) => c.close()));
          await Promise.all(servers.map((s) => s.close()));
          await device.close();
        }
        assert.equal(device.stats().state, 'closed');
      });
    });
  }
}
