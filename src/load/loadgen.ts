/**
 * A load generator: N REQ clients, each with one request in flight (as a REQ
 * client is), recording each round trip in an HDR histogram. With `inFlight`
 * above 1, each client is instead a zqueue Client (src/client.ts) with that
 * many requests outstanding on its one connection, as `nats bench` and
 * `redis-benchmark -P` load a server: batched where the device takes batches. Closed loop by
 * default (the next request as soon as the reply came); with a rate, open
 * loop: each client sends on a fixed schedule and its latency counts from
 * the time the request was due, so a stall is not hidden (no coordinated
 * omission).
 * It runs as a worker thread (so inproc reaches the device) or as a child
 * process (tcp/ipc clients past what one process's descriptors can hold),
 * and takes the same messages either way.
 */
import '../context.js';
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import * as zmq from 'zeromq';
import { parseErrorReply } from '../protocol.js';
import { zmqCode } from '../errors.js';
import { connectTo } from '../endpoints.js';
import { createHistogram, createClientHistogram, encode, type Histogram } from './histogram.js';
import { descriptors, osThreadId } from './cpu.js';
import { Link } from '../inproc.js';
import { Client } from '../client.js';
import { ErrorCode, isZqueueError } from '../errors.js';

export interface CellOrder {
  readonly type: 'cell';
  readonly endpoints: readonly string[];
  readonly clients: number;
  /** Requests each client keeps outstanding on its connection (1: a REQ socket; more: zqueue's multiplexing client). */
  readonly inFlight?: number;
  readonly size: number;
  /** One attempt's limit; past it the request counts as a timeout and the socket is replaced. */
  readonly timeoutMs: number;
  /**
   * The first request's limit on its first socket (default `timeoutMs`). The
   * warm-up gives it all its time: in a burst of thousands of connections, a
   * busy device may leave one in its listen queue for longer than a request's
   * timeout, and a client that gave up and reconnected would only add a dead
   * connection to that queue, ahead of its new one.
   */
  readonly firstTimeoutMs?: number;
  /** The request body; empty: `size` bytes of "a". */
  readonly message?: string;
  /** Open loop: requests per second for this generator's clients together (0: closed loop). */
  readonly rateRps?: number;
  /** Requests this generator's clients make in all, once measuring (0: until stopped); then it says "finished". */
  readonly requests?: number;
  /** CURVE: the server's public key and this client's key pair ('' for plain). */
  readonly curveServerKey?: string;
  readonly curvePublicKey?: string;
  readonly curveSecretKey?: string;
  /** Post a "progress" message this often while measuring (0: never). */
  readonly progressMs?: number;
  /** Send, with each progress message, a histogram of the latencies recorded since the last one (for an HdrHistogram interval log). */
  readonly intervals?: boolean;
}

/** Counts so far while measuring, for a live line. */
export interface LoadProgress {
  readonly type: 'progress';
  readonly count: number;
  readonly errors: number;
  readonly timeouts: number;
  /** With `intervals`: the latencies recorded since the last progress message (encoded). */
  readonly interval?: string;
}

export type ToLoadgen =
  CellOrder | { readonly type: 'measure' } | { readonly type: 'diagnose' } | { readonly type: 'stop' } | { readonly type: 'exit' };

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
  /** This generator's open descriptors and its limit (-1: unknown). */
  readonly fds: number;
  readonly fdLimit: number;
}

export interface LoadReport {
  readonly type: 'report';
  readonly count: number;
  readonly errors: number;
  readonly timeouts: number;
  /** The first error reply seen, to show what went wrong. */
  readonly firstError: string | undefined;
  /** Latency from when each request was due (open loop) or sent (closed loop). */
  readonly histogram: string;
  /** Open loop only: latency from each request's actual send, which hides a stall (wrk2's "uncorrected"). */
  readonly uncorrected: string | undefined;
  /** With `intervals`: what was recorded since the last progress message. */
  readonly lastInterval: string | undefined;
  /**
   * Per client, in this generator's order: measured replies, errors, timeouts and its latency histogram (encoded, 2 significant digits).
   */
  readonly perClient: readonly ClientFigures[];
}

export interface ClientFigures {
  readonly requests: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly histogram: string;
}

export type FromLoadgen =
  | { readonly type: 'hello'; readonly tid: number | undefined; readonly pid: number }
  | { readonly type: 'warm' }
  | LoadReport
  | Diagnosis
  | LoadProgress
  | { readonly type: 'finished' }
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

function bump(counts: Int32Array, i: number): void {
  counts[i] = (counts[i] ?? 0) + 1;
}

class Cell {
  private readonly sockets: zmq.Request[] = [];
  private readonly muxClients: Client[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly histogram = createHistogram();
  private readonly uncorrected: Histogram | undefined;
  private readonly interval: Histogram | undefined;
  private readonly clientHistograms: Histogram[];
  private readonly clientCounts: Int32Array;
  private readonly clientErrors: Int32Array;
  private readonly clientTimeouts: Int32Array;
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

  private progressTimer: NodeJS.Timeout | undefined;
  /** Requests still to start once measuring (Infinity: no limit), and clients still running. */
  private quota = Infinity;
  private finishedClients = 0;

  constructor(
    private readonly order: CellOrder,
    private readonly post: (msg: FromLoadgen) => void,
  ) {
    this.uncorrected = (order.rateRps ?? 0) > 0 ? createHistogram() : undefined;
    this.interval = order.intervals === true ? createHistogram() : undefined;
    this.clientHistograms = Array.from({ length: order.clients }, () => createClientHistogram());
    this.clientCounts = new Int32Array(order.clients);
    this.clientErrors = new Int32Array(order.clients);
    this.clientTimeouts = new Int32Array(order.clients);
  }

  start(): void {
    const o = this.order;
    const payload = o.message !== undefined && o.message !== '' ? Buffer.from(o.message) : Buffer.alloc(o.size, 0x61);
    const inFlight = o.inFlight ?? 1;
    for (let i = 0; i < o.clients; i++) {
      const endpoint = o.endpoints[i % o.endpoints.length] ?? '';
      this.loops.push(inFlight > 1 ? this.multiplexed(i, payload, endpoint, inFlight) : this.client(i, payload, endpoint));
    }
  }

  /** One zqueue Client with `inFlight` requests outstanding on its connection: a lane per request slot, each a closed (or open) loop. */
  private async multiplexed(n: number, payload: Buffer, endpoint: string, inFlight: number): Promise<void> {
    const o = this.order;
    const curve =
      o.curveServerKey !== undefined && o.curveServerKey !== ''
        ? { curveServerKey: o.curveServerKey, curvePublicKey: o.curvePublicKey ?? '', curveSecretKey: o.curveSecretKey ?? '' }
        : {};
    const client = new Client({ endpoint, timeoutMs: o.timeoutMs, retries: 0, maxInFlight: inFlight, ...curve });
    this.muxClients.push(client);
    this.attempts.set(n, 1);
    const rate = o.rateRps ?? 0;
    const interval = rate > 0 ? (1000 * o.clients * inFlight) / rate : 0;
    let first = true;
    const lane = async (): Promise<void> => {
      let due = performance.now() + Math.random() * interval;
      while (!this.stopped) {
        if (this.recording) {
          if (this.quota <= 0) break;
          this.quota--;
        }
        if (interval > 0) {
          for (let wait = due - performance.now(); wait > 0 && !this.stopped; wait = due - performance.now())
            await new Promise((r) => setTimeout(r, Math.max(1, wait)));
          if (this.stopped) break;
        }
        const sentAt = performance.now();
        const t0 = interval > 0 ? due : sentAt;
        due += interval;
        try {
          await client.request(payload, first ? { timeoutMs: o.firstTimeoutMs ?? o.timeoutMs } : {});
          const now = performance.now();
          if (this.recording) {
            const us = Math.max(1, Math.round((now - t0) * 1000));
            this.count++;
            bump(this.clientCounts, n);
            this.histogram.recordValue(us);
            this.clientHistograms[n]?.recordValue(us);
            this.interval?.recordValue(us);
            this.uncorrected?.recordValue(Math.max(1, Math.round((now - sentAt) * 1000)));
          }
          if (first) {
            first = false;
            this.firstReplies.push(now - this.startedAt);
            this.attempts.delete(n);
            if (++this.warmed === this.order.clients) this.post({ type: 'warm' });
          }
        } catch (err) {
          if (this.stopped) return;
          if (isZqueueError(err, ErrorCode.Timeout)) {
            if (this.recording) {
              this.timeouts++;
              bump(this.clientTimeouts, n);
            }
            if (first) this.attempts.set(n, (this.attempts.get(n) ?? 1) + 1);
            continue;
          }
          if (this.recording) {
            this.errors++;
            bump(this.clientErrors, n);
            this.firstError ??= err instanceof Error ? err.message : String(err);
          }
          // An error reply (busy, closing...) is an answer: the lane goes on, as a REQ client would after one.
          if (!isZqueueError(err)) break;
        }
      }
    };
    await Promise.all(Array.from({ length: inFlight }, lane));
    if (this.recording && ++this.finishedClients === this.order.clients) this.post({ type: 'finished' });
  }

  /** A REQ socket with its link's encoding (src/inproc.ts: clients on threads of the device's process). */
  private open(endpoint: string): Link<zmq.Request> {
    const o = this.order;
    const curve =
      o.curveServerKey !== undefined && o.curveServerKey !== ''
        ? { curveServerKey: o.curveServerKey, curvePublicKey: o.curvePublicKey ?? '', curveSecretKey: o.curveSecretKey ?? '' }
        : {};
    const s = new zmq.Request({ linger: 0, receiveTimeout: o.timeoutMs, sendTimeout: o.timeoutMs, ...curve });
    connectTo(s, endpoint);
    this.sockets.push(s);
    return new Link(s, endpoint);
  }

  /** One client, connected to one endpoint: with several (servers reached directly) clients are spread over them. */
  private async client(n: number, payload: Buffer, endpoint: string): Promise<void> {
    let link = this.open(endpoint);
    link.socket.receiveTimeout = this.order.firstTimeoutMs ?? this.order.timeoutMs;
    let first = true;
    this.attempts.set(n, 1);
    // Open loop: this client's share of the rate, its first send at a random phase so clients do not send in step.
    const rate = this.order.rateRps ?? 0;
    const interval = rate > 0 ? (1000 * this.order.clients) / rate : 0;
    let due = performance.now() + Math.random() * interval;
    while (!this.stopped) {
      if (this.recording) {
        if (this.quota <= 0) break;
        this.quota--;
      }
      if (interval > 0) {
        // A timer may fire up to a millisecond early: wait again until the request is due, so it is never sent before.
        for (let wait = due - performance.now(); wait > 0 && !this.stopped; wait = due - performance.now())
          await new Promise((r) => setTimeout(r, Math.max(1, wait)));
        if (this.stopped) break;
      }
      // Latency counts from when the request was due (open loop), or from its send (closed loop).
      const sentAt = performance.now();
      const t0 = interval > 0 ? due : sentAt;
      due += interval;
      try {
        await link.send([payload]);
        const reply = await link.receive();
        const now = performance.now();
        const us = Math.max(1, Math.round((now - t0) * 1000));
        const wire = parseErrorReply(reply);
        if (wire !== undefined) {
          if (this.recording) {
            this.errors++;
            bump(this.clientErrors, n);
            this.firstError ??= `${wire.kind}: ${wire.message}`;
          }
        } else if (this.recording) {
          this.count++;
          bump(this.clientCounts, n);
          this.histogram.recordValue(us);
          this.clientHistograms[n]?.recordValue(us);
          this.interval?.recordValue(us);
          this.uncorrected?.recordValue(Math.max(1, Math.round((now - sentAt) * 1000)));
        }
        if (first) {
          first = false;
          link.socket.receiveTimeout = this.order.timeoutMs;
          this.firstReplies.push(performance.now() - this.startedAt);
          if ((this.attempts.get(n) ?? 1) > 1) this.warmedAfterRetry++;
          this.attempts.delete(n);
          if (++this.warmed === this.order.clients) this.post({ type: 'warm' });
        }
      } catch (err) {
        if (this.stopped) return;
        if (zmqCode(err) === 'EAGAIN' && !this.stopped) {
          if (this.recording) {
            this.timeouts++;
            bump(this.clientTimeouts, n);
          }
          if (first) this.attempts.set(n, (this.attempts.get(n) ?? 1) + 1);
          link.socket.close();
          link = this.open(endpoint);
          continue;
        }
        if (this.recording) {
          this.errors++;
          bump(this.clientErrors, n);
          this.firstError ??= err instanceof Error ? err.message : String(err);
        }
        break;
      }
    }
    if (this.recording && ++this.finishedClients === this.order.clients) this.post({ type: 'finished' });
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
      fds: descriptors()?.open ?? -1,
      fdLimit: descriptors()?.limit ?? -1,
    };
  }

  measure(): void {
    this.histogram.reset();
    this.uncorrected?.reset();
    this.interval?.reset();
    for (const h of this.clientHistograms) h.reset();
    this.clientCounts.fill(0);
    this.clientErrors.fill(0);
    this.clientTimeouts.fill(0);
    this.count = 0;
    this.errors = 0;
    this.timeouts = 0;
    this.firstError = undefined;
    const requests = this.order.requests ?? 0;
    this.quota = requests > 0 ? requests : Infinity;
    this.recording = true;
    if (this.order.clients === 0 && requests > 0) this.post({ type: 'finished' });
    const every = this.order.progressMs ?? 0;
    if (every > 0) {
      this.progressTimer = setInterval(
        () =>
          this.post({
            type: 'progress',
            count: this.count,
            errors: this.errors,
            timeouts: this.timeouts,
            ...(this.interval !== undefined ? { interval: this.takeInterval(this.interval) } : {}),
          }),
        every,
      );
    }
  }

  async stop(): Promise<LoadReport> {
    clearInterval(this.progressTimer);
    this.recording = false;
    this.stopped = true;
    const report: LoadReport = {
      type: 'report',
      count: this.count,
      errors: this.errors,
      timeouts: this.timeouts,
      firstError: this.firstError,
      histogram: encode(this.histogram),
      uncorrected: this.uncorrected !== undefined ? encode(this.uncorrected) : undefined,
      lastInterval: this.interval !== undefined ? this.takeInterval(this.interval) : undefined,
      perClient: this.clientHistograms.map((h, i) => ({
        requests: this.clientCounts[i] ?? 0,
        errors: this.clientErrors[i] ?? 0,
        timeouts: this.clientTimeouts[i] ?? 0,
        histogram: encode(h),
      })),
    };
    for (const s of this.sockets) s.close();
    await Promise.all(this.muxClients.map((c) => c.close({ timeoutMs: 0 })));
    await Promise.allSettled(this.loops);
    for (const h of [this.histogram, this.uncorrected, this.interval, ...this.clientHistograms]) h?.destroy();
    return report;
  }

  /** The interval histogram so far, encoded, and a fresh start for the next. */
  private takeInterval(h: Histogram): string {
    const out = encode(h);
    h.reset();
    return out;
  }
}

function main(ch: Channel): void {
  let cell: Cell | undefined;
  ch.post({ type: 'hello', tid: osThreadId(), pid: process.pid });
  ch.onMessage((msg) => {
    switch (msg.type) {
      case 'cell':
        cell = new Cell(msg, (m) => ch.post(m));
        cell.start();
        if (msg.clients === 0) ch.post({ type: 'warm' });
        break;
      case 'measure':
        cell?.measure();
        break;
      case 'diagnose':
        ch.post(
          cell?.diagnose() ?? {
            type: 'diagnosis',
            clients: 0,
            warmed: 0,
            warmedAfterRetry: 0,
            waiting: 0,
            waitingAttempts: 0,
            firstReplyP50Ms: 0,
            firstReplyMaxMs: 0,
            fds: -1,
            fdLimit: -1,
          },
        );
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
