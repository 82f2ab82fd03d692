/**
 * SIGTERM to `zqueue device` while 100 clients are busy: it drains and exits 0,
 * for each engine, well inside its close timeout (it did not wait it out).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { ENGINES } from '../src/options.js';
import { cli, freePort, within } from './helpers.js';

const CLOSE_TIMEOUT_MS = 10_000;

describe('CLI device shutdown under load', () => {
  for (const engine of ENGINES) {
    it(`engine ${engine}: SIGTERM with 100 busy clients drains and exits 0, not waiting out its close timeout`, async () => {
      const [front, back] = [await freePort(), await freePort()];
      const device = cli([
        'device',
        '--engine',
        engine,
        '--frontend',
        `tcp://127.0.0.1:${front}`,
        '--backend',
        `tcp://127.0.0.1:${back}`,
        '--close-timeout',
        String(CLOSE_TIMEOUT_MS),
      ]);
      const servers: Server[] = [];
      const clients = Array.from({ length: 100 }, () => new Client({ endpoint: `tcp://127.0.0.1:${front}`, timeoutMs: 1000, retries: 0 }));
      let replies = 0;
      let stop = false;
      const loops: Promise<void>[] = [];
      try {
        await within(10_000, 'device starts', device.waitFor(' bound '));
        for (let i = 0; i < 2; i++) {
          servers.push(
            await new Server(
              async (req) => {
                await new Promise((r) => setTimeout(r, 1));
                return req;
              },
              { endpoint: `tcp://127.0.0.1:${back}` },
            ).start(),
          );
        }
        let firstReplies!: () => void;
        const busy = new Promise<void>((r) => (firstReplies = r));
        for (const c of clients) {
          loops.push(
            (async () => {
              while (!stop) {
                try {
                  await c.request('work');
                  if (++replies === 500) firstReplies();
                } catch {
                  return; // the device went away: this client is done
                }
              }
            })(),
          );
        }
        await within(20_000, '500 replies under load', busy);
        const t0 = performance.now();
        device.kill('SIGTERM');
        const code = await within(3 * CLOSE_TIMEOUT_MS, 'device exits', device.exited);
        const took = performance.now() - t0;
        assert.equal(code, 0, device.stderr());
        // In-flight requests take 1 ms: a drain finishes far sooner than the close timeout it would otherwise wait out.
        assert.ok(took < CLOSE_TIMEOUT_MS / 2, `exited in ${took.toFixed(0)} ms, close timeout ${CLOSE_TIMEOUT_MS} ms`);
      } finally {
        stop = true;
        await Promise.all(clients.map((c) => c.close()));
        await Promise.all(loops);
        await Promise.all(servers.map((s) => s.close({ timeoutMs: 0 })));
        device.kill('SIGKILL');
        await device.exited;
      }
    });
  }
});
