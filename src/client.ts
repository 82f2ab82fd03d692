/**
 * A client that always ends a request with a reply or a definite error, the
 * zguide's Lazy Pirate way: it waits `timeoutMs` for each reply, and on a
 * timeout resends, up to `retries` times.
 *
 * Unlike Lazy Pirate's REQ socket, the first timeout keeps the connection:
 * every request carries its id (protocol.ts), so a late reply to an earlier
 * request is told apart and thrown away, and a late reply to an earlier
 * attempt of this request is its reply. A new connection per timeout is
 * what makes a retry storm cost a device most (an accept, a handshake, and
 * two notices on its thread) and this client too (158 µs of CPU a socket
 * here). The deadline the request carries tells the device when a copy is
 * stale, and a retry replaces one still queued. A second timeout in a row
 * with nothing heard closes the socket and opens a new one, as Lazy Pirate
 * does, for a connection that died without a word (its host gone). With
 * several devices, for Majordomo requests, and after a failed CURVE
 * handshake, every timeout closes the socket.
 *
 * Its socket is a DEALER that speaks as a REQ does (`["", body...]`, one
 * request at a time), with one more envelope frame: the attempt's deadline
 * (protocol.ts, `deadlineFrame`), which every REP server echoes and a
 * least-busy zqueue device acts on. Majordomo requests go without it, as
 * RFC 7 frames them.
 *
 * Error replies from a zqueue device or server (see protocol.ts) reject with
 * a ZqueueError whose code tells which: busy, closing, handler, timeout...
 * They are definite answers and are not retried.
 *
 * With several devices (`endpoints`, the zguide's Freelance model 1 with
 * Lazy Pirate rules): one REQ socket per device, requests spread over the
 * healthy ones in turn; on a timeout the socket goes, the device is marked
 * down for a back-off that doubles (from timeoutMs up to 30 s), and the
 * request is sent again to the next device. Sockets set ZMQ_IMMEDIATE, so
 * nothing queues toward a device that is not connected: such a send fails
 * within `FAILOVER_SEND_MS` and moves on at once.
 */
import { Link } from './inproc.js';
import { MDP_CLIENT } from './protocols/majordomo.js';
import './context.js';
import { randomBytes } from 'node:crypto';
import * as zmq from 'zeromq';
import { ErrorCode, ZqueueError, isSocketClosedError, zmqCode } from './errors.js';
import { connectTo } from './endpoints.js';
import { Endpoints } from './discovery.js';
import { clientOptions, resolveClientOptions, type ClientOptions, type ResolvedClientOptions } from './options.js';
import { EMPTY, deadlineFrame, delimiterIndex, parseErrorReply, requestIdIn, toFrames, type RequestBody } from './protocol.js';
import { watchEvents } from './writer.js';

export type { RequestBody } from './protocol.js';

export interface RequestOptions {
  timeoutMs?: number;
  retries?: number;
}

export interface ClientStats {
  readonly requests: number;
  readonly replies: number;
  readonly retries: number;
  readonly failures: number;
  /** Retries sent to another device than the attempt before (several endpoints). */
  readonly failovers: number;
}

/** With several devices, how long a send waits for a device's connection before trying the next (ms). */
export const FAILOVER_SEND_MS = 250;
const MAX_BACKOFF_MS = 30_000;

export class Client {
  readonly options: ResolvedClientOptions;
  /** One socket per device (one device: one socket, as the plain Lazy Pirate). */
  private readonly sockets = new Map<string, Link<zmq.Dealer>>();
  private readonly down = new Map<string, { until: number; backoffMs: number }>();
  /** The devices known now: the endpoints given, a `dns:` one's addresses as they are resolved (src/discovery.ts). */
  private endpoints: readonly string[];
  private readonly members: Endpoints;
  /** The first resolution of the dns: endpoints (undefined: none, or done). */
  private found: Promise<void> | undefined;
  private lastResolveError: string | undefined;
  private turn = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private requests = 0;
  private replies = 0;
  private retryCount = 0;
  private failures = 0;
  private failovers = 0;
  /** Request ids: this client's 4 random bytes, then a count (the same id on every attempt of a request). */
  private readonly idPrefix = randomBytes(4);
  private nextId = 0;
  /** The last handshake failure seen on the current socket (CURVE only). */
  private handshakeError: string | undefined;
  /** Devices whose socket was kept after a timeout and has heard nothing since (the next timeout closes it). */
  private readonly silent = new Set<string>();

  /** Majordomo: the service's name as a frame; undefined for plain requests. */
  private readonly service: Buffer | undefined;

  constructor(options: ClientOptions = {}) {
    this.options = resolveClientOptions(options);
    this.members = new Endpoints(this.options.endpoints.length > 0 ? this.options.endpoints : [this.options.endpoint]);
    this.endpoints = this.members.current;
    if (this.members.dynamic) {
      const update = (): void => void (this.endpoints = this.members.current);
      this.members.on('added', update);
      this.members.on('removed', update);
      this.members.on('resolved', () => (this.lastResolveError = undefined));
      this.members.on('error', (err) => (this.lastResolveError = err.message));
      this.found = this.members.start();
    }
    this.service = this.options.service === '' ? undefined : Buffer.from(this.options.service);
  }

  stats(): ClientStats {
    return { requests: this.requests, replies: this.replies, retries: this.retryCount, failures: this.failures, failovers: this.failovers };
  }

  /**
   * Sends one request and resolves with the reply's frames. Calls made while
   * a request is outstanding wait their turn (a REQ socket holds one request).
   */
  request(body: RequestBody, options: RequestOptions = {}): Promise<Buffer[]> {
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    const retries = options.retries ?? this.options.retries;
    let frames: Buffer[];
    try {
      // Checked as the option table checks the client's own (one bound, written once).
      clientOptions.timeoutMs.check('timeoutMs', timeoutMs);
      clientOptions.retries.check('retries', retries);
      frames = toFrames(body, 'a request body', false);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const run = this.chain.then(() => this.attempt(frames, timeoutMs, retries));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Closes the socket; a request in progress rejects with ERR_ZQ_CLOSED. Idempotent. */
  close(): void {
    this.closed = true;
    this.members.close();
    for (const s of this.sockets.values()) s.socket.close();
    this.sockets.clear();
  }

  /** Spread over several devices (a list, or a dns: name that may resolve to several): fail over, queue nothing toward a device not connected. */
  private get several(): boolean {
    return this.members.dynamic || this.endpoints.length > 1;
  }

  /** Closes the sockets of devices that left the records (called between requests, when none is in use). */
  private forgetGone(): void {
    if (!this.members.dynamic) return;
    const known = new Set(this.endpoints);
    for (const [ep, link] of this.sockets) {
      if (known.has(ep)) continue;
      link.socket.close();
      this.sockets.delete(ep);
      this.down.delete(ep);
    }
  }

  /** Waits up to `ms` for a device to be found (a dns: name that resolved to nothing yet); false if none was. */
  private async someDevice(ms: number): Promise<boolean> {
    if (this.endpoints.length > 0) return true;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.members.off('added', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.members.on('added', done);
    });
    return this.endpoints.length > 0 && !this.closed;
  }

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

  private open(endpoint: string, timeoutMs: number): Link<zmq.Dealer> {
    const o = this.options;
    const curve = o.curveServerKey !== '';
    const several = this.several;
    const socket = new zmq.Dealer({
      linger: 0,
      receiveTimeout: timeoutMs,
      sendTimeout: several ? Math.min(timeoutMs, FAILOVER_SEND_MS) : timeoutMs,
      // Several devices: queue nothing toward one that is not connected.
      ...(several ? { immediate: true } : {}),
      ...(curve ? { curveServerKey: o.curveServerKey, curvePublicKey: o.curvePublicKey, curveSecretKey: o.curveSecretKey } : {}),
    });
    this.handshakeError = undefined;
    if (curve) {
      // A CURVE handshake that fails (wrong server key, key not allowed) looks
      // like silence to REQ; the socket's events say why, for the error.
      void watchEvents(socket, (event) => {
        if (event.type.startsWith('handshake:error') && socket === this.sockets.get(endpoint)?.socket) {
          this.handshakeError = `${event.type.slice('handshake:error:'.length)}: ${'error' in event ? event.error.message : ''}`;
        }
      });
    }
    connectTo(socket, endpoint);
    const link = new Link(socket, endpoint);
    this.sockets.set(endpoint, link);
    return link;
  }

  private async attempt(frames: Buffer[], timeoutMs: number, retries: number): Promise<Buffer[]> {
    this.requests++;
    const id = Buffer.allocUnsafe(8);
    this.idPrefix.copy(id, 0);
    id.writeUInt32BE((this.nextId = (this.nextId + 1) >>> 0), 4);
    const idKey = id.toString('latin1');
    let previous: string | undefined;
    if (this.found !== undefined) {
      await this.found;
      this.found = undefined;
    }
    this.forgetGone();
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (this.closed) throw new ZqueueError(ErrorCode.Closed, 'client closed');
      if (attempt > 0) this.retryCount++;
      // A dns: name with no address yet (or none left): this attempt waits for one to appear.
      if (!(await this.someDevice(timeoutMs))) continue;
      const endpoint = this.pick();
      if (attempt > 0 && endpoint !== previous) this.failovers++;
      previous = endpoint;
      const link = this.sockets.get(endpoint) ?? this.open(endpoint, timeoutMs);
      const socket = link.socket;
      socket.receiveTimeout = timeoutMs;
      socket.sendTimeout = this.several ? Math.min(timeoutMs, FAILOVER_SEND_MS) : timeoutMs;
      let reply: Buffer[];
      try {
        // Majordomo (RFC 7): ["MDPC01", service, body...] both ways; a plain request carries the attempt's deadline.
        const message = this.service === undefined ? [deadlineFrame(timeoutMs, id), EMPTY, ...frames] : [EMPTY, MDP_CLIENT, this.service, ...frames];
        await link.send(message);
        const sent = performance.now();
        for (;;) {
          const received = await link.receive();
          this.silent.delete(endpoint);
          const d = delimiterIndex(received, 0);
          // A late reply to an earlier request, on a socket kept after its timeout: thrown away.
          const rid = this.service === undefined ? requestIdIn(received, d) : undefined;
          if (rid !== undefined && rid !== idKey) {
            socket.receiveTimeout = Math.max(1, Math.round(timeoutMs - (performance.now() - sent)));
            continue;
          }
          // What came back along the envelope (the deadline) goes; the reply is what follows the delimiter.
          reply = received.slice(d + 1);
          break;
        }
      } catch (err) {
        if (this.closed || isSocketClosedError(err)) {
          this.failures++;
          throw new ZqueueError(ErrorCode.Closed, 'client closed while waiting for a reply', { cause: err });
        }
        if (zmqCode(err) !== 'EAGAIN') {
          this.failures++;
          throw err;
        }
        const handshake = this.handshakeError;
        // One device, plain requests: the first timeout keeps the connection (a late reply is told apart by its request id).
        if (!this.several && this.service === undefined && handshake === undefined && !this.silent.has(endpoint)) {
          this.silent.add(endpoint);
          continue;
        }
        // No reply in time (a second time in a row: the connection may be dead, or with several devices,
        // Majordomo, a failed handshake): this socket may still get the old reply, so it goes; with several devices, this one rests.
        socket.close();
        this.sockets.delete(endpoint);
        this.silent.delete(endpoint);
        this.markDown(endpoint, timeoutMs);
        if (handshake !== undefined) {
          // Resending cannot help: the keys are wrong.
          this.failures++;
          throw new ZqueueError(
            ErrorCode.Handshake,
            `the CURVE handshake with ${endpoint} failed (${handshake}): check the server key, and that this client's key is on the device's allow-list`,
          );
        }
        continue;
      }
      if (this.service !== undefined) {
        if (reply[0]?.equals(MDP_CLIENT) !== true || reply[1]?.equals(this.service) !== true) {
          this.failures++;
          throw new ZqueueError(ErrorCode.BadRequest, `a reply that is not Majordomo's for service "${this.options.service}" (MDPC01, the service, the body)`);
        }
        reply = reply.slice(2);
      }
      const wire = parseErrorReply(reply);
      if (wire !== undefined && wire.code === ErrorCode.Closing && this.several && attempt < retries) {
        // A device that is shutting down did not run the request: another device may (a rolling restart loses nothing).
        this.markDown(endpoint, timeoutMs);
        continue;
      }
      if (wire !== undefined) {
        this.failures++;
        throw new ZqueueError(wire.code, `${wire.kind}: ${wire.message}`);
      }
      this.replies++;
      this.down.delete(endpoint);
      return reply;
    }
    this.failures++;
    const attempts = retries + 1;
    throw new ZqueueError(
      retries === 0 ? ErrorCode.Timeout : ErrorCode.RetriesExhausted,
      `no reply from ${this.endpoints.length > 0 ? this.endpoints.join(', ') : `${this.options.endpoints.length > 0 ? this.options.endpoints.join(', ') : this.options.endpoint} (no device address found${this.lastResolveError !== undefined ? `: ${this.lastResolveError}` : ''})`} after ${attempts} attempt${attempts === 1 ? '' : 's'} of ${timeoutMs} ms`,
    );
  }
}

/** Creates a client (its socket opens on the first request). */
export function createClient(options: ClientOptions = {}): Client {
  return new Client(options);
}
