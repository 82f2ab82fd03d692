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
 * Every request ends in the ledger: answered, answered after a retry, a
 * definite error (by code), wrong (a reply that is not its own), or lost
 * (no end at all). Lost and wrong must be 0.
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
  /** Time between two events. Default 2500 ms. */
  readonly eventEveryMs?: number;
  /** Heartbeat period between the device and the remote servers. Default 250 ms. */
  readonly heartbeatMs?: number;
  /** Progress lines (events as they happen). */
  readonly log?: (line: string) => void;
}

export interface Ledger {
  readonly duration_ms: number;
  readonly sent: number;
  readonly answered: number;
  readonly answered_after_retry: number;
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

export async function runChaos(o: ChaosOptions): Promise<Ledger> {
  const clients = o.clients ?? 40;
  const every = o.eventEveryMs ?? 2500;
  const hb = String(o.heartbeatMs ?? 250);
  const log = o.log ?? (() => {});
  const [front, back] = [await freePort(), await freePort()];
  const frontend = `tcp://127.0.0.1:${front}`;
  const backend = `tcp://127.0.0.1:${back}`;
  const dir = mkdtempSync(join(tmpdir(), 'zq-chaos-'));

  const deviceArgs = ['serve', '--handler', HANDLER, '--threads', '2', '--frontend', frontend, '--backend', backend, '--heartbeat', hb, '--handler-timeout', '5000'];
  let device = start(deviceArgs);
  await waitForOutput(device, ' bound ', 15_000);
  let serverN = 0;
  const newServer = (): Proc => start(['server', '--connect', backend, '--handler', HANDLER, '--heartbeat', hb, '--routing-id', `remote-${++serverN}`]);
  const servers = [newServer(), newServer()];

  const ledger = { sent: 0, answered: 0, answeredAfterRetry: 0, wrong: 0, errors: {} as Record<string, number> };
  const events = Object.fromEntries(CHAOS_EVENTS.map((e) => [e, 0])) as Record<ChaosEvent, number>;
  const garbage = { messages: 0, bytes: 0 };
  const settled = new Set<number>();
  let stopping = false;
  const t0 = performance.now();

  /** outcome: 'answered', 'retried', 'wrong', or an error code. */
  const settle = (id: number, outcome: string): void => {
    settled.add(id);
    if (outcome === 'answered') ledger.answered++;
    else if (outcome === 'retried') {
      ledger.answered++;
      ledger.answeredAfterRetry++;
    } else if (outcome === 'wrong') ledger.wrong++;
    else ledger.errors[outcome] = (ledger.errors[outcome] ?? 0) + 1;
  };

  /** One request through a client, into the ledger. `expect` checks the reply. */
  const ask = async (c: Client, body: string[], expect: (reply: string[]) => boolean): Promise<void> => {
    const id = ledger.sent++;
    const retriesBefore = c.stats().retries;
    try {
      const reply = (await c.request(body)).map(String);
      settle(id, !expect(reply) ? 'wrong' : c.stats().retries > retriesBefore ? 'retried' : 'answered');
    } catch (err) {
      settle(id, isZqueueError(err) ? err.code : `other: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  const pool = Array.from({ length: clients }, () => new Client({ endpoint: frontend, timeoutMs: 1000, retries: 10 }));
  const loops = pool.map(async (c, i) => {
    for (let n = 0; !stopping; n++) {
      const body = [`c${i}`, `r${n}`, randomBytes(8).toString('hex')];
      await ask(c, body, (reply) => reply.join('|') === body.join('|'));
    }
  });

  const chaosClient = new Client({ endpoint: frontend, timeoutMs: 2000, retries: 5 });
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
      // Raw bytes where a ZMTP greeting should be.
      const raw = connect(front, '127.0.0.1');
      await once(raw, 'connect');
      const junk = randomBytes(4096);
      raw.end(junk);
      garbage.bytes += junk.length;
      raw.on('error', () => undefined);
      // Random multipart messages, no envelope, too many frames.
      const dealer = new zmq.Dealer({ linger: 0, sendTimeout: 0 });
      dealer.connect(frontend);
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
      await stop(device, 'SIGKILL');
      device = start(deviceArgs);
      await waitForOutput(device, ' bound ', 15_000);
    },
  };

  let k = 0;
  try {
    while (performance.now() - t0 + every < o.durationMs) {
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
    for (const c of [...pool, chaosClient]) c.close();
    await stop(device, 'SIGTERM');
    await Promise.all(servers.map((s) => stop(s, 'SIGTERM')));
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    duration_ms: Math.round(performance.now() - t0),
    sent: ledger.sent,
    answered: ledger.answered,
    answered_after_retry: ledger.answeredAfterRetry,
    errors: ledger.errors,
    wrong: ledger.wrong,
    lost: ledger.sent - settled.size,
    events,
    garbage,
  };
}

/** The ledger as a Markdown table. */
export function ledgerTable(l: Ledger): string {
  const errors = Object.entries(l.errors).map(([code, n]) => `${n} ${code}`).join(', ') || '0';
  const rows = [
    ['sent', l.sent],
    ['answered', l.answered],
    ['… of which after a retry', l.answered_after_retry],
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
    `${(l.duration_ms / 1000).toFixed(0)} s; events: ${ev}; garbage: ${l.garbage.messages} messages, ${l.garbage.bytes} raw bytes.`,
  ].join('\n');
}
