/**
 * A client that carries any number of concurrent requests on one connection
 * per device, and always ends each with a reply or a definite error.
 *
 * `request()` may be called from any number of callers at once: up to
 * `maxInFlight` requests are in flight together (past it, callers wait their
 * turn, in order). Each request carries its own id, so replies are matched
 * whatever order they come back in; a late or unknown reply is thrown away
 * and counted. Each request keeps its own timeout and retries (the zguide's
 * Lazy Pirate rules, per request), its own deadline on the wire, and may be
 * withdrawn with an AbortSignal.
 *
 * The wire (src/protocols/client-wire.ts): a new connection's first request
 * offers the batched wire. A least-busy zqueue device answers the offer, and
 * from then on the requests issued in one turn of the event loop go as one
 * message, and its replies come back the same way. Any other device (the
 * seed's, round-robin or native zqueue devices, a bound zqueue server) gets
 * the plain wire: one message a request, `[ZQDL, "", body...]`, the deadline
 * frame (protocol.ts) carrying the request's id, which every REP server
 * echoes.
 *
 * Timeouts. A request whose attempt times out is sent again, on the same
 * connection while the device is heard from (a retry replaces a copy still
 * queued there). A connection that stays silent through two attempts' timeouts
 * in a row, each sent after it opened, is taken for dead (its host gone
 * without a word) and replaced: its other requests are sent again on the new
 * one, within their own budgets.
 *
 * Several devices (`endpoints`, or a `dns:` name that resolves to several):
 * requests spread over the healthy ones in turn; a device silent through a
 * request's timeout is marked down for a back-off that doubles (from
 * timeoutMs up to 30 s), and that request goes to the next. Sockets set
 * ZMQ_IMMEDIATE, so nothing queues toward a device that is not connected: a
 * send fails within `FAILOVER_SEND_MS` and its requests move on at once. A
 * device that answers `closing` is shutting down and did not run the request:
 * it goes elsewhere.
 *
 * Majordomo requests (`service`) go one at a time: RFC 7 gives a request no
 * id, so a reply can only be matched as the answer to the one request out.
 *
 * Error replies from a zqueue device or server (protocol.ts) reject with a
 * ZqueueError whose code tells which: busy, closing, handler, timeout... They
 * are definite answers and are not retried.
 */
import './context.js';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as zmq from 'zeromq';
import { Link } from './inproc.js';
import { MDP_CLIENT } from './protocols/majordomo.js';
import { ErrorCode, ZqueueError, isSocketClosedError, zmqCode } from './errors.js';
import { connectTo } from './endpoints.js';
import { Endpoints } from './discovery.js';
import { clientOptions, resolveClientOptions, type ClientOptions, type ResolvedClientOptions, type CloseOptions } from './options.js';
import { EMPTY, DEADLINE_TAG, delimiterIndex, parseErrorReply, toFrames, type RequestBody } from './protocol.js';
import {
  BATCH,
  CLIENT_BATCH,
  FLAG_CANCEL,
  FLAG_RETRY,
  OFFER,
  isBatch,
  isHello,
  readBatch,
  readHello,
  type BatchLimits,
} from './protocols/client-wire.js';
import { INLINE_MAX, pack, packedSize, type PackItem } from './protocols/pack.js';
import { watchEvents } from './writer.js';
import { IdTable } from './id-table.js';

export type { RequestBody } from './protocol.js';

export interface RequestOptions {
  /** This request's attempt timeout (ms); default: the client's `timeoutMs`. */
  timeoutMs?: number;
  /** This request's retries; default: the client's `retries`. */
  retries?: number;
  /** Withdraws the request: it rejects at once with ERR_ZQ_ABORTED, and a device still holding it in its queue drops it. */
  signal?: AbortSignal;
}

export interface ClientStats {
  /** request() calls taken. */
  readonly requests: number;
  readonly replies: number;
  /** Attempts after a request's first. */
  readonly retries: number;
  /** Requests that ended in an error (error replies, timeouts, closing). */
  readonly failures: number;
  /** Retries sent to another device than the attempt before (several endpoints). */
  readonly failovers: number;
  /** Requests withdrawn through their AbortSignal. */
  readonly cancelled: number;
  /** Replies thrown away: late (their request had ended) or for no request of this client. */
  readonly discarded: number;
  /** Requests in flight now, and waiting for a slot (past maxInFlight). */
  readonly inFlight: number;
  readonly waiting: number;
  /** Connections opened (a device's first, and each replacement). */
  readonly connections: number;
  /** Messages sent: batches on the batched wire, and plain requests. */
  readonly batchesSent: number;
  readonly plainSent: number;
}

/** With several devices, how long a send waits for a device's connection before trying the next (ms). */
export const FAILOVER_SEND_MS = 250;
const MAX_BACKOFF_MS = 30_000;

/** One request, from request() to its end. Its fields are what a batch entry needs (PackItem), so it goes into a batch as it is. */
class Call implements PackItem {
  /** The request id's low 32 bits: the id on the batched wire, and in the deadline frame after the client's prefix. */
  readonly id: number;
  /** Its body, as a batch entry reads it (`frames[from..]`). */
  readonly frames: Buffer[];
  readonly from = 0;
  /** Set when it is packed: ms left of its attempt, and FLAG_RETRY after the first. */
  budgetMs = 0;
  flags = 0;
  attempt = 0;
  /** Its current attempt went to the connection it is on (false: it was moved there from one that was replaced). */
  fresh = true;
  /** When the current attempt's timer started, and when it was last handed to a connection (ms). */
  attemptAt = 0;
  sentAt = 0;
  /** Its place in its timer list (attempts of one timeoutMs, oldest first): see Timers. */
  timers: Timers | undefined = undefined;
  older: Call | undefined = undefined;
  newer: Call | undefined = undefined;
  conn: Connection | undefined = undefined;
  /** 'waiting': for a slot; 'flight': taken; 'done': ended. */
  state: 'waiting' | 'flight' | 'done' = 'waiting';
  onAbort: (() => void) | undefined = undefined;
  previous: string | undefined = undefined;

  constructor(
    id: number,
    frames: Buffer[],
    readonly timeoutMs: number,
    readonly retries: number,
    readonly signal: AbortSignal | undefined,
    readonly resolve: (reply: Buffer[]) => void,
    readonly reject: (err: Error) => void,
  ) {
    this.id = id;
    this.frames = frames;
  }
}

const CANCEL_BODY: readonly Buffer[] = [];

/**
 * The attempts of one timeoutMs, oldest first, as a list threaded through
 * the requests themselves, with one timer for the oldest: a request's
 * attempt joins at the end and leaves from anywhere without an allocation
 * (Node's own timer lists work so; a Timeout object per request costs more
 * than the rest of a request here).
 */
class Timers {
  oldest: Call | undefined = undefined;
  newest: Call | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;
  private due = 0;

  constructor(
    readonly timeoutMs: number,
    private readonly expired: (call: Call) => void,
  ) {}

  add(call: Call): void {
    call.timers = this;
    call.older = this.newest;
    call.newer = undefined;
    if (this.newest === undefined) this.oldest = call;
    else this.newest.newer = call;
    this.newest = call;
    if (this.timer === undefined) this.arm(call.attemptAt + this.timeoutMs);
  }

  remove(call: Call): void {
    if (call.timers !== this) return;
    if (call.older === undefined) this.oldest = call.newer;
    else call.older.newer = call.newer;
    if (call.newer === undefined) this.newest = call.older;
    else call.newer.older = call.older;
    call.timers = undefined;
    call.older = undefined;
    call.newer = undefined;
  }

  /** Stops the timer (the client is closed). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(due: number): void {
    this.due = due;
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(due - performance.now())));
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    // Timers may fire a little early: what is due within a millisecond counts.
    for (let c = this.oldest; c !== undefined && c.attemptAt + this.timeoutMs <= now + 1; c = this.oldest) {
      this.remove(c);
      this.expired(c);
    }
    const next = this.oldest;
    if (next !== undefined && this.timer === undefined) this.arm(Math.max(this.due, next.attemptAt + this.timeoutMs));
  };
}

/** A message on its way out, and the requests it carries (to move them on when it cannot be sent). */
interface Outgoing {
  readonly frames: Buffer[];
  readonly calls: readonly Call[];
}

/**
 * One device's connection: a DEALER, its read loop, and its send queue. The
 * requests given to it in one turn go out together when the turn ends.
 */
class Connection {
  readonly socket: zmq.Dealer;
  readonly link: Link<zmq.Dealer>;
  readonly openedAt = performance.now();
  /** When a message last came (ms; 0: never). */
  lastHeard = 0;
  /** Timeouts in a row, of attempts sent after this connection opened, with nothing heard since they went. */
  silentTimeouts = 0;
  /** 'unknown' until the device answers the offer (or answers without it); then 'batched' or 'plain'. */
  mode: 'unknown' | 'batched' | 'plain';
  offered = false;
  limits: BatchLimits = CLIENT_BATCH;
  handshakeError: string | undefined = undefined;
  private out: Call[] = [];
  private cancels: PackItem[] = [];
  private scheduled = false;
  private sending = false;
  closed = false;
  readonly ended: Promise<void>;
  private readonly watcher: Promise<void> | undefined;

  constructor(
    private readonly client: Client,
    readonly endpoint: string,
    options: ResolvedClientOptions,
    several: boolean,
    batching: boolean,
  ) {
    const curve = options.curveServerKey !== '';
    this.socket = new zmq.Dealer({
      linger: 0,
      // Several devices: a send to one not connected fails soon and moves on; one device: it waits (timers end requests).
      sendTimeout: several ? FAILOVER_SEND_MS : -1,
      ...(several ? { immediate: true } : {}),
      ...(curve
        ? { curveServerKey: options.curveServerKey, curvePublicKey: options.curvePublicKey, curveSecretKey: options.curveSecretKey }
        : {}),
    });
    this.mode = batching ? 'unknown' : 'plain';
    if (curve) {
      // A CURVE handshake that fails (wrong server key, key not allowed) looks like silence; the socket's events say why.
      this.watcher = watchEvents(this.socket, (event) => {
        if (event.type.startsWith('handshake:error')) {
          this.handshakeError = `${event.type.slice('handshake:error:'.length)}: ${'error' in event ? event.error.message : ''}`;
        }
      });
    }
    connectTo(this.socket, endpoint);
    this.link = new Link(this.socket, endpoint);
    this.ended = this.read();
  }

  /** Takes a request's attempt: it goes out when this turn ends. */
  add(call: Call): void {
    call.conn = this;
    call.sentAt = performance.now();
    this.out.push(call);
    this.schedule();
  }

  /** Tells the device to drop a request it may still hold (batched wire only: the plain wire has no way to). */
  cancel(id: number): void {
    if (this.mode !== 'batched' || this.closed) return;
    this.cancels.push({ id, budgetMs: 0, flags: FLAG_CANCEL, frames: CANCEL_BODY, from: 0 });
    this.schedule();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }

  /** The read loop, and the CURVE watcher, have ended. */
  async done(): Promise<void> {
    await this.ended;
    await this.watcher;
  }

  private schedule(): void {
    if (this.scheduled || this.sending) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (!this.sending && !this.closed) void this.pump();
  };

  /** Sends what is queued, and what is queued meanwhile, one message at a time (zeromq.js takes one send at once). */
  private async pump(): Promise<void> {
    this.sending = true;
    try {
      while (!this.closed && (this.out.length > 0 || this.cancels.length > 0)) {
        for (const m of this.build()) {
          if (this.closed) break;
          try {
            await this.link.send(m.frames);
            if (m.calls.length > 0 && isBatch(m.frames[0])) this.client.sent(true);
            else if (m.calls.length > 0) this.client.sent(false);
          } catch (err) {
            if (this.closed || isSocketClosedError(err)) return;
            this.client.notSent(this, m.calls, err);
          }
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /** This turn's messages: batches once the device said it takes them, else a plain request each. */
  private build(): Outgoing[] {
    const calls = this.out;
    this.out = [];
    const cancels = this.cancels;
    this.cancels = [];
    const now = performance.now();
    const messages: Outgoing[] = [];
    const live: Call[] = [];
    for (const c of calls) {
      // Ended, or moved to another connection, since it was queued here.
      if (c.state !== 'flight' || c.conn !== this) continue;
      c.budgetMs = Math.max(1, Math.ceil(c.attemptAt + c.timeoutMs - now));
      c.flags = c.attempt > 0 ? FLAG_RETRY : 0;
      live.push(c);
    }
    if (this.mode === 'batched') {
      const maxEntries = Math.min(this.limits.maxEntries, CLIENT_BATCH.maxEntries);
      const maxBytes = Math.min(this.limits.maxBytes, CLIENT_BATCH.maxBytes);
      let items: PackItem[] = [];
      let batchCalls: Call[] = [];
      let bytes = 0;
      const close = (): void => {
        if (items.length === 0) return;
        const frames: Buffer[] = [BATCH];
        pack(frames, items, bytes);
        messages.push({ frames, calls: batchCalls });
        items = [];
        batchCalls = [];
        bytes = 0;
      };
      for (const item of [...cancels, ...live]) {
        const size = packedSize(item) + extraBytes(item);
        if (items.length >= maxEntries || (items.length > 0 && bytes + size > maxBytes)) close();
        items.push(item);
        bytes += packedSize(item);
        if (item instanceof Call) batchCalls.push(item);
      }
      close();
      return messages;
    }
    for (const c of live) messages.push({ frames: this.client.plainMessage(this, c), calls: [c] });
    return messages;
  }

  private async read(): Promise<void> {
    try {
      for (;;) {
        const frames = await this.link.receive();
        this.lastHeard = performance.now();
        this.silentTimeouts = 0;
        this.client.received(this, frames);
      }
    } catch (err) {
      if (!this.closed && !isSocketClosedError(err)) this.client.broken(this, err);
    }
  }
}

/** Bytes of an item's frames sent as extras (not counted in the pack). */
function extraBytes(item: PackItem): number {
  let n = 0;
  for (let i = item.from; i < item.frames.length; i++) {
    const len = (item.frames[i] as Buffer).length;
    if (len > INLINE_MAX) n += len;
  }
  return n;
}

export class Client {
  readonly options: ResolvedClientOptions;
  private readonly connections = new Map<string, Connection>();
  private readonly retired = new Set<Connection>();
  private readonly down = new Map<string, { until: number; backoffMs: number }>();
  /** The devices known now: the endpoints given, a `dns:` one's addresses as they are resolved (src/discovery.ts). */
  private endpoints: readonly string[];
  private readonly members: Endpoints;
  private lastResolveError: string | undefined;
  private turn = 0;
  private closing: Promise<void> | undefined;
  private closed = false;
  private readonly calls = new IdTable<Call>(64);
  /** Attempts waiting for their reply, a list per timeoutMs. */
  private readonly timers = new Map<number, Timers>();
  private readonly queue: Call[] = [];
  private queueHead = 0;
  /** Requests with no device to go to yet (a dns: name with no address): they go when one appears. */
  private readonly homeless = new Set<Call>();
  private inFlight = 0;
  private readonly maxInFlight: number;
  private drained: (() => void) | undefined;
  private counts = {
    requests: 0,
    replies: 0,
    retries: 0,
    failures: 0,
    failovers: 0,
    cancelled: 0,
    discarded: 0,
    connections: 0,
    batchesSent: 0,
    plainSent: 0,
  };
  /** Request ids: this client's 4 random bytes, then a count (the same id on every attempt of a request). */
  private readonly idPrefix = randomBytes(4);
  private nextId = 0;
  /** Majordomo: the service's name as a frame; undefined for plain requests. */
  private readonly service: Buffer | undefined;

  constructor(options: ClientOptions = {}) {
    this.options = resolveClientOptions(options);
    this.members = new Endpoints(this.options.endpoints.length > 0 ? this.options.endpoints : [this.options.endpoint]);
    this.endpoints = this.members.current;
    this.service = this.options.service === '' ? undefined : Buffer.from(this.options.service);
    this.maxInFlight = this.service === undefined ? this.options.maxInFlight : 1;
    if (this.members.dynamic) {
      this.members.on('added', () => {
        this.endpoints = this.members.current;
        this.rehome();
      });
      this.members.on('removed', (endpoint) => {
        this.endpoints = this.members.current;
        this.forget(endpoint);
      });
      this.members.on('resolved', () => (this.lastResolveError = undefined));
      this.members.on('error', (err) => (this.lastResolveError = err.message));
      void this.members.start().catch((err: unknown) => (this.lastResolveError = err instanceof Error ? err.message : String(err)));
    }
  }

  stats(): ClientStats {
    return { ...this.counts, inFlight: this.inFlight, waiting: this.queue.length - this.queueHead };
  }

  /**
   * Sends one request and resolves with the reply's frames. Any number of
   * calls may be made at once: up to `maxInFlight` are in flight together,
   * the rest wait their turn in order.
   */
  request(body: RequestBody, options: RequestOptions = {}): Promise<Buffer[]> {
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    const retries = options.retries ?? this.options.retries;
    const signal = options.signal;
    let frames: Buffer[];
    try {
      // Checked as the option table checks the client's own (one bound, written once).
      clientOptions.timeoutMs.check('timeoutMs', timeoutMs);
      clientOptions.retries.check('retries', retries);
      if (signal !== undefined && !(signal instanceof AbortSignal))
        throw new ZqueueError(ErrorCode.InvalidOption, 'option "signal" must be an AbortSignal');
      frames = toFrames(body, 'a request body', false);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.closing !== undefined) return Promise.reject(new ZqueueError(ErrorCode.Closed, 'client closed'));
    if (signal?.aborted === true) return Promise.reject(aborted(signal));
    return new Promise<Buffer[]>((resolve, reject) => {
      this.nextId = (this.nextId + 1) >>> 0;
      const call = new Call(this.nextId, frames, timeoutMs, retries, signal, resolve, reject);
      this.counts.requests++;
      if (signal !== undefined) {
        call.onAbort = () => this.abort(call);
        signal.addEventListener('abort', call.onAbort, { once: true });
      }
      if (this.inFlight < this.maxInFlight && this.queueHead === this.queue.length) this.launch(call);
      else this.queue.push(call);
    });
  }

  /**
   * Takes no more requests, waits up to `timeoutMs` for those in flight (and
   * those waiting for a slot) to end, then rejects what is left with
   * ERR_ZQ_CLOSED and closes the sockets. Idempotent.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.shutdown(options.timeoutMs ?? this.options.closeTimeoutMs);
    return this.closing;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    if (this.inFlight > 0 && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.drained = undefined;
    }
    this.closed = true;
    this.members.close();
    for (const t of this.timers.values()) t.stop();
    const left = [...this.calls.values(), ...this.queue.slice(this.queueHead)];
    this.queue.length = 0;
    this.queueHead = 0;
    for (const c of left) this.fail(c, new ZqueueError(ErrorCode.Closed, 'client closed while the request was in flight'));
    const all = [...this.connections.values(), ...this.retired];
    this.connections.clear();
    this.retired.clear();
    for (const conn of all) conn.close();
    await Promise.all(all.map((c) => c.done()));
  }

  /**
   * Spread over several devices (a list, or a dns: name that may resolve to several): fail over, queue nothing toward a device not
   * connected.
   */
  private get several(): boolean {
    return this.members.dynamic || this.endpoints.length > 1;
  }

  // ---------------------------------------------------------------- a request's life

  private launch(call: Call): void {
    call.state = 'flight';
    this.inFlight++;
    this.calls.set(call.id, call);
    this.attempt(call);
  }

  /** Starts an attempt: its timer, and a device to send it to (or a wait for one). */
  private attempt(call: Call): void {
    call.attemptAt = performance.now();
    call.fresh = true;
    let timers = this.timers.get(call.timeoutMs);
    if (timers === undefined) {
      timers = new Timers(call.timeoutMs, this.timedOut);
      this.timers.set(call.timeoutMs, timers);
    }
    timers.add(call);
    this.send(call);
  }

  /** Hands the request to a device's connection, within its current attempt (its timer runs on). */
  private send(call: Call): void {
    if (this.endpoints.length === 0) {
      call.conn = undefined;
      this.homeless.add(call);
      return;
    }
    const endpoint = this.pick();
    if (call.attempt > 0 && call.previous !== undefined && endpoint !== call.previous) this.counts.failovers++;
    call.previous = endpoint;
    this.connection(endpoint).add(call);
  }

  private readonly timedOut = (call: Call): void => {
    if (call.state !== 'flight') return;
    const conn = call.conn;
    // Off its connection first: a replacement below must not move it (its next attempt goes out on its own).
    call.conn = undefined;
    if (conn !== undefined) {
      const handshake = conn.handshakeError;
      if (handshake !== undefined) {
        // Resending cannot help: the keys are wrong.
        this.replace(conn);
        this.fail(
          call,
          new ZqueueError(
            ErrorCode.Handshake,
            `the CURVE handshake with ${conn.endpoint} failed (${handshake}): check the server key, and ` +
              `that this client's key is on the device's allow-list`,
          ),
        );
        return;
      }
      // Silent: nothing came on this connection since this attempt went out on it (not moved there from a replaced one).
      const silent = call.fresh && conn.lastHeard < call.attemptAt;
      if (silent) {
        this.markDown(conn.endpoint, call.timeoutMs);
        conn.silentTimeouts++;
      }
      // Majordomo has no ids: a late reply could be taken for the next request's, so its connection goes each time.
      if (this.service !== undefined || (silent && conn.silentTimeouts >= 2)) this.replace(conn);
    } else {
      this.homeless.delete(call);
    }
    if (call.attempt >= call.retries) {
      const attempts = call.retries + 1;
      this.fail(
        call,
        new ZqueueError(
          call.retries === 0 ? ErrorCode.Timeout : ErrorCode.RetriesExhausted,
          `no reply from ${this.describeDevices()} after ${attempts} attempt${attempts === 1 ? '' : 's'} of ${call.timeoutMs} ms`,
        ),
      );
      return;
    }
    this.retry(call);
  };

  private retry(call: Call): void {
    call.timers?.remove(call);
    call.conn = undefined;
    call.attempt++;
    this.counts.retries++;
    this.attempt(call);
  }

  private describeDevices(): string {
    if (this.endpoints.length > 0) return this.endpoints.join(', ');
    const given = this.options.endpoints.length > 0 ? this.options.endpoints.join(', ') : this.options.endpoint;
    return `${given} (no device address found${this.lastResolveError !== undefined ? `: ${this.lastResolveError}` : ''})`;
  }

  private abort(call: Call): void {
    if (call.state === 'done') return;
    this.counts.cancelled++;
    const conn = call.conn;
    const reason = call.signal === undefined ? undefined : aborted(call.signal);
    if (call.state === 'flight' && conn !== undefined) conn.cancel(call.id);
    this.end(call);
    call.reject(reason ?? new ZqueueError(ErrorCode.Aborted, 'the request was aborted'));
  }

  /** A reply (or error reply) for request `id`. */
  private settle(conn: Connection, id: number, body: Buffer[]): void {
    const call = this.calls.get(id);
    if (call === undefined || call.state !== 'flight') {
      this.counts.discarded++;
      return;
    }
    let reply = body;
    if (this.service !== undefined) {
      if (reply[0]?.equals(MDP_CLIENT) !== true || reply[1]?.equals(this.service) !== true) {
        this.fail(
          call,
          new ZqueueError(
            ErrorCode.BadRequest,
            `a reply that is not Majordomo's for service "${this.options.service}" (MDPC01, the service, the body)`,
          ),
        );
        return;
      }
      reply = reply.slice(2);
    }
    const wire = parseErrorReply(reply);
    if (wire !== undefined && wire.code === ErrorCode.Closing && this.several && call.attempt < call.retries) {
      // A device that is shutting down did not run the request: another device may (a rolling restart loses nothing).
      this.markDown(conn.endpoint, call.timeoutMs);
      this.retry(call);
      return;
    }
    if (wire !== undefined) {
      this.fail(call, new ZqueueError(wire.code, `${wire.kind}: ${wire.message}`));
      return;
    }
    this.counts.replies++;
    this.down.delete(conn.endpoint);
    this.end(call);
    call.resolve(reply);
  }

  private fail(call: Call, err: Error): void {
    if (call.state === 'done') return;
    this.counts.failures++;
    this.end(call);
    call.reject(err);
  }

  /** A request ended: its timer, its listener and its slot go; the next waiting request takes the slot. */
  private end(call: Call): void {
    const wasInFlight = call.state === 'flight';
    call.state = 'done';
    call.timers?.remove(call);
    call.conn = undefined;
    if (call.onAbort !== undefined) call.signal?.removeEventListener('abort', call.onAbort);
    if (!wasInFlight) return;
    this.calls.delete(call.id);
    this.homeless.delete(call);
    this.inFlight--;
    while (this.inFlight < this.maxInFlight && this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead] as Call;
      this.queue[this.queueHead++] = undefined as unknown as Call;
      if (this.queueHead === this.queue.length) {
        this.queue.length = 0;
        this.queueHead = 0;
      }
      if (next.state === 'waiting' && !this.closed) this.launch(next);
    }
    if (this.inFlight === 0) this.drained?.();
  }

  // ---------------------------------------------------------------- connections

  /** The next device to ask: the healthy ones in turn; when all are down, the one whose back-off ends first. */
  private pick(): string {
    const n = this.endpoints.length;
    if (n === 1) return this.endpoints[0] as string;
    const now = performance.now();
    for (let i = 0; i < n; i++) {
      const ep = this.endpoints[(this.turn + i) % n] as string;
      if ((this.down.get(ep)?.until ?? 0) <= now) {
        this.turn = (this.turn + i + 1) % n;
        return ep;
      }
    }
    let best = this.endpoints[0] as string;
    for (const ep of this.endpoints) if ((this.down.get(ep)?.until ?? 0) < (this.down.get(best)?.until ?? 0)) best = ep;
    return best;
  }

  private markDown(ep: string, timeoutMs: number): void {
    if (!this.several) return;
    const before = this.down.get(ep);
    const backoffMs = Math.min(MAX_BACKOFF_MS, before === undefined ? timeoutMs : before.backoffMs * 2);
    this.down.set(ep, { until: performance.now() + backoffMs, backoffMs });
  }

  private connection(endpoint: string): Connection {
    let conn = this.connections.get(endpoint);
    if (conn === undefined) {
      conn = new Connection(this, endpoint, this.options, this.several, this.options.batching && this.service === undefined);
      this.counts.connections++;
      this.connections.set(endpoint, conn);
    }
    return conn;
  }

  /** A connection taken for dead: closed, and its requests sent again (a device chosen afresh), within their own attempts. */
  private replace(conn: Connection): void {
    if (this.connections.get(conn.endpoint) === conn) this.connections.delete(conn.endpoint);
    this.retire(conn);
    const moving: Call[] = [];
    for (const c of this.calls.values()) if (c.conn === conn && c.state === 'flight') moving.push(c);
    for (const c of moving) {
      c.fresh = false;
      this.send(c);
    }
  }

  /** Closes a connection; its read loop is awaited at close(). */
  private retire(conn: Connection): void {
    conn.close();
    this.retired.add(conn);
    void conn.done().then(() => this.retired.delete(conn));
  }

  /** A device left the records: its connection goes, and its requests go to the others. */
  private forget(endpoint: string): void {
    const conn = this.connections.get(endpoint);
    this.down.delete(endpoint);
    if (conn !== undefined) this.replace(conn);
  }

  /** Devices appeared: requests that had none go now. */
  private rehome(): void {
    if (this.endpoints.length === 0) return;
    const waiting = [...this.homeless];
    this.homeless.clear();
    for (const c of waiting) {
      if (c.state !== 'flight') continue;
      c.fresh = false;
      this.send(c);
    }
  }

  // ---------------------------------------------------------------- what the connections report

  /** The plain wire's message for a request: `[OFFER?, ZQDL, "", body...]`, or Majordomo's `["", "MDPC01", service, body...]`. */
  plainMessage(conn: Connection, c: Call): Buffer[] {
    if (this.service !== undefined) return [EMPTY, MDP_CLIENT, this.service, ...c.frames];
    const dl = Buffer.allocUnsafe(16);
    DEADLINE_TAG.copy(dl, 0);
    dl.writeUInt32BE(c.budgetMs, 4);
    this.idPrefix.copy(dl, 8);
    dl.writeUInt32BE(c.id, 12);
    if (conn.mode === 'unknown' && !conn.offered) {
      // The connection's first request offers the batched wire; a reply to it with no HELLO first says the device does not speak it.
      conn.offered = true;
      return [OFFER, dl, EMPTY, ...c.frames];
    }
    return [dl, EMPTY, ...c.frames];
  }

  sent(batched: boolean): void {
    if (batched) this.counts.batchesSent++;
    else this.counts.plainSent++;
  }

  /** A message from a device. */
  received(conn: Connection, frames: Buffer[]): void {
    const first = frames[0];
    if (isBatch(first)) {
      const r = readBatch(frames, 1, (id, _budget, _flags, body) => this.settle(conn, id, body), 0xffff_ffff);
      if (typeof r !== 'number') this.counts.discarded++;
      return;
    }
    if (isHello(first)) {
      const limits = readHello(frames);
      if (limits !== undefined && conn.mode === 'unknown') {
        conn.mode = 'batched';
        conn.limits = limits;
      }
      return;
    }
    const d = delimiterIndex(frames, 0);
    if (d < 0) {
      this.counts.discarded++;
      return;
    }
    const body = frames.slice(d + 1);
    if (this.service !== undefined) {
      // Majordomo: one request out on this connection at a time.
      for (const c of this.calls.values()) {
        if (c.conn !== conn) continue;
        this.settle(conn, c.id, body);
        return;
      }
      this.counts.discarded++;
      return;
    }
    // The offering request's reply came with no HELLO before it: this device speaks the plain wire only.
    if (conn.mode === 'unknown' && d >= 2 && frames[d - 2]?.equals(OFFER) === true) conn.mode = 'plain';
    const dl = d >= 1 ? frames[d - 1] : undefined;
    if (
      dl === undefined ||
      dl.length !== 16 ||
      dl.compare(DEADLINE_TAG, 0, 4, 0, 4) !== 0 ||
      dl.compare(this.idPrefix, 0, 4, 8, 12) !== 0
    ) {
      this.counts.discarded++;
      return;
    }
    this.settle(conn, dl.readUInt32BE(12), body);
  }

  /** A message could not be sent (several devices: this one is not connected): its requests move on at once. */
  notSent(conn: Connection, calls: readonly Call[], err: unknown): void {
    const again = zmqCode(err) === 'EAGAIN';
    if (again) this.markDown(conn.endpoint, this.options.timeoutMs);
    for (const c of calls) {
      if (c.state !== 'flight' || c.conn !== conn) continue;
      if (!again) this.fail(c, err instanceof Error ? err : new Error(String(err)));
      else if (c.attempt < c.retries) this.retry(c);
      else
        this.fail(
          c,
          new ZqueueError(
            c.retries === 0 ? ErrorCode.Timeout : ErrorCode.RetriesExhausted,
            `no device of ${this.describeDevices()} took the request (not connected) after ${c.retries + 1} attempts`,
          ),
        );
    }
  }

  /** A connection's read loop failed (not by closing): it is replaced. */
  broken(conn: Connection, _err: unknown): void {
    if (!this.closed) this.replace(conn);
  }
}

function aborted(signal: AbortSignal): ZqueueError {
  return new ZqueueError(ErrorCode.Aborted, 'the request was aborted', { cause: signal.reason });
}

/** Creates a client (its sockets open on the first request). */
export function createClient(options: ClientOptions = {}): Client {
  return new Client(options);
}
