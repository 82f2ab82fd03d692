/** The seed's demo with zqueue's own commands: one device, two servers, one client. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cli, freePort, within, type Spawned } from './helpers.js';

describe('CLI: the seed demo with zqueue commands', () => {
  for (const engine of ['js', 'native']) {
    it(`zqueue device (${engine}) + two zqueue servers + zqueue client print the seed's output`, async () => {
      const [front, back] = [await freePort(), await freePort()];
      const procs: Spawned[] = [];
      try {
        const device = cli([
          'device',
          '--engine',
          engine,
          '--frontend',
          `tcp://127.0.0.1:${front}`,
          '--backend',
          `tcp://127.0.0.1:${back}`,
        ]);
        procs.push(device);
        await within(10_000, 'device starts', device.waitFor(' bound '));
        for (let i = 0; i < 2; i++) procs.push(cli(['server', '--connect', `tcp://127.0.0.1:${back}`, '--delay', '20']));
        // The first request goes out once both servers are connected: a REQ warms the path.
        const client = cli(['client', '--connect', `tcp://127.0.0.1:${front}`, '--requests', '9']);
        procs.push(client);
        assert.equal(await within(20_000, 'client ends', client.exited), 0, client.stderr());
        const lines = client.stdout().trim().split('\n');
        assert.equal(lines[0], 'Connecting to server...');
        assert.equal(lines.length, 19);
        for (let n = 1; n <= 9; n++) {
          assert.equal(lines[2 * n - 1], `Sending request  ${n} ...`);
          assert.match(lines[2 * n] ?? '', new RegExp(`^Received reply  ${n} \\[ World from server \\d+ \\]$`));
        }
        const servers = procs.slice(1, 3);
        for (const s of servers) s.kill('SIGTERM');
        for (const s of servers) assert.equal(await within(5000, 'server exits', s.exited), 0);
        const printed = servers.map((s) => s.stdout()).join('');
        assert.equal(printed.match(/^Received request: {2}Hello from \d+$/gm)?.length, 9, printed);
        device.kill('SIGINT');
        assert.equal(await within(5000, 'device exits', device.exited), 0, device.stderr());
      } finally {
        for (const p of procs) p.kill('SIGKILL');
        await Promise.all(procs.map((p) => p.exited));
      }
    });
  }
});
