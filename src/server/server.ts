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
import { isDnsEndpoint } from '../discovery.js';
import { EventEmitter } from 'node:events';
import * as zmq from 'zeromq';
import { ErrorCode, ZqueueError, isSocketClosedError, zmqCode } from '../errors.js';
import { resolveServerOptions, type Handler, type ServerOptions, type ResolvedServerOptions, type CloseOptions } from '../options.js';
import { serverCodecFor, type ServerCodec, type ServerEvent } from '../protocols/index.js';
import { Writer, watchEvents } from '../writer.js';
import { bindOrExplain, connectTo } from '../endpoints.js';
import { doneOrTimeout } from '../wait.js';
import { runHandler, startHandler, type Outcome } from './handler.js';
import { Link, fromInproc } from '../inproc.js';
import { DeviceWatch } from './heartbeat.js';
import { Inbox, Outbox } from './batches.js';

export { loadHandler, seedHandler } from './handler.js';

/**
 * What only zqueue's own threads set: not options a user gives. `announce`
 * false: say no READY or BYE (a worker bound for clients to reach directly);
 * `observe` false: no socket observer (one open at thread exit aborts the
 * process); `inprocStrings` false: opposite libzmq's own proxy (engine
 * native), which passes frames on untouched (src/inproc.ts).
 */
export interface ServerInternals {
  readonly announce?: boolean;
  readonly observe?: boolean;
  readonly inprocStrings?: boolean;
}

export interface ServerStats {
  readonly received: number;
  readonly answered: number;
  readonly handlerErrors: number;
  readonly malformed: number;
  readonly handlerTimeouts: number;
  readonly running: number;
  /** Times the server dropped its socket and connected afresh (device silent, or it asked). */
  readonly reconnects: number;
  /** Requests not run: their deadline had passed when a slot came free (answered `timeout`). */
  readonly expired: number;
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
  private link?: Link<zmq.Dealer | zmq.Router>;
  private readonly internals: Required<ServerInternals>;
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
  private expired = 0;
  /** Batched requests not yet started, and the replies of this turn. */
  private readonly inbox = new Inbox();
  private readonly outbox = new Outbox((message) => void this.writer?.send(message));
  /** A bound server's ipc socket file goes when the server closes. */
  private unlinkIpc: () => void = () => {};
  private readonly watch: DeviceWatch;
  private beatTimer: NodeJS.Timeout | undefined;
  private reconnecting: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** The worker protocol this server speaks to its device (Majordomo when it offers a service). */
  private readonly codec: ServerCodec;

  constructor(handler: Handler, options: ServerOptions = {}, internals: ServerInternals = {}) {
    super();
    if (typeof handler !== 'function') {
      throw new ZqueueError(ErrorCode.InvalidOption, 'option "handler" must be a function (request: Buffer[]) => reply');
    }
    this.handler = handler;
    this.options = resolveServerOptions(options);
    if (isDnsEndpoint(this.options.endpoint) || this.options.endpoints.some(isDnsEndpoint)) {
      throw new ZqueueError(
        ErrorCode.InvalidEndpoint,
        `a Server takes one device; a dns: endpoint names a set of them: use ServerGroup (${this.options.endpoint})`,
      );
    }
    if (this.options.endpoints.length > 1) {
      throw new ZqueueError(
        ErrorCode.InvalidOption,
        'option "endpoints": a Server takes one endpoint; use ServerGroup for several devices',
      );
    }
    this.internals = {
      announce: internals.announce ?? true,
      observe: internals.observe ?? true,
      inprocStrings: internals.inprocStrings ?? true,
    };
    this.watch = new DeviceWatch(this.options.heartbeatIntervalMs, performance.now());
    this.codec = serverCodecFor(this.options.service);
  }

  /** READY and BYE go to a device this server connects to; a bound server has none. */
  private get announces(): boolean {
    return this.internals.announce && !this.options.bind;
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

  /** destroy() ran (TypeScript cannot see that a call may change the state): the socket is closed. */
  private destroyedWhileOpening(socket: zmq.Dealer | zmq.Router): boolean {
    if (this.state !== 'closed') return false;
    socket.close();
    return true;
  }

  /** Opens, binds or connects the socket, and starts serving it; READY when it announces. */
  private async open(): Promise<void> {
    const o = this.options;
    const socketOptions = {
      linger: 500,
      // libzmq's listen backlog is 100: a burst of clients connecting to a bound server would stall on SYN retries.
      backlog: 4096,
      ...(o.routingId !== '' ? { routingId: o.routingId } : {}),
      ...(o.curveServerKey !== '' && !o.bind
        ? { curveServerKey: o.curveServerKey, curvePublicKey: o.curvePublicKey, curveSecretKey: o.curveSecretKey }
        : {}),
    };
    // Connecting to a device: a DEALER. Bound, for clients to reach directly:
    // a ROUTER, since REQ clients talk to REP and ROUTER peers only.
    const socket = o.bind ? new zmq.Router(socketOptions) : new zmq.Dealer(socketOptions);
    this.socket = socket;
    this.isConnected = false;
    // destroy() can run between any two calls here (src/serve/reaper.ts runs it from an interrupt), even
    // inside the constructor above, before this server held the socket: what it missed is closed here.
    if (this.destroyedWhileOpening(socket)) throw new ZqueueError(ErrorCode.Closed, 'the server was destroyed while it opened');
    if (this.internals.observe && !o.bind && !o.endpoint.startsWith('inproc://')) {
      // Subscribe before connecting, or the first connect event can be missed.
      const previous = this.watcher;
      const watching = watchEvents(socket, (event) => {
        if (event.type === 'connect') {
          this.isConnected = true;
          this.onConnect?.();
        } else if (event.type === 'disconnect') this.isConnected = false;
      });
      this.watcher = previous === undefined ? watching : Promise.all([previous, watching]).then(() => undefined);
    }
    try {
      if (o.bind) this.unlinkIpc = await bindOrExplain(socket, o.endpoint, 'server');
      else connectTo(socket, o.endpoint);
    } catch (err) {
      socket.close();
      await this.watcher;
      this.state = 'closed';
      if (err instanceof ZqueueError) throw err;
      throw new ZqueueError(ErrorCode.Bind, `cannot connect server to ${o.endpoint}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
    this.link = new Link(socket, o.endpoint, this.internals.inprocStrings);
    this.writer = new Writer(
      socket,
      (err) => {
        // EAGAIN: the device cannot take it now (gone, or full); heartbeats and reconnects deal with that.
        if (!isSocketClosedError(err) && zmqCode(err) !== 'EAGAIN' && this.state === 'running') this.fail(err);
      },
      { encode: this.link.encode },
    );
    if (this.destroyedWhileOpening(socket)) throw new ZqueueError(ErrorCode.Closed, 'the server was destroyed while it opened');
    this.state = 'running';
    if (this.announces) {
      // A heartbeat period tells a least-busy device to watch this server's silence (0: none);
      // the protocol version, that it takes batches. (Majordomo's READY names the service instead.)
      void this.writer.send(this.codec.ready(o.concurrency, o.heartbeatIntervalMs));
    }
    this.loop = this.serve(socket, this.link);
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
    void this.writer?.send(this.codec.heartbeat());
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

  /**
   * Resolves once the socket has connected to its endpoint (tcp/ipc), at once
   * for inproc, a bound server, or one with `observe: false`.
   */
  connected(): Promise<void> {
    const socket = this.socket;
    if (
      socket === undefined ||
      !this.internals.observe ||
      this.options.bind ||
      this.options.endpoint.startsWith('inproc://') ||
      this.isConnected
    ) {
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

  /**
   * Serving a device now: running, not between sockets, and its socket
   * connected (tcp/ipc) or the device heard from on it. For readiness
   * probes (`zqueue server --health`).
   */
  get ready(): boolean {
    return this.state === 'running' && this.reconnecting === undefined && (this.isConnected || this.watch.answered);
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
      expired: this.expired,
    };
  }

  /**
   * Stops taking requests, waits up to `timeoutMs` for running handlers, says
   * BYE to the device (so it sends the requests still queued here elsewhere),
   * then closes the socket. Idempotent; never rejects.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.shutdown(options.timeoutMs ?? this.options.closeTimeoutMs);
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
    if (this.announces && this.writer !== undefined) await this.writer.send(this.codec.leave());
    this.socket?.close();
    this.unlinkIpc();
    await this.loop;
    await this.watcher;
    this.state = 'closed';
  }

  private async serve(socket: zmq.Dealer | zmq.Router, link: Link<zmq.Dealer | zmq.Router>): Promise<void> {
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
        const frames = link.inproc ? fromInproc(received) : received;
        if (this.state !== 'running') return;
        if (this.announces) this.watch.heard(performance.now());
        this.onDevice(this.codec.decode(frames, this.announces), frames);
      }
    } catch (err) {
      if (this.state === 'running' && !isSocketClosedError(err)) this.fail(err);
    }
  }

  /** Every slot is taken, or batched requests wait for one: the loop reads nothing more. */
  private get busy(): boolean {
    return this.running >= this.options.concurrency || this.inbox.waiting > 0;
  }

  /**
   * What the device sent, in whichever protocol: a batch goes into the inbox,
   * and as many start as there are free slots; a single request starts at once.
   */
  private onDevice(m: ServerEvent, frames: Buffer[]): void {
    switch (m.kind) {
      case 'requests':
        this.outbox.packed = false;
        this.inbox.take(frames, m.entries);
        this.received += m.entries.length;
        this.startBatched();
        return;
      case 'packed':
        this.outbox.packed = true;
        this.inbox.takePacked(m.entries);
        this.received += m.entries.length;
        this.startBatched();
        return;
      case 'heartbeat':
        this.watch.deviceHeartbeats();
        return;
      case 'disconnect':
        this.watch.resetBackoff();
        this.reconnect(m.why);
        return;
      case 'request':
        this.received++;
        this.running++;
        // Not awaited, even with concurrency 1: the slot check above waits for
        // it, and close() can end that wait when a handler never returns.
        void this.handle(m.body, m.envelope, 0, m.head, m.budgetMs > 0 ? Date.now() + m.budgetMs : undefined);
        return;
      case 'malformed':
        this.received++;
        this.malformed++;
        return;
      case 'ignored':
        return;
    }
  }

  /**
   * Starts batched requests while slots are free. A handler that answers at
   * once is done here, in this loop (no promise, no recursion); one that
   * returns a promise ends in finishBatched, which starts the next.
   */
  private startBatched(): void {
    let ran = false;
    while (this.state === 'running' && this.running < this.options.concurrency) {
      const next = this.inbox.next();
      if (next === undefined) break;
      this.running++;
      const outcome = startHandler(this.handler, next.body, this.options.handlerTimeoutMs, next.deadline);
      if (outcome instanceof Promise) {
        const id = next.id;
        void outcome.then((o) => this.finishBatched(id, o));
      } else {
        this.answeredBatched(next.id, outcome);
        ran = true;
      }
    }
    if (ran) this.freed();
  }

  /** A batched request's outcome: counted, and its reply into this turn's batch. */
  private answeredBatched(id: number, outcome: Outcome): void {
    this.count(outcome);
    this.outbox.add(id, outcome.frames);
    this.running--;
  }

  private finishBatched(id: number, outcome: Outcome): void {
    this.answeredBatched(id, outcome);
    this.startBatched();
    this.freed();
    if (outcome.kind === 'timeout') this.emit('handler-timeout');
  }

  private count(outcome: Outcome): void {
    if (outcome.kind === 'timeout') this.handlerTimeouts++;
    else if (outcome.kind === 'expired') this.expired++;
    else if (outcome.kind === 'error') this.handlerErrors++;
    this.answered++;
  }

  /** A slot came free: the read loop may go on, and close() may be waiting for the last one. */
  private freed(): void {
    this.slotFree?.();
    if (this.running === 0) this.idle?.();
  }

  /**
   * Runs the handler on a request's body: its reply goes back along its
   * `envelope` (after `head`), or (a batched request: no envelope) into this
   * turn's batch under its `id`.
   */
  private async handle(
    body: Buffer[],
    envelope: Buffer[] | undefined,
    id: number,
    head: readonly Buffer[] = [],
    deadline?: number,
  ): Promise<void> {
    const outcome = await runHandler(this.handler, body, this.options.handlerTimeoutMs, deadline);
    this.count(outcome);
    if (envelope === undefined) this.outbox.add(id, outcome.frames);
    else if (this.writer !== undefined) await this.writer.send([...head, ...envelope, ...outcome.frames]);
    this.running--;
    this.startBatched();
    this.freed();
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

/** Creates and starts a server (for several devices, or a `dns:` endpoint, `new ServerGroup(...).start()`, src/server/group.ts). */
export async function createServer(handler: Handler, options: ServerOptions = {}): Promise<Server> {
  return new Server(handler, options).start();
}
