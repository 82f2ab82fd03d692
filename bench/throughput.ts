/**
 * Scenario: the matrix. For each transport, device mode and client count,
 * closed-loop clients hammer echo servers on worker threads through the
 * device (or straight, `direct`); the clock starts once every client has had
 * a first reply. Repeats run interleaved (forward, then backward) so that a
 * drift of the machine spreads evenly over the cells.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Generators, type GeneratorKind } from '../src/load/generators.js';
import { merge, summarize, encode } from '../src/load/histogram.js';
import { descriptors, selfCpuMicros, threadCpuMicros, osThreadId } from '../src/load/cpu.js';
import { INPROC_MAX_FRAME } from '../src/endpoints.js';
import { setUp, type BenchTransport, type DeviceVariant, type Mode } from './lib/topology.js';
import { cellId, inFlightOf, type CellKey, type CellResult, type CellRun } from './lib/results.js';
import type { Progress } from './lib/progress.js';

export interface MatrixOptions {
  readonly transports: readonly BenchTransport[];
  readonly modes: readonly Mode[];
  readonly clients: readonly number[];
  /** Multiplexed cells: one client with each of these many requests in flight, least-busy, on each transport ([]: none). */
  readonly inFlight: readonly number[];
  readonly sizes: readonly number[];
  readonly durationMs: number;
  readonly repeats: number;
  readonly servers: number;
  /** Most clients one load generator holds. */
  readonly clientsPerGenerator: number;
  readonly warmupTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** A handler module other than echo (the tests inject failures with it). */
  readonly handler?: string;
}

export function matrix(o: MatrixOptions): CellKey[] {
  const cells: CellKey[] = [];
  for (const transport of o.transports) {
    for (const mode of o.modes) {
      // Clients straight to servers over tcp-inproc is tcp direct: measured once, as tcp.
      if (mode === 'direct' && transport === 'tcp-inproc') continue;
      for (const clients of o.clients) {
        for (const size_bytes of o.sizes) {
          // Over inproc zqueue's own ends carry any size (src/inproc.ts); libzmq's proxy passes frames
          // on as they are, so the native engine is measured there at 128 bytes or less only.
          if (transport !== 'tcp' && transport !== 'ipc' && size_bytes > INPROC_MAX_FRAME && mode === 'native') continue;
          cells.push({ transport, mode, clients, size_bytes });
        }
      }
    }
    // One zqueue Client carrying many requests at once: the batched wire, which least-busy speaks.
    if (o.modes.includes('least-busy'))
      for (const in_flight of o.inFlight)
        cells.push({ transport, mode: 'least-busy', clients: 1, size_bytes: o.sizes[0] ?? 16, in_flight });
  }
  return cells;
}

/** inproc clients must share the device's process: threads. tcp/ipc clients get processes of their own. */
export function generatorKind(transport: BenchTransport): GeneratorKind {
  return transport === 'inproc' ? 'thread' : 'process';
}

/** A cell whose clients did not all get a first reply in time: reported with its diagnosis, not a failure of the run. */
export class WarmupError extends Error {}

/** One measured run of a cell on its own topology. */
export async function runOnce(key: CellKey, gens: Generators, o: MatrixOptions, variant?: DeviceVariant): Promise<CellRun> {
  const topo = await setUp({
    transport: key.transport,
    mode: key.mode,
    servers: o.servers,
    clients: key.clients,
    ...(o.handler !== undefined ? { handler: o.handler } : {}),
    ...(variant !== undefined ? { variant } : {}),
  });
  const mainTid = osThreadId();
  try {
    // Thousands of tcp clients take a while to connect here: allow 15 ms each beyond the floor.
    const warmupLimit = Math.max(o.warmupTimeoutMs, key.clients * 15);
    try {
      await gens.warm(
        { endpoints: topo.clientEndpoints, size: key.size_bytes, timeoutMs: o.requestTimeoutMs, inFlight: inFlightOf(key) },
        key.clients,
        warmupLimit,
      );
    } catch (err) {
      const d = await gens.diagnose();
      const s = topo.deviceStats();
      const peers = s !== undefined ? `; the device saw ${s.peers.frontend} client connections` : '';
      const fds = descriptors();
      const files = `; descriptors: this process ${fds?.open ?? '?'} of ${fds?.limit ?? '?'}, busiest load generator ${d.fds} of ${d.fdLimit}`;
      throw new WarmupError(
        `${d.waiting} of ${d.clients} clients got no first reply within ${warmupLimit} ms (${d.waitingAttempts} attempts of ${o.requestTimeoutMs} ms among them); ` +
          `${d.warmed} did, ${d.warmedAfterRetry} of them only after a resend, first replies p50 ${d.firstReplyP50Ms} ms, last ${d.firstReplyMaxMs} ms${peers}${files}`,
        { cause: err },
      );
    }
    const serverCpu = (): number => topo.serverTids.reduce<number>((n, tid) => n + threadCpuMicros(tid), 0);
    const inProcessGens = gens.kind === 'thread';
    const cpu0 = { proc: selfCpuMicros(), main: threadCpuMicros(mainTid), servers: serverCpu(), gens: gens.cpuMicros() };
    const t0 = performance.now();
    gens.measure();
    await sleep(o.durationMs);
    const reportsPromise = gens.stop();
    const elapsed = performance.now() - t0;
    const cpu1 = { proc: selfCpuMicros(), main: threadCpuMicros(mainTid), servers: serverCpu(), gens: gens.cpuMicros() };
    const reports = await reportsPromise;
    const rss = process.memoryUsage().rss;
    const merged = merge(reports.map((r) => r.histogram));
    const requests = reports.reduce((n, r) => n + r.count, 0);
    const servers = cpu1.servers - cpu0.servers;
    const loadgen = cpu1.gens - cpu0.gens;
    const device = Math.max(0, cpu1.proc - cpu0.proc - servers - (inProcessGens ? loadgen : 0));
    const firstError = reports.find((r) => r.firstError !== undefined)?.firstError;
    const run: CellRun = {
      elapsed_ms: Math.round(elapsed),
      requests,
      throughput_rps: Math.round((requests / elapsed) * 1000),
      errors: reports.reduce((n, r) => n + r.errors, 0),
      timeouts: reports.reduce((n, r) => n + r.timeouts, 0),
      ...(firstError !== undefined ? { first_error: firstError } : {}),
      latency: summarize(merged),
      histogram: encode(merged),
      cpu: {
        device_us: Math.round(device),
        device_thread_us: Math.round(cpu1.main - cpu0.main),
        servers_us: Math.round(servers),
        loadgen_us: Math.round(loadgen),
        device_us_per_req: requests > 0 ? Math.round((device / requests) * 100) / 100 : 0,
      },
      rss_bytes: rss,
    };
    merged.destroy();
    return run;
  } catch (err) {
    await gens.stop().catch(() => []);
    throw err;
  } finally {
    await topo.close();
  }
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? 0 : s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

export function summarizeCell(key: CellKey, runs: readonly CellRun[], error?: string, notWarmed?: string): CellResult {
  const id = cellId(key);
  if (notWarmed !== undefined && runs.length === 0) return { ...key, id, status: 'not-warmed', diagnosis: notWarmed, runs };
  if (error !== undefined || runs.length === 0) return { ...key, id, status: 'failed', error: error ?? 'no run completed', runs };
  const merged = merge(runs.map((r) => r.histogram));
  const result: CellResult = {
    ...key,
    id,
    status: 'ok',
    runs,
    summary: {
      throughput_rps: Math.round(median(runs.map((r) => r.throughput_rps))),
      latency: summarize(merged),
      errors: runs.reduce((n, r) => n + r.errors, 0),
      timeouts: runs.reduce((n, r) => n + r.timeouts, 0),
      device_us_per_req: median(runs.map((r) => r.cpu.device_us_per_req)),
      histogram: encode(merged),
    },
  };
  merged.destroy();
  return result;
}

/** Runs every cell `repeats` times, interleaved, and returns one result per cell. */
export async function runMatrix(o: MatrixOptions, progress: Progress): Promise<CellResult[]> {
  const cells = matrix(o);
  const runs = new Map<string, CellRun[]>(cells.map((c) => [cellId(c), []]));
  const errors = new Map<string, string>();
  const cold = new Map<string, string>();
  const maxClients = Math.max(0, ...o.clients);
  const perKind = Math.max(1, Math.ceil(maxClients / o.clientsPerGenerator));
  const gens = new Map<GeneratorKind, Generators>();
  const total = cells.length * o.repeats;
  let done = 0;
  try {
    for (let r = 0; r < o.repeats; r++) {
      const order = r % 2 === 0 ? cells : [...cells].reverse();
      for (const key of order) {
        const id = cellId(key);
        progress.tick(done, total, `${id} (repeat ${r + 1}/${o.repeats})`);
        done++;
        if (errors.has(id) || cold.has(id)) continue;
        const kind = generatorKind(key.transport);
        let g = gens.get(kind);
        if (g === undefined) {
          g = await Generators.spawn(kind, perKind);
          gens.set(kind, g);
        }
        try {
          runs.get(id)?.push(await runOnce(key, g, o));
        } catch (err) {
          if (err instanceof WarmupError) cold.set(id, err.message);
          else errors.set(id, err instanceof Error ? err.message : String(err));
        }
      }
    }
    progress.tick(total, total, 'done');
  } finally {
    for (const g of gens.values()) await g.close();
  }
  return cells.map((key) => summarizeCell(key, runs.get(cellId(key)) ?? [], errors.get(cellId(key)), cold.get(cellId(key))));
}
