/**
 * A server: runs a handler for each request that reaches its socket and sends
 * the reply back along the request's envelope.
 *
 * It uses a DEALER socket (a ROUTER when bound, for clients that come
 * straight to it) and handles the envelope itself, which makes it a REP
 * server to any device (the seed's included) while letting it hold up to
 * `concurrency` requests at once. It announces READY (see protocol.ts) so a
 * least-busy device can balance on it; other devices drop that message.
 *
 * A least-busy zqueue device sends it requests in batches (worker protocol 2,
 * which READY announces): they wait in an inbox here, run `concurrency` at a
 * time, and the replies ready in one turn of the event loop go back as one
 * message.
 *
 * Whatever a request looks like, the server lives on: a message without an
 * envelope delimiter is counted and dropped (there is nowhere to reply), a
 * handler that throws or rejects produces a `handler` error reply.
 */
import '../context.js';
import { EventEmitter } from 'node:events';
import * as zmq from 'zeromq';
import { ErrorCode, ZqueueError, isSocketClosedError, zmqCode } from '../errors.js';
import { resolveServerOptions, type Handler, type ServerOptions, type ResolvedServerOptions } from '../options.js';
import { BYE, DISCONNECT, EMPTY, HEARTBEAT, MDP, MDP_WORKER, READY, REQUESTS, WORKER_PROTOCOL, delimiterIndex } from '../protocol.js';
import { Writer, watchEvents } from '../writer.js';
import { IPC_MODE, connectTo, ipcFileRemover, restrictIpc } from '../endpoints.js';
import { doneOrTimeout } from '../wait.js';
import { runHandler } from './handler.js';
import { fromInproc, isInproc, toInproc } from '../inproc.js';
import { DeviceWatch } from './heartbeat.js';
import { Inbox, Outbox } from './batches.js';

export { loadHandler, seedHandler } from './handler.js';

const MDP_REPLY_HEAD: readonly Buffer[] = [EMPTY, MDP_WORKER, MDP.REPLY];

export interface ServerStats {
  readonly received: number;
  readonly answered: number;
  readonly handlerErrors: number;
  readonly malformed: number;
  readonly handlerTimeouts: number;
  readonly running: number;
  /** Times the server dropped its socket and connected afresh (device silent, or it asked). */
  readonly reconnects: number;
}

export type ServerState = 'new' | 'running' | 'closing' | 'closed';

export interface ServerEvents {
  /** A send or a loop failed for a reason other than shutdown. */
  error: [err: Error];
  /** The server dropped its socket and is connecting afresh (`why`: the device went silent, or asked). */
  reconnect: [why: string];
  /** A handler ran past handlerTimeoutMs and its client got a `timeout` reply. */
  'handler-timeout': [];
}

export class Server extends EventEmitter<ServerEvents> {
  readonly options: ResolvedServerOptions;
  private readonly handler: Handler;
  private socket?: zmq.Dealer | zmq.Router;
  private writer?: Writer;
  private state: ServerState = 'new';
  private loop?: Promise<void>;
  private closing?: Promise<void>;
  private running = 0;
  private isConnected = false;
  private watcher: Promise<void> | undefined;
  private onConnect: (() => void) | undefined;
  private slotFree: (() => void) | undefined;
  private idle: (() => void) | undefined;
  private received = 0;
  private answered = 0;
  private handlerErrors = 0;
  private malformed = 0;
  private handlerTimeouts = 0;
  private reconnects = 0;
  /** Batched requests not yet started, and the replies of this turn. */
  private readonly inbox = new Inbox();
  private readonly outbox = new Outbox((message) => void this.writer?.send(message));
  /** A bound server's ipc socket file goes when the server closes. */
  private unlinkIpc: () => void = () => {};
  private readonly watch: DeviceWatch;
  private beatTimer: NodeJS.Timeout | undefined;
  private reconnecting: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Over inproc, frames over 128 bytes travel as strings (src/inproc.ts). */
  private readonly codec: boolean;
  /** Majordomo (RFC 7): the service this server registers; undefined for zqueue's worker protocol. */
  private readonly mdp: Buffer | undefined;

  constructor(handler: Handler, options: ServerOptions = {}) {
    super();
    if (typeof handler !== 'function') {
      throw new ZqueueError(ErrorCode.InvalidOption, 'option "handler" must be a function (request: Buffer[]) => reply');
    }
    this.handler = handler;
    this.options = resolveServerOptions(options);
    if (this.options.endpoints.length > 1) {
      throw new ZqueueError(ErrorCode.InvalidOption, 'option "endpoints": a Server takes one endpoint; use ServerGroup for several devices');
    }
    this.codec = isInproc(this.options.endpoint) && this.options.inprocStrings;
    this.watch = new DeviceWatch(this.options.heartbeatIntervalMs, performance.now());
    this.mdp = this.options.service === '' ? undefined : Buffer.from(this.options.service);
  }

  /** READY and BYE go to a device this server connects to; a bound server has none. */
  private get announces(): boolean {
    return this.options.announce && !this.options.bind;
  }

  get endpoint(): string {
    return this.socket?.lastEndpoint ?? this.options.endpoint;
  }

  async start(): Promise<this> {
    if (this.state !== 'new') throw new ZqueueError(ErrorCode.Closed, 'server already started');
    await this.open();
    const o = this.options;
    if (this.announces && o.heartbeatIntervalMs > 0) {
      this.watch.heard(performance.now());
      this.beatTimer = setInterval(() => this.beat(), o.heartbeatIntervalMs);
    }
    return this;
  }

  /** Reports an unexpected failure on `error` (never throws when nobody listens). */
  private fail(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(error.message, { code: 'ZQ_SERVER_ERROR' });
  }

  /** Opens, binds or connects the socket, and starts serving it; READY when it announces. */
  private async open(): Promise<void> {
    const o = this.options;
    const socketOptions = {
      linger: 500,
      // libzmq's listen backlog is 100: a burst of clients connecting to a bound server would stall on SYN retries.
      backlog: 4096,
      ...(o.routingId !== '' ? { routingId: o.routingId } : {}),
      ...(o.curveServerKey !== '' && !o.bind ? { curveServerKey: o.curveServerKey, curvePublicKey: o.curvePublicKey, curveSecretKey: o.curveSecretKey } : {}),
    };
    // Connecting to a device: a DEALER. Bound, for clients to reach directly:
    // a ROUTER, since REQ clients talk to REP and ROUTER peers only.
    const socket = o.bind ? new zmq.Router(socketOptions) : new zmq.Dealer(socketOptions);
    this.socket = socket;
    if (o.observe && !o.bind && !o.endpoint.startsWith('inproc://')) {
      // Subscribe before connecting, or the first connect event can be missed.
      const previous = this.watcher;
      const watching = watchEvents(socket, (event) => {
        if (event.type === 'connect') {
          this.isConnected = true;
          this.onConnect?.();
        }
      });
      this.watcher = previous === undefined ? watching : Promise.all([previous, watching]).then(() => undefined);
    }
    try {
      if (o.bind) {
        await socket.bind(o.endpoint);
        restrictIpc(o.endpoint, IPC_MODE);
        this.unlinkIpc = ipcFileRemover(socket.lastEndpoint ?? o.endpoint);
      } else connectTo(socket, o.endpoint);
    } catch (err) {
      socket.close();
      await this.watcher;
      this.state = 'closed';
      const code = zmqCode(err);
      throw new ZqueueError(
        code === 'EADDRINUSE' ? ErrorCode.AddressInUse : ErrorCode.Bind,
        `cannot ${o.bind ? 'bind' : 'connect'} server to ${o.endpoint}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    this.writer = new Writer(
      socket,
      (err) => {
        // EAGAIN: the device cannot take it now (gone, or full); heartbeats and reconnects deal with that.
        if (!isSocketClosedError(err) && zmqCode(err) !== 'EAGAIN' && this.state === 'running') this.fail(err);
      },
      this.codec ? { encode: toInproc } : {},
    );
    this.state = 'running';
    if (this.announces) {
      // A heartbeat period tells a least-busy device to watch this server's silence (0: none);
      // the protocol version, that it takes batches.
      // Majordomo (RFC 7): READY names the service; zqueue's: credits, heartbeat period, version.
      const ready =
        this.mdp !== undefined
          ? [EMPTY, MDP_WORKER, MDP.READY, this.mdp]
          : [EMPTY, READY, Buffer.from(String(o.concurrency)), Buffer.from(String(o.heartbeatIntervalMs)), Buffer.from(String(WORKER_PROTOCOL))];
      void this.writer.send(ready);
    }
    this.loop = this.serve(socket);
  }

  /**
   * Once a period: a heartbeat to the device; and when the device heartbeats
   * but has been silent for 3 periods, a reconnect (the device died, stalled
   * or restarted), spaced by a back-off that doubles up to 32 periods.
   */
  private beat(): void {
    if (this.state !== 'running' || this.reconnecting !== undefined) return;
    if (this.watch.silent(performance.now(), this.busy)) {
      this.reconnect('the device was silent for 3 heartbeat periods');
      return;
    }
    void this.writer?.send(this.mdp !== undefined ? [EMPTY, MDP_WORKER, MDP.HEARTBEAT] : [EMPTY, HEARTBEAT]);
  }

  /** Drops the socket (and whatever libzmq queued on it) and connects afresh; idempotent while under way. */
  private reconnect(why: string): void {
    if (this.state !== 'running' || this.reconnecting !== undefined) return;
    this.reconnects++;
    this.emit('reconnect', why);
    const wait = this.watch.nextWait();
    this.reconnecting = (async () => {
      const old = this.socket;
      const oldLoop = this.loop;
      // The device will count this server gone and send its requests elsewhere.
      this.inbox.clear();
      old?.close();
      this.slotFree?.();
      await oldLoop;
      if (wait > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
      if (this.state !== 'running') return;
      this.watch.restart(performance.now());
      await this.open();
    })()
      .catch((err: unknown) => this.fail(err))
      .finally(() => (this.reconnecting = undefined));
  }

  /** A message from the device that is not a request: its heartbeat, or "reconnect". */
  private onDeviceControl(frames: Buffer[]): void {
    const verb = frames[1];
    if (verb?.equals(REQUESTS) === true) this.takeBatch(frames);
    else if (verb?.equals(HEARTBEAT) === true) this.watch.deviceHeartbeats();
    else if (verb?.equals(DISCONNECT) === true) {
      this.watch.resetBackoff();
      this.reconnect('the device asked (it did not know this server)');
    }
  }

  /**
   * Resolves once the socket has connected to its endpoint (tcp/ipc), at once
   * for inproc, a bound server, or one with `observe: false`.
   */
  connected(): Promise<void> {
    const socket = this.socket;
    if (socket === undefined || !this.options.observe || this.options.bind || this.options.endpoint.startsWith('inproc://') || this.isConnected) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const previous = this.onConnect;
      this.onConnect = () => {
        previous?.();
        resolve();
      };
    });
  }

  stats(): ServerStats {
    return {
      received: this.received,
      answered: this.answered,
      handlerErrors: this.handlerErrors,
      malformed: this.malformed,
      handlerTimeouts: this.handlerTimeouts,
      running: this.running,
      reconnects: this.reconnects,
    };
  }

  /**
   * Stops taking requests, waits up to `timeoutMs` for running handlers, says
   * BYE to the device (so it sends the requests still queued here elsewhere),
   * then closes the socket. Idempotent; never rejects.
   */
  close(timeoutMs = this.options.closeTimeoutMs): Promise<void> {
    this.closing ??= this.shutdown(timeoutMs);
    return this.closing;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    if (this.state === 'new' || this.state === 'closed') {
      this.state = 'closed';
      return;
    }
    this.state = 'closing';
    clearInterval(this.beatTimer);
    this.wake?.();
    await this.reconnecting;
    // Batched requests not started: BYE makes the device send them elsewhere.
    this.inbox.clear();
    this.slotFree?.();
    if (this.running > 0 && timeoutMs > 0) {
      await doneOrTimeout(timeoutMs, (done) => (this.idle = done));
      this.idle = undefined;
    }
    // Replies of this turn go before BYE, which makes the device retry what is still unanswered.
    this.outbox.flush();
    // From here on a send must not wait for a device that may be gone:
    // libzmq fails it at once (EAGAIN) instead of blocking until a peer comes.
    if (this.socket !== undefined) this.socket.sendTimeout = 0;
    if (this.announces && this.writer !== undefined) await this.writer.send(this.mdp !== undefined ? [EMPTY, MDP_WORKER, MDP.DISCONNECT] : [EMPTY, BYE]);
    this.socket?.close();
    this.unlinkIpc();
    await this.loop;
    await this.watcher;
    this.state = 'closed';
  }

  private async serve(socket: zmq.Dealer | zmq.Router): Promise<void> {
    try {
      for (;;) {
        // Reads the next message once a slot is free and the inbox is empty.
        // (Not once its socket is closed: a reconnect waits for this loop to end.)
        while (this.busy && this.state === 'running' && !socket.closed) {
          await new Promise<void>((resolve) => {
            this.slotFree = resolve;
          });
          this.slotFree = undefined;
        }
        if (this.state !== 'running') return;
        const received = await socket.receive();
        if (this.state !== 'running') return;
        const frames = this.codec ? fromInproc(received) : received;
        if (this.announces) {
          this.watch.heard(performance.now());
          // From a device, a request starts with an identity; an empty first frame is the device's control message.
          if (this.mdp !== undefined && frames[0]?.length === 0 && frames[1]?.equals(MDP_WORKER) === true) {
            this.onMajordomo(frames);
            continue;
          }
          if (frames[0]?.length === 0) {
            this.onDeviceControl(frames);
            continue;
          }
        }
        this.received++;
        const d = delimiterIndex(frames, 0);
        if (d < 0) {
          this.malformed++;
          continue;
        }
        this.running++;
        // Not awaited, even with concurrency 1: the slot check above waits for
        // it, and close() can end that wait when a handler never returns.
        void this.handle(frames.slice(d + 1), frames.slice(0, d + 1), 0);
      }
    } catch (err) {
      if (this.state === 'running' && !isSocketClosedError(err)) this.fail(err);
    }
  }

  /** Every slot is taken, or batched requests wait for one: the loop reads nothing more. */
  private get busy(): boolean {
    return this.running >= this.options.concurrency || this.inbox.waiting > 0;
  }

  /** A REQUESTS batch from the device: into the inbox, and as many started as there are free slots. */
  private takeBatch(frames: Buffer[]): void {
    const n = this.inbox.take(frames);
    if (n === undefined) {
      this.malformed++;
      return;
    }
    this.received += n;
    this.startBatched();
  }

  private startBatched(): void {
    while (this.state === 'running' && this.running < this.options.concurrency) {
      const next = this.inbox.next();
      if (next === undefined) break;
      this.running++;
      void this.handle(next.body, undefined, next.id);
    }
  }

  /**
   * Runs the handler on a request's body; the reply goes back along its
   * `envelope`, or (a batched request: no envelope) into this turn's batch under its `id`.
   */
  /** A Majordomo command from the device (RFC 7): REQUEST (one client address, "", body), HEARTBEAT, DISCONNECT. */
  private onMajordomo(frames: Buffer[]): void {
    const command = frames[2];
    if (command?.equals(MDP.REQUEST) === true) {
      const address = frames[3];
      if (address === undefined || frames[4]?.length !== 0) {
        this.malformed++;
        return;
      }
      this.received++;
      this.running++;
      void this.handle(frames.slice(5), [address, EMPTY], 0, MDP_REPLY_HEAD);
    } else if (command?.equals(MDP.HEARTBEAT) === true) {
      this.watch.deviceHeartbeats();
    } else if (command?.equals(MDP.DISCONNECT) === true) {
      this.watch.resetBackoff();
      this.reconnect('the device asked (Majordomo DISCONNECT)');
    } else {
      this.malformed++;
    }
  }

  private async handle(body: Buffer[], envelope: Buffer[] | undefined, id: number, head: readonly Buffer[] = []): Promise<void> {
    const outcome = await runHandler(this.handler, body, this.options.handlerTimeoutMs);
    if (outcome.kind === 'timeout') this.handlerTimeouts++;
    else if (outcome.kind === 'error') this.handlerErrors++;
    this.answered++;
    if (envelope === undefined) this.outbox.add(id, outcome.frames);
    else if (this.writer !== undefined) await this.writer.send([...head, ...envelope, ...outcome.frames]);
    this.running--;
    this.startBatched();
    this.slotFree?.();
    if (this.running === 0) this.idle?.();
    if (outcome.kind === 'timeout') this.emit('handler-timeout');
  }

  /**
   * Closes the socket at once, dropping whatever is queued: for a thread or
   * process about to exit, where an open zeromq.js socket would abort it.
   */
  destroy(): void {
    this.state = 'closed';
    this.outbox.discard();
    this.socket?.close();
    this.unlinkIpc();
  }
}

/** Creates and starts a server. */
export async function createServer(handler: Handler, options: ServerOptions = {}): Promise<Server> {
  return new Server(handler, options).start();
}

/**
 * One server per device, sharing a handler: `zqueue server --connect A,B`.
 * Each has its own socket, READY, credits and heartbeats, so a busy or dead
 * device never starves the others, and each rejoins its device by itself.
 */
export class ServerGroup extends EventEmitter<ServerEvents> {
  readonly servers: readonly Server[];

  constructor(handler: Handler, options: ServerOptions = {}) {
    super();
    const endpoints = options.endpoints !== undefined && options.endpoints.length > 0 ? options.endpoints : [options.endpoint ?? resolveServerOptions(options).endpoint];
    this.servers = endpoints.map((endpoint) => {
      const s = new Server(handler, { ...options, endpoint, endpoints: [] });
      s.on('error', (err) => this.emit('error', err));
      s.on('reconnect', (why) => this.emit('reconnect', `${endpoint}: ${why}`));
      s.on('handler-timeout', () => this.emit('handler-timeout'));
      return s;
    });
  }

  async start(): Promise<this> {
    await Promise.all(this.servers.map((s) => s.start()));
    return this;
  }

  stats(): ServerStats[] {
    return this.servers.map((s) => s.stats());
  }

  async close(timeoutMs?: number): Promise<void> {
    await Promise.all(this.servers.map((s) => s.close(timeoutMs)));
  }
}
