/**
 * A server worker, run on a worker thread as one long piscina task: it loads
 * the handler module, serves requests on a DEALER socket connected to the
 * device's backend, and returns its statistics when told to stop.
 *
 * zeromq.js aborts the whole process if a thread ends with a socket open
 * (zeromq.js#411), so every way out of this thread closes the socket first:
 * a stop message, `process.exit()` in a handler, an uncaught error, and a
 * termination (src/serve/reaper.ts runs the destroy hook set here).
 */
import '../context.js';
import { readlinkSync } from 'node:fs';
import { threadId, type MessagePort } from 'node:worker_threads';
import { Server, loadHandler, type ServerStats } from '../server/server.js';
import { ServerGroup } from '../server/group.js';
import type { Handler } from '../options.js';
import { DESTROY_HOOK } from './reaper.js';

export interface WorkerTask {
  readonly routingId: string;
  readonly endpoint: string;
  /** Bind the endpoint instead of connecting to it (servers reached directly, without a device). */
  readonly bind: boolean;
  /** Absolute path of the handler module. */
  readonly handlerPath: string;
  readonly concurrency: number;
  readonly handlerTimeoutMs: number;
  readonly inprocStrings: boolean;
  readonly service: string;
  /** Other devices' backends to serve too (remote: heartbeating). */
  readonly join: readonly string[];
  readonly port: MessagePort;
  /** One Int32 over shared memory: this thread's worker_threads id, stored before any socket opens (src/serve/reaper.ts). */
  readonly thread: Int32Array;
}

/** Main thread -> worker. */
export type ToWorker = { readonly type: 'stop'; readonly timeoutMs: number };

/** Worker -> main thread, while it runs. */
export type FromWorker =
  { readonly type: 'ready'; readonly endpoint: string; readonly tid: number | undefined } | { readonly type: 'timeout' };

export interface WorkerReport extends ServerStats {
  readonly routingId: string;
}

/** How a worker's task ends when it ends by itself. */
export type WorkerResult =
  { readonly type: 'stopped'; readonly report: WorkerReport } | { readonly type: 'load-error'; readonly message: string };

const open = new Set<Server | ServerGroup>();
/** Set by destroyAll(): this task's thread is about to be terminated, and must open no socket from now on. */
let destroyed = false;
/** The routing id of the task this thread runs (a thread runs one task after another). */
let current = '';
/**
 * Closes every socket of this thread's task at once. Given a routing id, only
 * if that is the task running here (-2 if not): the thread may have moved on
 * to the next task since the caller decided to end it.
 */
function destroyAll(routingId?: string): number {
  if (routingId !== undefined && routingId !== current) return -2;
  destroyed = true;
  const n = open.size;
  for (const server of open) server.destroy();
  return n;
}
/** Tracks a server so that every way out closes it; one made after destroyAll() is destroyed at once (it then opens nothing). */
function track<S extends Server | ServerGroup>(server: S): S {
  open.add(server);
  if (destroyed) server.destroy();
  return server;
}
// A handler's process.exit() ends this thread (not the process): close first.
process.on('exit', () => destroyAll());
// A thread about to be terminated (stuck in a handler) is made to run this through the inspector.
(globalThis as Record<symbol, unknown>)[Symbol.for(DESTROY_HOOK)] = destroyAll;

/** This thread's id in the kernel (for per-thread CPU accounting), where /proc tells it. */
export function osThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) ? tid : undefined;
  } catch {
    return undefined;
  }
}

export default async function runWorker(task: WorkerTask): Promise<WorkerResult> {
  const { port } = task;
  current = task.routingId;
  destroyed = false;
  Atomics.store(task.thread, 0, threadId);
  const post = (msg: FromWorker): void => port.postMessage(msg);
  let handler: Handler;
  try {
    handler = await loadHandler(task.handlerPath);
  } catch (err) {
    port.close();
    return { type: 'load-error', message: err instanceof Error ? err.message : String(err) };
  }
  const server = new Server(
    handler,
    {
      endpoint: task.endpoint,
      bind: task.bind,
      routingId: task.routingId,
      concurrency: task.concurrency,
      handlerTimeoutMs: task.handlerTimeoutMs,
      service: task.service,
      // The pool sees a thread die, and the device's handler timeout catches a
      // stuck one: no heartbeats, which a long synchronous handler would miss.
      heartbeatIntervalMs: 0,
    },
    // A bound worker is reached by clients directly: no device to say READY to.
    { announce: !task.bind, observe: false, inprocStrings: task.inprocStrings },
  );
  track(server);
  // Other devices this worker serves too: a socket each, with heartbeats (a remote device can die while this thread lives);
  // a dns: endpoint is every device its name resolves to, followed as the records change (src/discovery.ts).
  const joined =
    task.join.length > 0
      ? new ServerGroup(
          handler,
          { endpoints: task.join, concurrency: task.concurrency, handlerTimeoutMs: task.handlerTimeoutMs, service: task.service },
          { observe: false },
        )
      : undefined;
  if (joined !== undefined) track(joined);
  let stop!: (timeoutMs: number) => void;
  const stopped = new Promise<number>((resolve) => (stop = resolve));
  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'stop') stop(msg.timeoutMs);
  });
  // An async handler that ran past its timeout may still be running: this
  // worker retires (its client already has a `timeout` reply) and is replaced.
  server.on('handler-timeout', () => {
    post({ type: 'timeout' });
    stop(0);
  });
  try {
    await server.start();
    await joined?.start();
    post({ type: 'ready', endpoint: server.endpoint, tid: osThreadId() });
    const timeoutMs = await stopped;
    await Promise.all([server.close({ timeoutMs: timeoutMs }), joined?.close({ timeoutMs: timeoutMs })]);
  } finally {
    for (const s of [server, joined]) {
      s?.destroy();
      if (s !== undefined) open.delete(s);
    }
    port.close();
  }
  return { type: 'stopped', report: { routingId: task.routingId, ...server.stats() } };
}
