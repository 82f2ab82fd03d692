/**
 * A load generator: N REQ clients, each with one request in flight (closed
 * loop, as a REQ client is), recording each round trip in an HDR histogram.
 * It runs as a worker thread (so inproc reaches the device) or as a child
 * process (tcp/ipc clients past what one process's descriptors can hold),
 * and takes the same messages either way.
 */
import '../../src/context.js';
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import * as zmq from 'zeromq';
import { parseErrorReply } from '../../src/protocol.js';
import { zmqCode } from '../../src/errors.js';
import { createHistogram, encode } from './histogram.js';
import { osThreadId } from './cpu.js';

export interface CellOrder {
  readonly type: 'cell';
  readonly endpoints: readonly string[];
  readonly clients: number;
  readonly size: number;
  /** One attempt's limit; past it the request counts as a timeout and the socket is replaced. */
  readonly timeoutMs: number;
}

export type ToLoadgen = CellOrder | { readonly type: 'measure' } | { readonly type: 'diagnose' } | { readonly type: 'stop' } | { readonly type: 'exit' };

/** Where a cell's clients stand, for a warm-up that did not finish: who got a first reply, and after how many attempts. */
export interface Diagnosis {
  readonly type: 'diagnosis';
  readonly clients: number;
  /** Clients that have had a first reply. */
  readonly warmed: number;
  /** Of those, clients whose first request timed out (and was resent on a fresh socket) at least once. */
  readonly warmedAfterRetry: number;
  /** Clients still without a reply, and how many attempts they have made (each `timeoutMs` long). */
  readonly waiting: number;
  readonly waitingAttempts: number;
  /** Milliseconds from the cell's start to the first replies: p50 and the slowest. */
  readonly firstReplyP50Ms: number;
  readonly firstReplyMaxMs: number;
}

export interface LoadReport {
  readonly type: 'report';
  readonly count: number;
  readonly errors: number;
  readonly timeouts: number;
  /** The first error reply seen, to show what went wrong. */
  readonly firstError: string | undefined;
  readonly histogram: string;
}

export type FromLoadgen =
  | { readonly type: 'hello'; readonly tid: number | undefined; readonly pid: number }
  | { readonly type: 'warm' }
  | LoadReport
  | Diagnosis
  | { readonly type: 'closed' };

interface Channel {
  post(msg: FromLoadgen): void;
  onMessage(handler: (msg: ToLoadgen) => void): void;
  close(): void;
}

function channel(): Channel | undefined {
  if (parentPort !== null) {
    const port = parentPort;
    return {
      post: (m) => port.postMessage(m),
      onMessage: (h) => port.on('message', h),
      close: () => port.close(),
    };
  }
  if (typeof process.send === 'function') {
    return {
      post: (m) => process.send?.(m),
      onMessage: (h) => process.on('message', (m) => h(m as ToLoadgen)),
      close: () => process.disconnect(),
    };
  }
  return undefined;
}

class Cell {
  private readonly sockets: zmq.Request[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly histogram = createHistogram();
  private recording = false;
  private stopped = false;
  private warmed = 0;
  private count = 0;
  private errors = 0;
  private timeouts = 0;
  private firstError: string | undefined;
  private readonly startedAt = performance.now();
  private readonly firstReplies: number[] = [];
  private warmedAfterRetry = 0;
  private readonly attempts = new Map<number, number>();

  constructor(
    private readonly order: CellOrder,
    private readonly onWarm: () => void,
  ) {}

  start(): void {
    const payload = Buffer.alloc(this.order.size, 0x61);
    for (let i = 0; i < this.order.clients; i++) this.loops.push(this.client(i, payload, this.order.endpoints[i % this.order.endpoints.length] ?? ''));
  }

  private open(endpoint: string): zmq.Request {
    const s = new zmq.Request({ linger: 0, receiveTimeout: this.order.timeoutMs, sendTimeout: this.order.timeoutMs });
    s.connect(endpoint);
    this.sockets.push(s);
    return s;
  }

  /** One client, connected to one endpoint: with several (servers reached directly) clients are spread over them. */
  private async client(n: number, payload: Buffer, endpoint: string): Promise<void> {
    let socket = this.open(endpoint);
    let first = true;
    this.attempts.set(n, 1);
    while (!this.stopped) {
      const t0 = performance.now();
      try {
        await socket.send(payload);
        const reply = await socket.receive();
        const us = Math.max(1, Math.round((performance.now() - t0) * 1000));
        const wire = parseErrorReply(reply);
        if (wire !== undefined) {
          if (this.recording) {
            this.errors++;
            this.firstError ??= `${wire.kind}: ${wire.message}`;
          }
        } else if (this.recording) {
          this.count++;
          this.histogram.recordValue(us);
        }
        if (first) {
          first = false;
          this.firstReplies.push(performance.now() - this.startedAt);
          if ((this.attempts.get(n) ?? 1) > 1) this.warmedAfterRetry++;
          this.attempts.delete(n);
          if (++this.warmed === this.order.clients) this.onWarm();
        }
      } catch (err) {
        if (this.stopped) return;
        if (zmqCode(err) === 'EAGAIN') {
          if (this.recording) this.timeouts++;
          if (first) this.attempts.set(n, (this.attempts.get(n) ?? 1) + 1);
          socket.close();
          socket = this.open(endpoint);
          continue;
        }
        if (this.recording) {
          this.errors++;
          this.firstError ??= err instanceof Error ? err.message : String(err);
        }
        return;
      }
    }
  }

  diagnose(): Diagnosis {
    const sorted = [...this.firstReplies].sort((a, b) => a - b);
    let waitingAttempts = 0;
    for (const a of this.attempts.values()) waitingAttempts += a;
    return {
      type: 'diagnosis',
      clients: this.order.clients,
      warmed: this.warmed,
      warmedAfterRetry: this.warmedAfterRetry,
      waiting: this.attempts.size,
      waitingAttempts,
      firstReplyP50Ms: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0),
      firstReplyMaxMs: Math.round(sorted[sorted.length - 1] ?? 0),
    };
  }

  measure(): void {
    this.histogram.reset();
    this.count = 0;
    this.errors = 0;
    this.timeouts = 0;
    this.firstError = undefined;
    this.recording = true;
  }

  async stop(): Promise<LoadReport> {
    this.recording = false;
    this.stopped = true;
    const report: LoadReport = {
      type: 'report',
      count: this.count,
      errors: this.errors,
      timeouts: this.timeouts,
      firstError: this.firstError,
      histogram: encode(this.histogram),
    };
    for (const s of this.sockets) s.close();
    await Promise.allSettled(this.loops);
    this.histogram.destroy();
    return report;
  }
}

function main(ch: Channel): void {
  let cell: Cell | undefined;
  ch.post({ type: 'hello', tid: osThreadId(), pid: process.pid });
  ch.onMessage((msg) => {
    switch (msg.type) {
      case 'cell':
        cell = new Cell(msg, () => ch.post({ type: 'warm' }));
        cell.start();
        if (msg.clients === 0) ch.post({ type: 'warm' });
        break;
      case 'measure':
        cell?.measure();
        break;
      case 'diagnose':
        ch.post(cell?.diagnose() ?? { type: 'diagnosis', clients: 0, warmed: 0, warmedAfterRetry: 0, waiting: 0, waitingAttempts: 0, firstReplyP50Ms: 0, firstReplyMaxMs: 0 });
        break;
      case 'stop': {
        const c = cell;
        cell = undefined;
        void (async () => {
          if (c !== undefined) ch.post(await c.stop());
          ch.post({ type: 'closed' });
        })();
        break;
      }
      case 'exit':
        ch.close();
        break;
    }
  });
}

const ch = channel();
if (ch !== undefined) main(ch);
