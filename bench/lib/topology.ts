/**
 * What a bench cell measures: clients -> (device | nothing) -> server workers.
 * A topology is set up for one run of a cell and torn down after it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Device, type DeviceHooks, type DeviceStats } from '../../src/device/device.js';
import { Broker } from '../../src/serve/broker.js';
import { performance } from 'node:perf_hooks';
import type { DeviceOptions } from '../../src/options.js';
import { WorkerPool } from '../../src/serve/pool.js';
import { connectUrlFor } from '../../src/endpoints.js';
import type { Transport } from '../../src/endpoints.js';

/** tcp, ipc and inproc on both sides, and the production shape: tcp to clients, inproc to workers. */
export type BenchTransport = Transport | 'tcp-inproc';
export const BENCH_TRANSPORTS: readonly BenchTransport[] = ['tcp', 'ipc', 'inproc', 'tcp-inproc'];

/** `direct`: clients straight to the servers, no device: the limit the device is compared with. */
export type Mode = 'direct' | 'native' | 'js' | 'least-busy';
export const MODES: readonly Mode[] = ['direct', 'native', 'js', 'least-busy'];

export const ECHO = fileURLToPath(new URL('../../../examples/echo.js', import.meta.url));

export interface Topology {
  /** What the clients connect to (one endpoint per server when direct). */
  readonly clientEndpoints: readonly string[];
  readonly serverTids: readonly (number | undefined)[];
  deviceStats(): DeviceStats | undefined;
  close(): Promise<void>;
}

let n = 0;

/**
 * The regression gate's proof runs inject a known slowdown into the js
 * device, µs of busy-work per request, through the device's measuring seam
 * (DeviceHooks). scripts/gate-rates.ts sets it; ZQ_BENCH_INJECT_US sets it in
 * a bench process. Nothing else does, so the bench measures a bare device.
 */
export const injected = { spinUs: Math.max(0, Number(process.env.ZQ_BENCH_INJECT_US ?? 0) || 0) };

function benchHooks(): DeviceHooks {
  if (injected.spinUs <= 0) return {};
  const us = injected.spinUs;
  return {
    onRequest: () => {
      const end = performance.now() + us / 1000;
      while (performance.now() < end);
    },
  };
}

function sides(
  transport: BenchTransport,
  dir: string,
): { front: Transport; back: Transport; endpoint: (t: Transport, label: string) => string } {
  n++;
  const endpoint = (t: Transport, label: string): string =>
    t === 'tcp'
      ? 'tcp://127.0.0.1:*'
      : t === 'ipc'
        ? `ipc://${join(dir, `${label}-${n}.sock`)}`
        : `inproc://zq-bench-${label}-${process.pid}-${n}`;
  if (transport === 'tcp-inproc') return { front: 'tcp', back: 'inproc', endpoint };
  return { front: transport, back: transport, endpoint };
}

export interface TopologyOptions {
  readonly transport: BenchTransport;
  readonly mode: Mode;
  readonly servers: number;
  readonly handler?: string;
  /** Backlog and queue sized for the client count. */
  readonly clients: number;
  /** A variant of the device under test (the observability scenario). */
  readonly variant?: DeviceVariant;
}

/** Device options to add, and something to attach to the started device (it returns its own teardown). */
export interface DeviceVariant {
  readonly name: string;
  readonly options?: (dir: string) => Partial<DeviceOptions>;
  readonly attach?: (device: Device) => Promise<() => Promise<void>>;
}

export async function setUp(o: TopologyOptions): Promise<Topology> {
  const dir = mkdtempSync(join(tmpdir(), 'zq-bench-'));
  const { front, back, endpoint } = sides(o.transport, dir);
  const handlerPath = o.handler ?? ECHO;
  // Opposite libzmq's proxy, workers send frames as they are (src/inproc.ts).
  const poolOptions = { threads: o.servers, handlerPath, concurrency: 1, handlerTimeoutMs: 0, stopGraceMs: 2000 };
  if (o.mode === 'direct') {
    const pool = new WorkerPool({ ...poolOptions, endpoint: endpoint(front, 'server'), bind: true }, { onWorkerLeft: () => {} });
    await pool.start();
    const slots = pool.stats();
    return {
      clientEndpoints: slots.map((s) => connectUrlFor(s.endpoint)),
      serverTids: slots.map((s) => s.tid),
      deviceStats: () => undefined,
      close: async () => {
        await pool.close(0);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  // What users run (zqueue serve): a Broker, with the gate's hooks.
  const broker = await Broker.create(
    {
      handler: handlerPath,
      threads: o.servers,
      concurrency: 1,
      stopGraceMs: 2000,
      frontend: endpoint(front, 'front'),
      backend: endpoint(back, 'back'),
      engine: o.mode === 'native' ? 'native' : 'js',
      policy: o.mode === 'least-busy' ? 'least-busy' : 'round-robin',
      maxQueued: Math.max(10_000, o.clients * 2),
      handlerTimeoutMs: 0,
      ...o.variant?.options?.(dir),
    },
    benchHooks(),
  );
  const device = broker.device;
  let detach = async (): Promise<void> => {};
  try {
    if (back !== 'inproc') await device.waitForPeers('backend', o.servers);
    if (o.mode === 'least-busy') await device.waitForWorkers(o.servers);
    if (o.variant?.attach !== undefined) detach = await o.variant.attach(device);
  } catch (err) {
    await detach();
    await broker.close({ timeoutMs: 0 });
    throw err;
  }
  return {
    clientEndpoints: [connectUrlFor(device.frontendEndpoint)],
    serverTids: broker.stats().threads.map((s) => s.tid),
    deviceStats: () => device.stats(),
    close: async () => {
      await detach();
      await broker.close({ timeoutMs: 0 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
