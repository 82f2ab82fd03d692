/**
 * Scenario: what watching the device costs. The least-busy js device over
 * tcp, 100 closed-loop clients, in four variants run interleaved:
 *
 * - `bare`: no latency histogram (recordLatency false), nothing attached;
 * - `latency`: the default device (latency histogram on);
 * - `metrics`: the default device, a Prometheus /metrics server scraped every
 *   100 ms by another process (150× more often than Prometheus's default
 *   15 s) and the stats line computed every second;
 * - `tap`: the default device with the tap on and `zqueue tap` subscribed
 *   (its output thrown away).
 *
 * Each variant's throughput and device CPU per request are compared with
 * `bare`'s from the same run.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generators } from '../src/load/generators.js';
import { merge, summarize } from '../src/load/histogram.js';
import type { Progress } from './lib/progress.js';
import type { CellRun, ObservabilityPoint } from './lib/results.js';
import type { DeviceVariant } from './lib/topology.js';
import { median, runOnce } from './throughput.js';
import { MetricsServer } from '../src/operate/http.js';
import { StatsLine } from '../src/operate/stats-line.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

/** Scrapes the URL in argv[1] every 100 ms until SIGTERM. */
const SCRAPER = `
const url = process.argv[1];
const timer = setInterval(() => { fetch(url).then((r) => r.text()).catch(() => {}); }, 100);
process.on('SIGTERM', () => clearInterval(timer));
`;

export const VARIANTS: readonly DeviceVariant[] = [
  { name: 'bare', options: () => ({ recordLatency: false }) },
  { name: 'latency' },
  {
    name: 'metrics',
    attach: async (device) => {
      const server = await MetricsServer.start(device, { host: '127.0.0.1', port: 0 });
      const line = new StatsLine(device);
      // The scraper is a process of its own, as Prometheus would be.
      const scraper = spawn(process.execPath, ['-e', SCRAPER, server.url], { stdio: ['ignore', 'ignore', 'inherit'] });
      const exited = once(scraper, 'exit');
      const liner = setInterval(() => line.next(), 1000);
      return async () => {
        clearInterval(liner);
        scraper.kill('SIGTERM');
        await exited;
        await server.close();
      };
    },
  },
  {
    name: 'tap',
    options: (dir) => ({ tap: `ipc://${join(dir, 'tap.sock')}` }),
    attach: async (device) => {
      const s = device.stats();
      const endpoint = s.counted ? (s.tap?.endpoint ?? '') : '';
      const subscribed = once(device, 'tap');
      const child = spawn(process.execPath, [CLI, 'tap', endpoint], { stdio: 'ignore' });
      const exited = once(child, 'exit');
      await subscribed;
      return async () => {
        child.kill('SIGTERM');
        await exited;
      };
    },
  },
];

export interface ObservabilityOptions {
  readonly durationMs: number;
  readonly clients: number;
  readonly repeats?: number;
}

export async function runObservability(o: ObservabilityOptions, progress: Progress): Promise<ObservabilityPoint[]> {
  const repeats = o.repeats ?? 3;
  const runs = new Map<string, CellRun[]>(VARIANTS.map((v) => [v.name, []]));
  const gens = await Generators.spawn('process', 1);
  const total = VARIANTS.length * repeats;
  let done = 0;
  try {
    for (let r = 0; r < repeats; r++) {
      for (const variant of r % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
        progress.tick(done++, total, `observability: ${variant.name}`);
        const run = await runOnce(
          { transport: 'tcp', mode: 'least-busy', clients: o.clients, size_bytes: 16 },
          gens,
          {
            transports: [],
            modes: [],
            clients: [],
            inFlight: [],
            sizes: [],
            durationMs: o.durationMs,
            repeats: 1,
            servers: 2,
            clientsPerGenerator: o.clients,
            warmupTimeoutMs: 60_000,
            requestTimeoutMs: 30_000,
          },
          variant,
        );
        runs.get(variant.name)?.push(run);
      }
    }
  } finally {
    await gens.close();
  }
  const bare = runs.get('bare') ?? [];
  const baseTput = median(bare.map((r) => r.throughput_rps));
  const baseCpu = median(bare.map((r) => r.cpu.device_us_per_req));
  return VARIANTS.map((v) => {
    const rs = runs.get(v.name) ?? [];
    const h = merge(rs.map((r) => r.histogram));
    const l = summarize(h);
    h.destroy();
    const tput = median(rs.map((r) => r.throughput_rps));
    const cpu = median(rs.map((r) => r.cpu.device_us_per_req));
    return {
      variant: v.name,
      throughput_rps: Math.round(tput),
      ratio_to_bare: baseTput > 0 ? Math.round((tput / baseTput) * 100) / 100 : 0,
      p50_us: l.p50_us,
      p99_us: l.p99_us,
      device_us_per_req: Math.round(cpu * 100) / 100,
      cpu_ratio_to_bare: baseCpu > 0 ? Math.round((cpu / baseCpu) * 100) / 100 : 0,
      errors: rs.reduce((n, r) => n + r.errors + r.timeouts, 0),
    };
  });
}
