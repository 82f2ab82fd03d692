/**
 * zqueue with the tutorial's Python scripts (our fixtures behave as the
 * seed's), both ways. Outside CI they skip, with the reason, when pyzmq is
 * missing; under CI=true they must run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../src/device/device.js';
import { Server, seedHandler } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { ENGINES } from '../src/options.js';
import { freePort, pyzmqMissing, python, within, type Spawned } from './helpers.js';

const skip = pyzmqMissing();

const REPLY = /^Received reply {2}(\d) \[ World from server (\d+) \]$/;

/** The server ids of the seed client's replies, in order; checks the seed's output shape on the way. */
function replyIds(output: string): string[] {
  const lines = output.trim().split('\n');
  assert.equal(lines[0], 'Connecting to server...');
  const ids: string[] = [];
  for (let n = 1; n <= 9; n++) {
    assert.equal(lines[2 * n - 1], `Sending request  ${n} ...`);
    const m = REPLY.exec(lines[2 * n] ?? '');
    assert.ok(m, `reply line ${n}: ${lines[2 * n]}`);
    assert.equal(m[1], String(n));
    ids.push(m[2] ?? '');
  }
  return ids;
}

function assertAlternating(ids: readonly string[]): void {
  assert.equal(ids.length, 9);
  assert.equal(new Set(ids).size, 2, `two servers answered: ${ids.join(' ')}`);
  for (let i = 2; i < ids.length; i++) assert.equal(ids[i], ids[i - 2], `replies alternate: ${ids.join(' ')}`);
  assert.notEqual(ids[0], ids[1]);
}

describe('interop with the seed (pyzmq)', { skip }, () => {
  for (const engine of ENGINES) {
    it(`the seed's client, through the zqueue device (${engine}), to two seed servers`, async () => {
      const device = await new Device({ frontend: 'tcp://127.0.0.1:*', backend: 'tcp://127.0.0.1:*', engine }).start();
      const procs: Spawned[] = [];
      try {
        for (let i = 0; i < 2; i++) procs.push(python('seed_server.py', [device.backendEndpoint, '0.01']));
        await within(10_000, 'two seed servers connect', device.waitForPeers('backend', 2));
        const client = python('seed_client.py', [device.frontendEndpoint]);
        procs.push(client);
        assert.equal(await within(20_000, 'seed client ends', client.exited), 0, client.stderr());
        assertAlternating(replyIds(client.stdout()));
      } finally {
        for (const p of procs) p.kill('SIGKILL');
        await Promise.all(procs.map((p) => p.exited));
        await device.close();
      }
    });
  }

  it("the zqueue client and two zqueue servers, through the seed's device", async () => {
    const [front, back] = [await freePort(), await freePort()];
    const device = python('seed_device.py', [`tcp://127.0.0.1:${front}`, `tcp://127.0.0.1:${back}`]);
    const servers: Server[] = [];
    const client = new Client({ endpoint: `tcp://127.0.0.1:${front}`, timeoutMs: 5000, retries: 0 });
    try {
      await within(10_000, 'seed device binds', device.waitFor('ready'));
      const seen: string[] = [];
      for (const id of [101, 202]) {
        servers.push(
          await new Server(
            seedHandler(0, id, (line) => seen.push(line)),
            { endpoint: `tcp://127.0.0.1:${back}` },
          ).start(),
        );
      }
      await within(10_000, 'servers connect', Promise.all(servers.map((s) => s.connected())));
      // A server's own connect event comes before the device's DEALER has its pipe: until both have
      // answered once, the device may send to the first one twice. Then round robin must alternate.
      const warm = new Set<string>();
      let warmup = 0;
      while (warm.size < 2 && warmup < 20) {
        warmup++;
        const reply = await client.request(`Hello from 7`);
        warm.add(/^World from server (\d+)$/.exec(reply[0]?.toString() ?? '')?.[1] ?? '');
      }
      assert.deepEqual([...warm].sort(), ['101', '202'], 'both servers answer');
      const ids: string[] = [];
      for (let n = 1; n <= 9; n++) {
        const reply = await client.request(`Hello from 7`);
        const m = /^World from server (\d+)$/.exec(reply[0]?.toString() ?? '');
        assert.ok(m, `reply ${n}: ${reply[0]?.toString()}`);
        ids.push(m[1] ?? '');
      }
      assertAlternating(ids);
      assert.equal(seen.length, warmup + 9);
      assert.ok(seen.every((line) => line === 'Received request:  Hello from 7'));
    } finally {
      await client.close();
      await Promise.all(servers.map((s) => s.close({ timeoutMs: 0 })));
      device.kill('SIGKILL');
      await device.exited;
    }
  });
});
