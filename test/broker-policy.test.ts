/**
 * Why least-busy exists: with one worker 20x slower than the other,
 * round-robin sends half the requests to the slow one and they queue behind
 * each other; least-busy gives the slow worker only what the fast one cannot
 * take. Asserted as ratios measured side by side, not as times.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBroker } from '../src/serve/broker.js';
import { Client } from '../src/client.js';
import { connectUrlFor } from '../src/endpoints.js';
import type { Policy } from '../src/options.js';
import { HANDLERS, percentile, removeTempDirs, tempDir } from './helpers.js';

after(removeTempDirs);

const CLIENTS = 6;
const REQUESTS_EACH = 30;

async function measure(policy: Policy, backend: 'inproc' | 'ipc'): Promise<{ p99: number; fastShare: number }> {
  process.env.ZQ_ROLE_DIR = tempDir();
  process.env.ZQ_SLOW_MS = '20';
  process.env.ZQ_FAST_MS = '1';
  const broker = await createBroker({
    handler: join(HANDLERS, 'slow-or-fast.js'),
    threads: 2,
    frontend: 'tcp://127.0.0.1:*',
    backend,
    policy,
  });
  const clients = Array.from(
    { length: CLIENTS },
    () => new Client({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 10_000, retries: 0 }),
  );
  const latencies: number[] = [];
  let fast = 0;
  try {
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < REQUESTS_EACH; i++) {
          const t0 = performance.now();
          const [reply] = await c.request('go');
          latencies.push(performance.now() - t0);
          if (reply?.toString().startsWith('fast') === true) fast++;
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await broker.close();
  }
  return { p99: percentile(latencies, 99), fastShare: fast / latencies.length };
}

for (const backend of ['inproc', 'ipc'] as const) {
  describe(`policies with a slow and a fast worker (${backend})`, () => {
    it('least-busy sends most requests to the fast worker and keeps p99 far below round-robin', async () => {
      const rr = await measure('round-robin', backend);
      const lb = await measure('least-busy', backend);
      assert.ok(rr.fastShare > 0.4 && rr.fastShare < 0.6, `round-robin splits evenly: ${rr.fastShare}`);
      assert.ok(lb.fastShare > 0.8, `least-busy favours the fast worker: ${lb.fastShare}`);
      assert.ok(rr.p99 / lb.p99 > 2, `p99 round-robin ${rr.p99.toFixed(1)} ms vs least-busy ${lb.p99.toFixed(1)} ms`);
    });
  });
}
