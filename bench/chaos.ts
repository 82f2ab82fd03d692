/**
 * Scenario: chaos, with a ledger. Closed-loop Lazy Pirate clients send
 * requests through `zqueue serve` (a device and worker threads, in a process
 * of its own) that remote `zqueue server` processes also serve over tcp,
 * while, in turn, something goes wrong:
 *
 * - `kill-server`: a remote server is killed (SIGKILL) and a new one started;
 * - `crash-worker`: a request makes a worker thread call process.exit();
 * - `stall-server`: a remote server is stopped (SIGSTOP) for 1.5 s, then resumed;
 * - `garbage`: random bytes over raw tcp, and random multipart messages,
 *   envelope-less and over-long messages from a DEALER;
 * - `restart-device`: the device process is killed (SIGKILL) and started again.
 *
 * With `devices` > 1 (`npm run chaos -- --devices 3`), the same runs across
 * several devices: that many `zqueue device` processes (least-busy), remote
 * `zqueue server` processes that serve every one of them (`--connect A,B,C`),
 * and clients that know them all (`endpoints`) and fail over. Then
 * `restart-device` kills one device in turn with SIGKILL, leaves it down for
 * `deviceDownMs`, and starts it again on the same ports; `crash-worker`'s
 * process.exit() lands in a server process, which a supervisor (the run)
 * starts again, as systemd would.
 *
 * Every request ends in the ledger: answered, answered after a retry, a
 * definite error (by code), wrong (a reply that is not its own), or lost
 * (no end at all). Lost and wrong must be 0. `failed_over` counts the
 * answered requests whose answer came from another device than the one
 * first asked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as zmq from 'zeromq';
import { Client } from '../src/client.js';
import { isZqueueError } from '../src/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const HANDLER = join(ROOT, 'test', 'fixtures', 'handlers', 'behave.js');

export const CHAOS_EVENTS = ['kill-server', 'crash-worker', 'stall-server', 'garbage', 'restart-device'] as const;
export type ChaosEvent = (typeof CHAOS_EVENTS)[number];

export interface ChaosOptions {
  readonly durationMs: number;
  /** Concurrent closed-loop clients. Default 40. */
  readonly clients?: number;
  /** Go on past `durationMs` until this many events have happened (a short run that must see each). Default 0. */
  readonly minEvents?: number;
  /** Time between two events. Default 2500 ms. */
  readonly eventEveryMs?: number;
  /** Heartbeat period between the device and the remote servers. Default 250 ms. */
  readonly heartbeatMs?: number;
  /** Devices. 1 (the default): one `zqueue serve`; more: `zqueue device` processes that every server and client knows. */
  readonly devices?: number;
  /** Remote `zqueue server` processes. Default 2 with one device, 4 with several. */
  readonly servers?: number;
  /** Several devices: how long a killed device stays down before it is started again. Default 1500 ms. */
  readonly deviceDownMs?: number;
  /** Progress lines (events as they happen). */
  readonly log?: (line: string) => void;
}

export interface Ledger {
  readonly duration_ms: number;
  readonly devices: number;
  readonly servers: number;
  readonly sent: number;
  readonly answered: number;
  readonly answered_after_retry: number;
  /** Answered requests whose answer came from another device than the one first asked (several devices). */
  readonly failed_over: number;
  /** Requests that ended with a definite error, by its code. */
  readonly errors: Readonly<Record<string, number>>;
  readonly wrong: number;
  readonly lost: number;
  readonly events: Readonly<Record<ChaosEvent, number>>;
  /** Garbage messages and bytes sent at the device. */
  readonly garbage: { readonly messages: number; readonly bytes: number };
}

interface Proc {
  child: ChildProcess;
  exited: Promise<unknown>;
  output: string;
}

function start(args: string[]): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, exited: once(child, 'exit'), output: '' };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (p.output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (p.output = (p.output + d).slice(-20_000)));
  return p;
}

function waitForOutput(p: Proc, text: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${text}" within ${ms} ms:\n${p.output}`)), ms);
    const check = (): void => {
      if (p.output.includes(text)) {
        clearTimeout(timer);
        p.child.stdout?.off('data', check);
        p.child.stderr?.off('data', check);
        resolve();
      }
    };
    p.child.stdout?.on('data', check);
    p.child.stderr?.on('data', check);
    check();
  });
}

async function stop(p: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill('SIGCONT');
    p.child.kill(signal);
  }
  await p.exited;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** One device: its ports, its command line, its process. */
interface DeviceProc {
  readonly front: number;
  readonly frontend: string;
  readonly backend: string;
  readonly args: string[];
  proc: Proc;
}

export async function runChaos(o: ChaosOptions): Promise<Ledger> {
  const clients = o.clients ?? 40;
  const every = o.eventEveryMs ?? 2500;
  const hb = String(o.heartbeatMs ?? 250);
  const nDevices = o.devices ?? 1;
  if (!Number.isInteger(nDevices) || nDevices < 1 || nDevices > 16)
    throw new RangeError(`devices must be an integer from 1 to 16, got ${String(nDevices)}`);
  const several = nDevices > 1;
  const nServers = o.servers ?? (several ? 4 : 2);
  const downMs = o.deviceDownMs ?? 1500;
  const log = o.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'zq-chaos-'));

  // One device: `zqueue serve` (a device with worker threads) that remote servers also serve.
  // Several: `zqueue device` processes, each served by every remote server.
  const devices: DeviceProc[] = [];
  for (let d = 0; d < nDevices; d++) {
    const [front, back] = [await freePort(), await freePort()];
    const frontend = `tcp://127.0.0.1:${front}`;
    const backend = `tcp://127.0.0.1:${back}`;
    const args = several
      ? ['device', '--policy', 'least-busy', '--frontend', frontend, '--backend', backend, '--heartbeat', hb, '--handler-timeout', '5000']
      : [
          'serve',
          '--handler',
          HANDLER,
          '--threads',
          '2',
          '--frontend',
          frontend,
          '--backend',
          backend,
          '--heartbeat',
          hb,
          '--handler-timeout',
          '5000',
        ];
    devices.push({ front, frontend, backend, args, proc: start(args) });
  }
  await Promise.all(devices.map((d) => waitForOutput(d.proc, ' bound ', 15_000)));
  const frontends = devices.map((d) => d.frontend);
  const backends = devices.map((d) => d.backend).join(',');

  let stopping = false;
  let serverN = 0;
  const servers: Proc[] = [];
  /** A remote server; one that exits by itself (a handler's process.exit()) is started again. */
  const newServer = (): Proc => {
    const p = start(['server', '--connect', backends, '--handler', HANDLER, '--heartbeat', hb, '--routing-id', `remote-${++serverN}`]);
    void p.exited.then(() => {
      const at = servers.indexOf(p);
      if (stopping || at < 0 || p.child.signalCode !== null) return;
      log(`server ${p.child.pid ?? '?'} exited with ${String(p.child.exitCode)}: started again`);
      servers[at] = newServer();
    });
    return p;
  };
  for (let i = 0; i < nServers; i++) servers.push(newServer());

  const ledger = { sent: 0, answered: 0, answeredAfterRetry: 0, failedOver: 0, wrong: 0, errors: {} as Record<string, number> };
  const events = Object.fromEntries(CHAOS_EVENTS.map((e) => [e, 0])) as Record<ChaosEvent, number>;
  const garbage = { messages: 0, bytes: 0 };
  const settled = new Set<number>();
  const t0 = performance.now();

  /** outcome: 'answered', 'retried', 'failed-over', 'wrong', or an error code. */
  const settle = (id: number, outcome: string): void => {
    settled.add(id);
    if (outcome === 'answered') ledger.answered++;
    else if (outcome === 'retried' || outcome === 'failed-over') {
      ledger.answered++;
      ledger.answeredAfterRetry++;
      if (outcome === 'failed-over') ledger.failedOver++;
    } else if (outcome === 'wrong') ledger.wrong++;
    else ledger.errors[outcome] = (ledger.errors[outcome] ?? 0) + 1;
  };

  /** One request through a client, into the ledger. `expect` checks the reply. */
  const ask = async (c: Client, body: string[], expect: (reply: string[]) => boolean): Promise<void> => {
    const id = ledger.sent++;
    const before = c.stats();
    try {
      const reply = (await c.request(body)).map(String);
      const after = c.stats();
      settle(
        id,
        !expect(reply)
          ? 'wrong'
          : after.failovers > before.failovers
            ? 'failed-over'
            : after.retries > before.retries
              ? 'retried'
              : 'answered',
      );
    } catch (err) {
      settle(id, isZqueueError(err) ? err.code : `other: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  const newClient = (timeoutMs: number, retries: number): Client =>
    new Client(several ? { endpoints: frontends, timeoutMs, retries } : { endpoint: frontends[0] as string, timeoutMs, retries });
  const pool = Array.from({ length: clients }, () => newClient(1000, 10));
  const loops = pool.map(async (c, i) => {
    for (let n = 0; !stopping; n++) {
      const body = [`c${i}`, `r${n}`, randomBytes(8).toString('hex')];
      await ask(c, body, (reply) => reply.join('|') === body.join('|'));
    }
  });

  const chaosClient = newClient(2000, 5);
  let victimDevice = 0;
  let garbageDevice = 0;
  const act: Record<ChaosEvent, () => Promise<void>> = {
    'kill-server': async () => {
      const victim = servers.shift();
      if (victim !== undefined) await stop(victim, 'SIGKILL');
      servers.push(newServer());
    },
    'crash-worker': async () => {
      const crashDir = mkdtempSync(join(dir, 'crash-'));
      await ask(chaosClient, ['exit-once', crashDir], (reply) => reply[0]?.startsWith('survived exit-once') === true);
    },
    'stall-server': async () => {
      const victim = servers[0];
      if (victim === undefined) return;
      victim.child.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 1500));
      victim.child.kill('SIGCONT');
    },
    garbage: async () => {
      const target = devices[garbageDevice++ % devices.length] as DeviceProc;
      // Raw bytes where a ZMTP greeting should be.
      const raw = connect(target.front, '127.0.0.1');
      raw.on('error', () => undefined);
      await once(raw, 'connect');
      const junk = randomBytes(4096);
      raw.end(junk);
      garbage.bytes += junk.length;
      // Random multipart messages, no envelope, too many frames.
      const dealer = new zmq.Dealer({ linger: 0, sendTimeout: 0 });
      dealer.connect(target.frontend);
      const send = async (frames: Buffer[]): Promise<void> => {
        garbage.messages++;
        await dealer.send(frames).catch(() => undefined);
      };
      for (let k = 0; k < 500; k++) {
        await send(Array.from({ length: randomInt(1, 6) }, () => (randomInt(4) === 0 ? Buffer.alloc(0) : randomBytes(randomInt(1, 64)))));
      }
      await send([Buffer.from('no envelope at all')]);
      await send([Buffer.alloc(0), ...Array.from({ length: 300 }, () => Buffer.from('f'))]);
      dealer.close();
    },
    'restart-device': async () => {
      const victim = devices[victimDevice++ % devices.length] as DeviceProc;
      await stop(victim.proc, 'SIGKILL');
      // Several devices: it stays down a while, so that clients fail over and servers notice.
      if (several) await new Promise((r) => setTimeout(r, downMs));
      victim.proc = start(victim.args);
      await waitForOutput(victim.proc, ' bound ', 15_000);
    },
  };

  let k = 0;
  try {
    const minEvents = o.minEvents ?? 0;
    while (k < minEvents || performance.now() - t0 + every < o.durationMs) {
      await new Promise((r) => setTimeout(r, every));
      const event = CHAOS_EVENTS[k++ % CHAOS_EVENTS.length] ?? 'garbage';
      log(`${((performance.now() - t0) / 1000).toFixed(1)} s: ${event}`);
      await act[event]();
      events[event]++;
    }
    const left = o.durationMs - (performance.now() - t0);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
  } finally {
    stopping = true;
    // Every client ends its request (reply or definite error) within its own retries.
    const bound = new Promise<void>((r) => setTimeout(r, 30_000).unref());
    await Promise.race([Promise.all(loops), bound]);
    await Promise.all([...pool, chaosClient].map((c) => c.close()));
    await Promise.all(devices.map((d) => stop(d.proc, 'SIGTERM')));
    await Promise.all(servers.map((s) => stop(s, 'SIGTERM')));
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    duration_ms: Math.round(performance.now() - t0),
    devices: nDevices,
    servers: nServers,
    sent: ledger.sent,
    answered: ledger.answered,
    answered_after_retry: ledger.answeredAfterRetry,
    failed_over: ledger.failedOver,
    errors: ledger.errors,
    wrong: ledger.wrong,
    lost: ledger.sent - settled.size,
    events,
    garbage,
  };
}

/** The ledger as a Markdown table. */
export function ledgerTable(l: Ledger): string {
  const errors =
    Object.entries(l.errors)
      .map(([code, n]) => `${n} ${code}`)
      .join(', ') || '0';
  const rows = [
    ['sent', l.sent],
    ['answered', l.answered],
    ['… of which after a retry', l.answered_after_retry],
    ...(l.devices > 1 ? [['… of which failed over to another device', l.failed_over]] : []),
    ['definite errors', errors],
    ['wrong replies', l.wrong],
    ['**lost**', `**${l.lost}**`],
  ];
  const ev = CHAOS_EVENTS.map((e) => `${e} ×${l.events[e]}`).join(', ');
  return [
    '| requests | |',
    '| --- | ---: |',
    ...rows.map(([k, v]) => `| ${String(k)} | ${String(v)} |`),
    '',
    `${(l.duration_ms / 1000).toFixed(0)} s; ${l.devices} device${l.devices === 1 ? ' (zqueue serve, 2 worker threads)' : 's (zqueue device, least-busy)'}, ${l.servers} remote servers; events: ${ev}; garbage: ${l.garbage.messages} messages, ${l.garbage.bytes} raw bytes.`,
  ].join('\n');
}
