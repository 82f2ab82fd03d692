/** Shared test helpers: endpoints per transport, spawning the CLI and the Python fixtures. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Transport } from '../src/endpoints.js';

export const TRANSPORTS: readonly Transport[] = ['tcp', 'ipc', 'inproc'];

/** The repository root (tests run from dist/test). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const PYTHON = '/usr/bin/python3';

let counter = 0;
const dirs: string[] = [];

/** A bind endpoint for `transport` that nothing else uses. tcp binds port `*` on loopback. */
export function endpointFor(transport: Transport, label: string): string {
  counter++;
  switch (transport) {
    case 'tcp':
      return 'tcp://127.0.0.1:*';
    case 'ipc': {
      const dir = mkdtempSync(join(tmpdir(), 'zqueue-test-'));
      dirs.push(dir);
      return `ipc://${join(dir, `${label}.sock`)}`;
    }
    case 'inproc':
      return `inproc://test-${label}-${process.pid}-${counter}`;
  }
}

export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A free tcp port on 127.0.0.1 (for processes that cannot bind port `*` and report it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether Debian's pyzmq is importable by /usr/bin/python3. */
export function pyzmqMissing(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import zmq'], { encoding: 'utf8' });
  if (r.status === 0) return false;
  const why = `pyzmq is not installed for ${PYTHON} (apt-get install python3-zmq)`;
  // Under CI these tests must run: a missing pyzmq is a broken CI, not a skip.
  if (process.env.CI === 'true') throw new Error(`${why}; CI must install it`);
  return why;
}

/** Debian's dnsmasq (in /usr/sbin, which a user's PATH may lack), a real DNS server for the discovery tests. */
export const DNSMASQ = existsSync('/usr/sbin/dnsmasq') ? '/usr/sbin/dnsmasq' : 'dnsmasq';

/** Why dnsmasq cannot run here, or false; under CI a missing one is a failure, not a skip. */
export function dnsmasqMissing(): string | false {
  if (spawnSync(DNSMASQ, ['--version']).status === 0) return false;
  const why = "Debian's dnsmasq is not installed (apt-get install dnsmasq-base)";
  if (process.env.CI === 'true') throw new Error(`${why}; CI must install it`);
  return why;
}

/** dnsmasq's arguments: NAME's records from `hosts` (re-read on SIGHUP), 1 s TTLs, in the foreground, logging to stderr. */
export function dnsmasqArgs(listen: string, port: number, hosts: string): string[] {
  return [
    '--no-daemon',
    '--conf-file=/dev/null',
    `--port=${port}`,
    `--listen-address=${listen}`,
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    `--addn-hosts=${hosts}`,
    '--local-ttl=1',
    '--pid-file=',
    '--log-facility=-',
    '--log-queries',
    ...(process.getuid?.() === 0 ? ['--user=root'] : []),
  ];
}

/**
 * dnsmasq on 127.0.0.1 answering `name` from a hosts file it re-reads on
 * SIGHUP (A and AAAA records, 1 s TTL; no records: the name does not
 * resolve). It logs each query, which `queries()` counts.
 */
export class DnsServer {
  private readonly dir = mkdtempSync(join(tmpdir(), 'zq-dns-'));
  private readonly hosts = join(this.dir, 'hosts');
  private proc: ChildProcess | undefined;
  private log = '';
  port = 0;

  constructor(private readonly name: string) {}

  async start(addresses: readonly string[]): Promise<void> {
    chmodSync(this.dir, 0o755);
    this.write(addresses);
    this.port = await freePort();
    const p = spawn(DNSMASQ, dnsmasqArgs('127.0.0.1', this.port, this.hosts), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = p;
    p.stderr?.setEncoding('utf8').on('data', (d: string) => (this.log += d));
    await within(
      10_000,
      'dnsmasq started',
      until(10_000, 'dnsmasq read its hosts', () => this.log.includes(`read ${this.hosts}`)),
    );
  }

  /** Queries for the name seen so far (A and AAAA each count). */
  queries(): number {
    return this.log.split('\n').filter((l) => l.includes(`query[`) && l.includes(` ${this.name} `)).length;
  }

  /** The records from now on (dnsmasq re-reads them on SIGHUP). */
  set(addresses: readonly string[]): void {
    this.write(addresses);
    this.proc?.kill('SIGHUP');
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p === undefined || p.exitCode !== null) return;
    p.kill('SIGTERM');
    await once(p, 'exit');
  }

  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private write(addresses: readonly string[]): void {
    writeFileSync(this.hosts, addresses.map((a) => `${a} ${this.name}\n`).join(''), { mode: 0o644 });
  }
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  /** Resolves once stdout or stderr has contained `text`. */
  waitFor(text: string): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

export function run(command: string, args: readonly string[], env: Readonly<Record<string, string>> = {}): Spawned {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const check = (): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      if (w !== undefined && (out.includes(w.text) || err.includes(w.text))) {
        waiters.splice(i, 1);
        w.resolve();
      }
    }
  };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    check();
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    check();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(text: string) {
      if (out.includes(text) || err.includes(text)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        waiters.push({ text, resolve });
        void exited.then((code) =>
          reject(new Error(`${command} exited (${code}) before printing ${JSON.stringify(text)}\nstdout: ${out}\nstderr: ${err}`)),
        );
      });
    },
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

export function cli(args: readonly string[], env: Readonly<Record<string, string>> = {}): Spawned {
  return run(process.execPath, [CLI, ...args], env);
}

export function python(script: string, args: readonly string[]): Spawned {
  return run(PYTHON, ['-u', join(FIXTURES, script), ...args]);
}

/** Rejects after `ms` with `what`: a bound on a test's waiting, not a pause. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

export const HANDLERS = join(ROOT, 'test', 'fixtures', 'handlers');
export const EXAMPLES = join(ROOT, 'examples');

/** A fresh empty folder, removed by removeTempDirs(). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'zqueue-test-'));
  dirs.push(dir);
  return dir;
}

/** The p-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

/**
 * Resolves once `condition()` holds, checking every 10 ms, or rejects after
 * `ms`: for states that no event announces (counters in stats()).
 */
export async function until(ms: number, what: string, condition: () => boolean): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${what}: not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
