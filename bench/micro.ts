/**
 * Scenario: tinybench micro-benchmarks, each with its error margin.
 * - One request/reply round trip through each transport and engine (and
 *   direct), with client, device and server all on the main thread: the
 *   fixed cost of a hop, free of load-generator effects.
 * - The device's per-message work in JavaScript: envelope check, the
 *   least-busy bookkeeping of one request, error-reply parsing.
 * - What a message costs in zeromq.js by its number of frames: one send and
 *   one receive over inproc on one thread (no I/O thread, no system call to
 *   wait), for 1, 3 and 8 frames of 16 bytes and 1 frame of 128. The JS
 *   device pays this per request at its frontend (3 frames in, 3 out), where
 *   libzmq's own proxy pays no bridge at all.
 */
import '../src/context.js';
import { Bench } from 'tinybench';
import * as zmq from 'zeromq';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Balancer } from '../src/device/scheduling/balancer.js';
import { delimiterIndex, errorFrame, errorKindOf, parseErrorReply } from '../src/protocol.js';
import { createHistogram, record } from '../src/latency.js';
import { performance } from 'node:perf_hooks';
import { connectUrlFor } from '../src/endpoints.js';
import type { Progress } from './lib/progress.js';
import type { MicroResult } from './lib/results.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Hop = 'direct' | 'native' | 'js' | 'least-busy';

interface Rig {
  readonly request: zmq.Request;
  close(): Promise<void>;
}

async function rig(transport: 'tcp' | 'ipc' | 'inproc', hop: Hop, dir: string, n: number): Promise<Rig> {
  const ep = (label: string): string =>
    transport === 'tcp'
      ? 'tcp://127.0.0.1:*'
      : transport === 'ipc'
        ? `ipc://${join(dir, `${label}-${n}.sock`)}`
        : `inproc://zq-micro-${label}-${n}`;
  const request = new zmq.Request({ linger: 0 });
  if (hop === 'direct') {
    const server = await new Server((r) => r, { endpoint: ep('server'), bind: true }).start();
    request.connect(connectUrlFor(server.endpoint));
    return {
      request,
      close: async () => {
        request.close();
        await server.close({ timeoutMs: 0 });
      },
    };
  }
  const device = await new Device({
    frontend: ep('front'),
    backend: ep('back'),
    engine: hop === 'native' ? 'native' : 'js',
    policy: hop === 'least-busy' ? 'least-busy' : 'round-robin',
  }).start();
  const server = await new Server((r) => r, { endpoint: connectUrlFor(device.backendEndpoint) }).start();
  if (hop === 'least-busy') await device.waitForWorkers(1);
  else if (transport !== 'inproc') await device.waitForPeers('backend', 1);
  request.connect(connectUrlFor(device.frontendEndpoint));
  return {
    request,
    close: async () => {
      request.close();
      await device.drain({ timeoutMs: 0 });
      await server.close({ timeoutMs: 0 });
      await device.close({ timeoutMs: 0 });
    },
  };
}

function result(name: string, task: Bench['tasks'][number]): MicroResult {
  const r = task.result;
  if (r.state !== 'completed') return { name, ops_per_s: 0, mean_us: 0, p99_us: 0, rme_pct: 0, samples: 0 };
  return {
    name,
    ops_per_s: Math.round(r.throughput.mean),
    mean_us: Math.round(r.latency.mean * 1000 * 100) / 100,
    p99_us: Math.round(r.latency.p99 * 1000 * 100) / 100,
    rme_pct: Math.round(r.latency.rme * 100) / 100,
    samples: r.latency.samplesCount,
  };
}

/**
 * One send and one receive of a message of each shape between two PAIR
 * sockets over inproc on this thread. The slope over the frame count is the
 * bridge's cost per frame (a Buffer made per frame received, a libzmq message
 * per frame sent); 1 × 128 bytes against 8 × 16 shows that it is the frames,
 * not the bytes.
 */
export async function frameCosts(timeMs: number, n: number): Promise<MicroResult[]> {
  const endpoint = `inproc://zq-micro-frames-${n}`;
  const a = new zmq.Pair({ linger: 0 });
  const b = new zmq.Pair({ linger: 0 });
  try {
    await a.bind(endpoint);
    b.connect(endpoint);
    const shapes: [string, Buffer[]][] = [
      ['1 frame of 16 B', [Buffer.alloc(16, 0x61)]],
      ['3 frames of 16 B', Array.from({ length: 3 }, () => Buffer.alloc(16, 0x61))],
      ['8 frames of 16 B', Array.from({ length: 8 }, () => Buffer.alloc(16, 0x61))],
      ['1 frame of 128 B', [Buffer.alloc(128, 0x61)]],
    ];
    const bench = new Bench({ time: timeMs, warmupTime: 50 });
    for (const [name, message] of shapes) {
      bench.add(`zeromq.js send + receive, ${name}`, async () => {
        await a.send(message);
        const got = await b.receive();
        if (got.length !== message.length) throw new Error(`received ${got.length} frames, sent ${message.length}`);
      });
    }
    await bench.run();
    return bench.tasks.map((t) => result(t.name, t));
  } finally {
    b.close();
    a.close();
  }
}

export async function runMicro(progress: Progress, timeMs = 250): Promise<MicroResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'zq-micro-'));
  const out: MicroResult[] = [];
  const payload = Buffer.alloc(16, 0x61);
  let n = 0;
  try {
    const hops: Hop[] = ['direct', 'native', 'js', 'least-busy'];
    const transports = ['tcp', 'ipc', 'inproc'] as const;
    const total = hops.length * transports.length + 2;
    for (const transport of transports) {
      for (const hop of hops) {
        progress.tick(n, total, `micro: round trip ${transport}/${hop}`);
        const r = await rig(transport, hop, dir, n++);
        try {
          const bench = new Bench({ time: timeMs, warmupTime: 50 });
          bench.add(`round trip ${transport} ${hop}`, async () => {
            await r.request.send(payload);
            await r.request.receive();
          });
          await bench.run();
          const task = bench.tasks[0];
          if (task !== undefined) out.push(result(`round trip, ${transport}, ${hop}`, task));
        } finally {
          await r.close();
        }
      }
    }
    progress.tick(n++, total, 'micro: zeromq.js cost per frame');
    out.push(...(await frameCosts(timeMs, n)));
    progress.tick(n, total, 'micro: device per-message work');
    const frames = [Buffer.from([0, 1, 2, 3, 4]), Buffer.alloc(0), payload];
    const balancer = new Balancer(1000);
    const w = balancer.join(Buffer.from('w1'), 1, 0);
    balancer.join(Buffer.from('w2'), 1, 0);
    const err = [errorFrame('busy', 'queue full')];
    const latency = createHistogram();
    const t0 = performance.now();
    const bench = new Bench({ time: timeMs, warmupTime: 50 });
    bench
      .add('envelope check (delimiterIndex)', () => {
        if (delimiterIndex(frames) !== 1) throw new Error('bad');
      })
      .add('least-busy: pick + dispatch + complete', () => {
        const worker = balancer.pick() ?? w;
        const h = balancer.dispatch(worker, { frames, bodyAt: 2, retried: false, receivedAt: 0 }, 0);
        balancer.complete(worker.key, h.id);
      })
      .add('error reply parse', () => {
        if (parseErrorReply(err) === undefined) throw new Error('bad');
      })
      .add('stats: count a reply by kind (errorKindOf, ordinary reply)', () => {
        if (errorKindOf(payload) !== undefined) throw new Error('bad');
      })
      .add('stats: time a request (performance.now + HDR record)', () => {
        record(latency, (performance.now() - t0) % 50_000);
      });
    await bench.run();
    for (const t of bench.tasks) out.push(result(t.name, t));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
