/**
 * The main thread's side of the server workers: N slots, each running one
 * worker (a long piscina task) that connects to the device's backend. A
 * worker that dies is replaced and the device is told, so the requests it
 * held are retried or answered; a worker stuck past the handler timeout is
 * asked to stop, and terminated if it does not.
 */
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { ErrorCode, ZqueueError } from '../errors.js';
import { closeSocketsOf } from './reaper.js';
import type { FromWorker, ToWorker, WorkerReport, WorkerResult, WorkerTask } from './worker.js';

export interface PoolOptions {
  readonly threads: number;
  /** The device's backend to connect to; with `bind`, the endpoint each worker binds (made unique per worker for ipc and inproc). */
  readonly endpoint: string;
  readonly bind?: boolean;
  readonly handlerPath: string;
  readonly concurrency: number;
  readonly handlerTimeoutMs: number;
  /** Workers over inproc speak the string codec (src/inproc.ts); not opposite the native engine. */
  readonly inprocStrings?: boolean;
  /** Majordomo: the service the workers register ('' : zqueue's worker protocol). */
  readonly service?: string;
  /** Other devices' backends each worker also serves, with a socket of its own. */
  readonly join?: readonly string[];
  /** How long a retired worker gets to stop by itself before it is terminated. */
  readonly stopGraceMs: number;
}

export interface PoolEvents {
  /** A worker left: its requests need another home. */
  readonly onWorkerLeft: (routingId: string) => void;
  /** A worker's thread ended (it died, or stopped after a timeout) and a new one took its slot. */
  readonly onWorkerReplaced?: (event: WorkerReplaced) => void;
  /** A worker about to be terminated could not be made to close its sockets first (the process may abort). */
  readonly onKillUnsafe?: (reason: string) => void;
}

/** How long a thread about to be terminated gets to answer the inspector and close its sockets. */
const KILL_ANSWER_MS = 2_000;
/** How long a thread whose sockets were closed gets to end by itself before it is terminated. */
const KILL_SETTLE_MS = 250;
/** How long a worker about to be terminated may take to finish loading first. */
const KILL_START_WAIT_MS = 30_000;

export interface WorkerReplaced {
  readonly slot: number;
  readonly previous: string;
  readonly next: string;
  /** `died`: the thread crashed or exited; `stopped`: it was retired (a handler ran past its timeout). */
  readonly reason: 'died' | 'stopped';
}

export interface SlotStats {
  readonly slot: number;
  readonly routingId: string;
  readonly generation: number;
  readonly restarts: number;
  readonly state: 'starting' | 'ready' | 'stopping' | 'stopped';
  /** Where the worker's socket is (bound or connected). */
  readonly endpoint: string;
  /** The worker thread's kernel thread id, where known. */
  readonly tid: number | undefined;
}

interface Slot {
  readonly slot: number;
  generation: number;
  restarts: number;
  routingId: string;
  state: SlotStats['state'];
  endpoint: string;
  tid: number | undefined;
  port?: import('node:worker_threads').MessagePort;
  abort?: AbortController;
  task?: Promise<void>;
  killTimer?: NodeJS.Timeout;
  /** The running worker's worker_threads id (0 until it has started), which it stores itself. */
  thread?: Int32Array;
  /** The handler failed to load in this slot: a replacement would fail the same way. */
  loadError?: ZqueueError;
}

export class WorkerPool {
  private readonly piscina: Piscina<WorkerTask, WorkerResult>;
  private readonly slots: Slot[] = [];
  private closing = false;
  private readonly reports: WorkerReport[] = [];

  constructor(
    private readonly options: PoolOptions,
    private readonly events: PoolEvents,
  ) {
    this.piscina = new Piscina<WorkerTask, WorkerResult>({
      filename: new URL('./worker.js', import.meta.url).href,
      // Threads are started for tasks only: a spare one that piscina started
      // in place of a terminated worker could be loading when close() ends it.
      minThreads: 0,
      maxThreads: options.threads,
      concurrentTasksPerWorker: 1,
      idleTimeout: Infinity,
      // Workers spend their life in one task; never block one on Atomics.wait.
      atomics: 'disabled',
      maxQueue: Infinity,
    });
  }

  /** Starts every worker; rejects (after stopping the others) if the handler cannot load. */
  async start(): Promise<void> {
    const starts: Promise<void>[] = [];
    for (let i = 0; i < this.options.threads; i++) {
      const slot: Slot = { slot: i, generation: 0, restarts: 0, routingId: '', state: 'starting', endpoint: '', tid: undefined };
      this.slots.push(slot);
      starts.push(this.launch(slot));
    }
    const results = await Promise.allSettled(starts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await this.close(0);
      throw failed.reason;
    }
  }

  stats(): SlotStats[] {
    return this.slots.map((s) => ({
      slot: s.slot,
      routingId: s.routingId,
      generation: s.generation,
      restarts: s.restarts,
      state: s.state,
      endpoint: s.endpoint,
      tid: s.tid,
    }));
  }

  /** Statistics of the workers that have stopped (one per generation). */
  stoppedReports(): readonly WorkerReport[] {
    return this.reports;
  }

  /** Retires the worker with this routing id (it held a request past the timeout) and starts a replacement. */
  retire(routingId: string): void {
    const slot = this.slots.find((s) => s.routingId === routingId);
    if (slot === undefined || slot.state === 'stopping' || slot.state === 'stopped') return;
    this.stopSlot(slot, 0);
  }

  /** Asks every worker to stop (waiting up to timeoutMs for running handlers), then ends the threads. */
  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    for (const slot of this.slots) this.stopSlot(slot, timeoutMs);
    await Promise.allSettled(this.slots.flatMap((s) => (s.task === undefined ? [] : [s.task])));
    for (const slot of this.slots) clearTimeout(slot.killTimer);
    // Every socket is closed now; the threads can end.
    await this.piscina.close({ force: true });
  }

  private stopSlot(slot: Slot, timeoutMs: number): void {
    if (slot.port === undefined || slot.state === 'stopped') return;
    if (slot.state !== 'stopping') {
      slot.state = 'stopping';
      slot.port.postMessage({ type: 'stop', timeoutMs } satisfies ToWorker);
    }
    // A worker stuck in synchronous code cannot hear "stop": end its thread,
    // after closing its sockets from outside (src/serve/reaper.ts).
    clearTimeout(slot.killTimer);
    const { abort, thread, task, routingId } = slot;
    slot.killTimer = setTimeout(() => void this.kill(routingId, abort, thread, task), timeoutMs + this.options.stopGraceMs);
  }

  private async kill(
    routingId: string,
    abort: AbortController | undefined,
    thread: Int32Array | undefined,
    task: Promise<void> | undefined,
  ): Promise<void> {
    if (abort === undefined || task === undefined) return;
    let ended = false;
    void task.finally(() => (ended = true));
    // A thread still loading its modules must not be terminated: Node.js
    // aborts the process when a worker ends inside a synchronous ESM load
    // (piscina require()s worker.js). It stores its id once loaded, hears
    // the stop message waiting on its port, and usually ends by itself.
    const since = Date.now();
    while (!ended && thread !== undefined && Atomics.load(thread, 0) === 0 && Date.now() - since < KILL_START_WAIT_MS) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    if (ended) return;
    const threadId = thread === undefined ? 0 : Atomics.load(thread, 0);
    if (threadId !== 0) {
      const reaped = await Promise.race([closeSocketsOf(threadId, KILL_ANSWER_MS, routingId), task.then(() => undefined)]);
      if (reaped?.kind === 'moved-on') return;
      if (reaped?.kind === 'unreachable') this.events.onKillUnsafe?.(reaped.reason);
      // A thread that is not stuck (only slow to stop) ends by itself now that its
      // sockets are closed; terminating it while its JavaScript runs is not needed.
      if (reaped?.kind === 'closed') await Promise.race([task, new Promise((resolve) => setTimeout(resolve, KILL_SETTLE_MS))]);
    } else {
      this.events.onKillUnsafe?.(`the worker did not start in ${KILL_START_WAIT_MS} ms`);
    }
    if (!ended) abort.abort();
  }

  private endpointFor(slot: number): string {
    const ep = this.options.endpoint;
    if (this.options.bind !== true || ep.startsWith('tcp://')) return ep;
    return ep.startsWith('ipc://') ? `${ep}.${slot}` : `${ep}-${slot}`;
  }

  private launch(slot: Slot): Promise<void> {
    slot.generation++;
    slot.routingId = `zq-w${slot.slot}-${slot.generation}`;
    slot.state = 'starting';
    const { port1, port2 } = new MessageChannel();
    const abort = new AbortController();
    const thread = new Int32Array(new SharedArrayBuffer(4));
    slot.port = port1;
    slot.abort = abort;
    slot.thread = thread;
    const routingId = slot.routingId;
    let ready!: () => void;
    let loadFailed!: (err: Error) => void;
    const started = new Promise<void>((resolve, reject) => {
      ready = resolve;
      loadFailed = reject;
    });
    port1.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') {
        if (slot.routingId === routingId && slot.state === 'starting') {
          slot.state = 'ready';
          slot.endpoint = msg.endpoint;
          slot.tid = msg.tid;
        }
        ready();
      } else if (msg.type === 'timeout') {
        // the worker retires itself; its end is handled below
      }
    });
    const task: WorkerTask = {
      routingId,
      endpoint: this.endpointFor(slot.slot),
      bind: this.options.bind ?? false,
      handlerPath: this.options.handlerPath,
      concurrency: this.options.concurrency,
      handlerTimeoutMs: this.options.handlerTimeoutMs,
      inprocStrings: this.options.inprocStrings ?? true,
      service: this.options.service ?? '',
      join: this.options.join ?? [],
      port: port2,
      thread,
    };
    let reason: WorkerReplaced['reason'] = 'stopped';
    slot.task = this.piscina
      .run(task, { transferList: [port2], signal: abort.signal })
      .then(
        (result) => {
          if (result.type === 'load-error') {
            slot.loadError = new ZqueueError(ErrorCode.HandlerLoad, result.message);
            loadFailed(slot.loadError);
            return;
          }
          // A worker that stopped by itself said BYE on its socket, after its
          // last replies: the device learns of its leaving in order from that.
          this.reports.push(result.report);
        },
        (err: unknown) => {
          // It died: whatever it held must go elsewhere. A reply it sent just
          // before dying may still be on its way; the device drops it when it
          // comes, so the client gets one answer (the request may run twice).
          reason = 'died';
          this.events.onWorkerLeft(routingId);
          loadFailed(
            err instanceof ZqueueError
              ? err
              : new ZqueueError(ErrorCode.WorkerDied, `worker ${routingId} died: ${err instanceof Error ? err.message : String(err)}`, {
                  cause: err,
                }),
          );
        },
      )
      .finally(() => {
        clearTimeout(slot.killTimer);
        port1.close();
        if (slot.routingId !== routingId) return;
        slot.state = 'stopped';
        if (!this.closing && slot.loadError === undefined) {
          slot.restarts++;
          // Replace it; a replacement that fails to start is retried by its own end.
          this.launch(slot).catch(() => {});
          this.events.onWorkerReplaced?.({ slot: slot.slot, previous: routingId, next: slot.routingId, reason });
        }
      });
    return started;
  }
}
