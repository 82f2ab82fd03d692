/**
 * The harness's side of the load generators: spawns them as worker threads
 * (in-process, needed for inproc) or child processes (tcp/ipc), splits the
 * clients of a cell among them, and gathers their reports.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import type { CellOrder, Diagnosis, FromLoadgen, LoadProgress, LoadReport, ToLoadgen } from './loadgen.js';
import { processCpuMicros, threadCpuMicros } from './cpu.js';

const ENTRY = new URL('./loadgen.js', import.meta.url);

export type GeneratorKind = 'thread' | 'process';

interface Generator {
  readonly kind: GeneratorKind;
  readonly tid: number | undefined;
  readonly pid: number;
  send(msg: ToLoadgen): void;
  next(type: FromLoadgen['type']): Promise<FromLoadgen>;
  /** Forgets queued messages of a type (a late "warm" from a cell that failed). */
  discard(type: FromLoadgen['type']): void;
  /** Progress messages go here as they come (they are never queued). */
  onProgress: ((p: LoadProgress) => void) | undefined;
  readonly exited: Promise<void>;
}

function wrap(
  kind: GeneratorKind,
  send: (m: ToLoadgen) => void,
  on: (h: (m: FromLoadgen) => void) => void,
  exited: Promise<void>,
  hello: { tid: number | undefined; pid: number },
): Generator {
  const waiting = new Map<string, ((m: FromLoadgen) => void)[]>();
  const inbox = new Map<string, FromLoadgen[]>();
  const gen: Generator = {
    kind,
    tid: hello.tid,
    pid: hello.pid,
    send,
    exited,
    onProgress: undefined,
    discard(type) {
      inbox.delete(type);
      // Waiters of a cell that gave up: a message now belongs to the next one.
      waiting.delete(type);
    },
    next(type) {
      const queued = inbox.get(type)?.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        waiting.set(type, [...(waiting.get(type) ?? []), resolve]);
        void exited.then(() => reject(new Error(`load generator exited while waiting for "${type}"`)));
      });
    },
  };
  on((m) => {
    if (m.type === 'progress') {
      gen.onProgress?.(m);
      return;
    }
    const w = waiting.get(m.type)?.shift();
    if (w !== undefined) w(m);
    else inbox.set(m.type, [...(inbox.get(m.type) ?? []), m]);
  });
  return gen;
}

async function spawnThread(): Promise<Generator> {
  const w = new Worker(ENTRY);
  const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
  const hello = await new Promise<FromLoadgen>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  if (hello.type !== 'hello') throw new Error('load generator did not say hello');
  return wrap(
    'thread',
    (m) => w.postMessage(m),
    (h) => w.on('message', h),
    exited,
    hello,
  );
}

async function spawnProcess(): Promise<Generator> {
  const child: ChildProcess = fork(ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const hello = await new Promise<FromLoadgen>((resolve, reject) => {
    child.once('message', (m) => resolve(m as FromLoadgen));
    child.once('error', reject);
  });
  if (hello.type !== 'hello') throw new Error('load generator did not say hello');
  return wrap(
    'process',
    (m) => child.send(m),
    (h) => child.on('message', (m) => h(m as FromLoadgen)),
    exited,
    hello,
  );
}

export interface CellLoad {
  readonly reports: LoadReport[];
}

/** A set of load generators of one kind, reused from cell to cell. */
export class Generators {
  private constructor(
    readonly kind: GeneratorKind,
    private readonly gens: Generator[],
  ) {}

  static async spawn(kind: GeneratorKind, count: number): Promise<Generators> {
    const gens = await Promise.all(Array.from({ length: count }, () => (kind === 'thread' ? spawnThread() : spawnProcess())));
    return new Generators(kind, gens);
  }

  get size(): number {
    return this.gens.length;
  }

  /** CPU microseconds used so far by the generators (threads or processes). */
  cpuMicros(): number {
    let total = 0;
    for (const g of this.gens) total += g.kind === 'thread' ? threadCpuMicros(g.tid) : processCpuMicros(g.pid);
    return total;
  }

  /** Sends a cell's clients out (split evenly) and resolves once every client has had a reply. */
  async warm(order: Omit<CellOrder, 'type' | 'clients'>, clients: number, timeoutMs: number): Promise<void> {
    for (const g of this.gens) g.discard('warm');
    const used = this.used(clients, order.requests ?? 0);
    const requests = order.requests ?? 0;
    for (let i = 0; i < this.gens.length; i++) {
      const share = i < used ? Math.floor(clients / used) + (i < clients % used ? 1 : 0) : 0;
      // The rate and the request count go with the clients, in proportion.
      const rateRps = ((order.rateRps ?? 0) * share) / Math.max(1, clients);
      const mine = requests > 0 && share > 0 ? Math.floor(requests / used) + (i < requests % used ? 1 : 0) : 0;
      // A first request may wait the whole warm-up on its first connection (CellOrder.firstTimeoutMs).
      this.gens[i]?.send({
        ...order,
        type: 'cell',
        clients: share,
        rateRps,
        requests: mine,
        firstTimeoutMs: order.firstTimeoutMs ?? timeoutMs,
      });
    }
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not every client got a first reply within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all(this.gens.map((g) => g.next('warm'))), limit]);
    } finally {
      clearTimeout(timer);
    }
  }

  measure(): void {
    for (const g of this.gens) g.send({ type: 'measure' });
  }

  /** Progress of all generators together, as each reports (counts since measure()). */
  onProgress(handler: (p: Omit<LoadProgress, 'type' | 'interval'>) => void, interval?: (encoded: string) => void): void {
    const latest = this.gens.map(() => ({ count: 0, errors: 0, timeouts: 0 }));
    this.gens.forEach((g, i) => {
      g.onProgress = (p) => {
        if (p.interval !== undefined) interval?.(p.interval);
        latest[i] = { count: p.count, errors: p.errors, timeouts: p.timeouts };
        handler(
          latest.reduce((a, b) => ({ count: a.count + b.count, errors: a.errors + b.errors, timeouts: a.timeouts + b.timeouts }), {
            count: 0,
            errors: 0,
            timeouts: 0,
          }),
        );
      };
    });
  }

  /** Resolves once every generator with clients has made its requests (a cell with `requests`). */
  async finished(clients: number, requests: number): Promise<void> {
    await Promise.all(this.gens.slice(0, this.used(clients, requests)).map((g) => g.next('finished')));
  }

  /** How many generators a cell of `clients` (and `requests`, 0: no limit) uses; the rest get none. */
  used(clients: number, requests = 0): number {
    return Math.min(this.gens.length, clients, requests > 0 ? requests : Infinity);
  }

  /** Where the clients stand (after a warm-up that did not finish), summed over the generators. */
  async diagnose(): Promise<Omit<Diagnosis, 'type'>> {
    for (const g of this.gens) g.send({ type: 'diagnose' });
    const all = (await Promise.all(this.gens.map((g) => g.next('diagnosis')))) as Diagnosis[];
    const sum = (f: (d: Diagnosis) => number): number => all.reduce((n, d) => n + f(d), 0);
    return {
      clients: sum((d) => d.clients),
      warmed: sum((d) => d.warmed),
      warmedAfterRetry: sum((d) => d.warmedAfterRetry),
      waiting: sum((d) => d.waiting),
      waitingAttempts: sum((d) => d.waitingAttempts),
      firstReplyP50Ms: Math.max(...all.map((d) => d.firstReplyP50Ms)),
      firstReplyMaxMs: Math.max(...all.map((d) => d.firstReplyMaxMs)),
      fds: Math.max(...all.map((d) => d.fds)),
      fdLimit: Math.min(...all.map((d) => d.fdLimit)),
    };
  }

  /** Stops the clients, returns their reports, and waits until their sockets are closed. */
  async stop(): Promise<LoadReport[]> {
    for (const g of this.gens) g.send({ type: 'stop' });
    const reports = await Promise.all(this.gens.map((g) => g.next('report')));
    await Promise.all(this.gens.map((g) => g.next('closed')));
    return reports.filter((r): r is LoadReport => r.type === 'report');
  }

  async close(): Promise<void> {
    for (const g of this.gens) g.send({ type: 'exit' });
    await Promise.all(this.gens.map((g) => g.exited));
  }
}
