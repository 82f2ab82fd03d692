/**
 * A client that always ends a request with a reply or a definite error, the
 * zguide's Lazy Pirate way: it waits `timeoutMs` for each reply; on a
 * timeout it closes its REQ socket (dropping whatever might still arrive for
 * the old request), opens a new one and resends, up to `retries` times.
 *
 * Error replies from a zqueue device or server (see protocol.ts) reject with
 * a ZqueueError whose code tells which: busy, closing, handler, timeout...
 * They are definite answers and are not retried.
 */
import { fromInproc, isInproc, toInproc } from './inproc.js';
import { MDP_CLIENT } from './protocol.js';
import './context.js';
import * as zmq from 'zeromq';
import { ErrorCode, ZqueueError, isSocketClosedError, zmqCode } from './errors.js';
import { resolveClientOptions, integer, type ClientOptions, type ResolvedClientOptions } from './options.js';
import { parseErrorReply } from './protocol.js';
import { watchEvents } from './writer.js';

export type RequestBody = string | Buffer | readonly (string | Buffer)[];

export interface RequestOptions {
  timeoutMs?: number;
  retries?: number;
}

export interface ClientStats {
  readonly requests: number;
  readonly replies: number;
  readonly retries: number;
  readonly failures: number;
}

export class Client {
  readonly options: ResolvedClientOptions;
  private socket: zmq.Request | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private requests = 0;
  private replies = 0;
  private retryCount = 0;
  private failures = 0;
  /** The last handshake failure seen on the current socket (CURVE only). */
  private handshakeError: string | undefined;

  private readonly codec: boolean;
  /** Majordomo: the service's name as a frame; undefined for plain requests. */
  private readonly service: Buffer | undefined;

  constructor(options: ClientOptions = {}) {
    this.options = resolveClientOptions(options);
    this.codec = isInproc(this.options.endpoint);
    this.service = this.options.service === '' ? undefined : Buffer.from(this.options.service);
  }

  stats(): ClientStats {
    return { requests: this.requests, replies: this.replies, retries: this.retryCount, failures: this.failures };
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
      integer('timeoutMs', timeoutMs, 1, 2 ** 31 - 1);
      integer('retries', retries, 0, 1_000);
      frames = toFrames(body);
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
    this.socket?.close();
    this.socket = undefined;
  }

  private open(timeoutMs: number): zmq.Request {
    const o = this.options;
    const curve = o.curveServerKey !== '';
    const socket = new zmq.Request({
      linger: 0,
      receiveTimeout: timeoutMs,
      sendTimeout: timeoutMs,
      ...(curve ? { curveServerKey: o.curveServerKey, curvePublicKey: o.curvePublicKey, curveSecretKey: o.curveSecretKey } : {}),
    });
    this.handshakeError = undefined;
    if (curve) {
      // A CURVE handshake that fails (wrong server key, key not allowed) looks
      // like silence to REQ; the socket's events say why, for the error.
      void watchEvents(socket, (event) => {
        if (event.type.startsWith('handshake:error') && socket === this.socket) {
          this.handshakeError = `${event.type.slice('handshake:error:'.length)}: ${'error' in event ? event.error.message : ''}`;
        }
      });
    }
    socket.connect(o.endpoint);
    return socket;
  }

  private async attempt(frames: Buffer[], timeoutMs: number, retries: number): Promise<Buffer[]> {
    this.requests++;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (this.closed) throw new ZqueueError(ErrorCode.Closed, 'client closed');
      if (attempt > 0) this.retryCount++;
      const socket = (this.socket ??= this.open(timeoutMs));
      socket.receiveTimeout = timeoutMs;
      socket.sendTimeout = timeoutMs;
      let reply: Buffer[];
      try {
        // Majordomo (RFC 7): ["MDPC01", service, body...] both ways.
        const message = this.service === undefined ? frames : [MDP_CLIENT, this.service, ...frames];
        // Over inproc (a client on another thread than the device), frames over 128 bytes travel as strings (src/inproc.ts).
        await socket.send(this.codec ? toInproc(message) : message);
        reply = await socket.receive();
        if (this.codec) fromInproc(reply);
      } catch (err) {
        if (this.closed || isSocketClosedError(err)) {
          this.failures++;
          throw new ZqueueError(ErrorCode.Closed, 'client closed while waiting for a reply', { cause: err });
        }
        if (zmqCode(err) !== 'EAGAIN') {
          this.failures++;
          throw err;
        }
        // No reply in time: this socket may still get the old reply, so it goes.
        socket.close();
        this.socket = undefined;
        const handshake = this.handshakeError;
        if (handshake !== undefined) {
          // Resending cannot help: the keys are wrong.
          this.failures++;
          throw new ZqueueError(
            ErrorCode.Handshake,
            `the CURVE handshake with ${this.options.endpoint} failed (${handshake}): check the server key, and that this client's key is on the device's allow-list`,
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
      if (wire !== undefined) {
        this.failures++;
        throw new ZqueueError(wire.code, `${wire.kind}: ${wire.message}`);
      }
      this.replies++;
      return reply;
    }
    this.failures++;
    const attempts = retries + 1;
    throw new ZqueueError(
      retries === 0 ? ErrorCode.Timeout : ErrorCode.RetriesExhausted,
      `no reply from ${this.options.endpoint} after ${attempts} attempt${attempts === 1 ? '' : 's'} of ${timeoutMs} ms`,
    );
  }
}

function toFrames(body: RequestBody): Buffer[] {
  if (typeof body === 'string') return [Buffer.from(body)];
  if (Buffer.isBuffer(body)) return [body];
  if (Array.isArray(body) && body.length > 0) {
    return body.map((part: string | Buffer) => (typeof part === 'string' ? Buffer.from(part) : part));
  }
  throw new ZqueueError(ErrorCode.InvalidOption, 'a request body must be a string, a Buffer or a non-empty array of them');
}

/** Creates a client (its socket opens on the first request). */
export function createClient(options: ClientOptions = {}): Client {
  return new Client(options);
}
