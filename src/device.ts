/**
 * The queue device: a ROUTER frontend facing clients and a backend facing
 * servers, relaying requests one way and replies the other, as the seed's
 * `zmq.device(zmq.QUEUE, frontend, backend)` does.
 *
 * Engines, behind one interface:
 * - `native`: zeromq.js's Proxy, libzmq's proxy loop on a thread-pool thread.
 *   C speed; no counters; no balancing by readiness; close() cannot drain.
 * - `js`: loops on the main thread that count messages and bytes, check
 *   envelopes, and (policy `least-busy`) give each request to the least busy
 *   ready worker, queue it when none is, retry it when its worker dies and
 *   answer it with an error when it times out.
 */
import './context.js';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import * as zmq from 'zeromq';
import { ErrorCode, ZqueueError, isSocketClosedError, zmqCode } from './errors.js';
import { resolveDeviceOptions, type DeviceOptions, type Engine, type Policy, type ResolvedDeviceOptions } from './options.js';
import { BYE, DISCONNECT, EMPTY, HEARTBEAT, READY, REPLIES, REQUESTS, appendBatch, delimiterIndex, displayId, errorFrame, errorKindOf, parseBatch, type ErrorKind } from './protocol.js';
import { Balancer, type Held, type Pending, type WorkerSlot } from './balancer.js';
import { Writer, size, watchEvents } from './writer.js';
import { INPROC_MAX_FRAME, bindOrExplain, connectUrlFor } from './endpoints.js';
import { createHistogram, record, summarize, type Histogram, type LatencySummary } from './latency.js';
import { TAP_IN, TAP_OUT, Tap, type TapStats } from './tap.js';
import { checkKeys, newDomain, parseCidrs, zap, type AccessPolicy, type Refusal } from './auth.js';
import { deferred, doneOrTimeout } from './wait.js';

/**
 * For the bench's regression gate only: busy-work added to each request the
 * js engine relays, to prove the gate sees a slower device. The bench harness
 * sets it from ZQ_BENCH_INJECT_US; nothing else does, so in normal use it is 0.
 */
export const gateHooks = { spinUsPerRequest: 0 };

function spin(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

/** round-robin: clients whose request is being timed at once; past it the timings start over. */
const MAX_TIMED_CLIENTS = 100_000;

export type DeviceState = 'new' | 'starting' | 'running' | 'paused' | 'closing' | 'closed';

export interface SideStats {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
}

export interface WorkerStats {
  readonly id: string;
  /** `ready`: has room; `full`: holds as many requests as it announced; `retired`: timed out, gets no more. */
  readonly state: 'ready' | 'full' | 'retired';
  readonly credits: number;
  readonly inFlight: number;
  readonly served: number;
}

/** Requests answered with an error, by kind (made by the device or relayed from a server). */
export interface FailedCounts {
  /** Refused at once: the queue was full. */
  busy: number;
  /** Refused or dropped from the queue: the device was shutting down. */
  closing: number;
  /** No reply in time (the device's handler timeout, or a server's). */
  timeout: number;
  /** The server's handler threw or rejected. */
  handler: number;
  /** Its worker died and the request could not be retried. */
  workerDied: number;
  /** Refused as malformed: more frames than maxFrames. */
  badRequest: number;
  /** Any other error reply a server sent. */
  other: number;
}

/** How each side is secured, and what was refused. */
export interface SecurityStats {
  readonly frontend: 'curve' | 'null';
  readonly backend: 'curve' | 'null';
  /** Connections refused: a key not on the allow-list, a source address outside allowFrom, a failed handshake (no key, wrong server key, garbage). */
  readonly refused: Readonly<{ key: number; address: number; handshake: number }>;
}

interface CommonStats {
  readonly state: DeviceState;
  readonly security: SecurityStats;
  /** Peers connected over tcp/ipc on each side (libzmq reports no inproc connections). */
  readonly peers: Readonly<{ frontend: number; backend: number }>;
  readonly policy: Policy;
  readonly uptimeMs: number;
  readonly frontend: string;
  readonly backend: string;
}

/** `native` counts nothing (libzmq's proxy exposes no statistics to zeromq.js); `js` counts everything. */
export type DeviceStats =
  | (CommonStats & { readonly engine: 'native'; readonly counted: false })
  | (CommonStats & {
      readonly engine: 'js';
      readonly counted: true;
      readonly frontendTraffic: Readonly<SideStats>;
      readonly backendTraffic: Readonly<SideStats>;
      /** Requests relayed to servers and not yet answered. */
      readonly inFlight: number;
      /** least-busy: requests waiting for a free worker. */
      readonly queued: number;
      /** Replies relayed from servers to clients (error replies from servers included). */
      readonly answered: number;
      readonly failed: Readonly<FailedCounts>;
      /** Messages from clients dropped for having no envelope delimiter. */
      readonly malformed: number;
      /** Requests held by a worker that died. */
      readonly orphaned: number;
      /** Orphaned requests sent again to another worker. */
      readonly retried: number;
      /** Workers declared dead after 3 silent heartbeat periods. */
      readonly workersLost: number;
      /**
       * Replies the frontend could not deliver, which a ROUTER drops silently:
       * the client is gone (`unroutable`), or its queue is at the high-water mark (`full`).
       */
      readonly dropped: Readonly<{ unroutable: number; full: number }>;
      /** Worker control messages (READY, BYE) received. */
      readonly control: number;
      /**
       * Time from a request's arrival to its reply's, at the device. Exact for
       * least-busy; for round-robin it is timed per client, which is exact for
       * REQ clients (one request at a time).
       */
      readonly latency: LatencySummary;
      readonly tap: TapStats | undefined;
      readonly workers: readonly WorkerStats[];
    });

export type Side = 'frontend' | 'backend';

export interface DeviceEvents {
  /** The device moved to `state` (running, paused, closing = draining, closed). */
  state: [state: DeviceState];
  /** A tcp/ipc peer connected to or left a side; `count` is how many are connected now. */
  peer: [side: Side, count: number];
  /** least-busy: a worker said READY; `count` workers are known now. */
  worker: [count: number, workerId: string];
  /** least-busy: a worker left (BYE, or its thread died); `orphans` is how many requests it held. */
  'worker-left': [workerId: string, orphans: number];
  /** least-busy: a worker that heartbeats was silent for 3 periods and was declared dead. */
  'worker-lost': [workerId: string];
  /** least-busy: a worker held a request past handlerTimeoutMs and was retired. */
  'worker-timeout': [workerId: string];
  /** A connection was refused: its key is not allowed, its address is not, or its handshake failed. */
  refused: [side: Side, why: Refusal | 'handshake'];
  /** The tap's open subscriptions changed; `count` are open now. */
  tap: [count: number];
  /** A socket loop failed for a reason other than shutdown. */
  error: [err: Error];
}

function sideStats(): SideStats {
  return { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 };
}

export class Device extends EventEmitter<DeviceEvents> {
  readonly options: ResolvedDeviceOptions;
  private state: DeviceState = 'new';
  private startedAt = 0;
  private frontend?: zmq.Router;
  private backend?: zmq.Dealer | zmq.Router;
  private proxy?: zmq.Proxy<zmq.Router, zmq.Dealer>;
  private loops: Promise<void>[] = [];
  private gate: { promise: Promise<void>; open: () => void } | undefined;
  private closing?: Promise<void>;
  private draining?: Promise<void>;
  private drained: (() => void) | undefined;
  private sweep?: NodeJS.Timeout;
  /** least-busy: workers given requests this turn, and the turn's end, when they go out as one batch each. */
  private outboxes: WorkerSlot[] = [];
  private flushing: NodeJS.Immediate | undefined;
  private frontWriter?: Writer;
  private backWriter?: Writer;
  private readonly balancer: Balancer;
  /** Over an inproc backend, the largest frame a request may carry to a worker thread (see INPROC_MAX_FRAME). */
  private frameLimit = Infinity;
  private readonly peers = { frontend: 0, backend: 0 };
  private readonly watchers: Promise<void>[] = [];
  /** Remove the ipc socket files the device bound, once its sockets are closed. */
  private unlinks: (() => void)[] = [];
  private stoppedAt = 0;
  private boundFrontend = '';
  private boundBackend = '';

  private readonly front = sideStats();
  private readonly back = sideStats();
  private answered = 0;
  private relayed = 0;
  private readonly failed: FailedCounts = { busy: 0, closing: 0, timeout: 0, handler: 0, workerDied: 0, badRequest: 0, other: 0 };
  private workersLost = 0;
  private readonly dropped = { unroutable: 0, full: 0 };
  private heartbeat?: NodeJS.Timeout;
  private lastBeat = 0;
  private malformed = 0;
  private orphans = 0;
  private retried = 0;
  private control = 0;
  private readonly latency = createHistogram();
  private window: Histogram | undefined;
  /** round-robin: when each client's latest request arrived, by routing id. */
  private readonly arrivals = new Map<string, number>();
  private tap: Tap | undefined;
  private readonly refused = { key: 0, address: 0, handshake: 0 };
  private readonly domains: { frontend?: string; backend?: string } = {};
  /** The frontend's allow-lists now (setAllowList replaces them). */
  private lists: { keys: readonly string[] | null; from: readonly string[] | null };

  constructor(options: DeviceOptions = {}) {
    super();
    this.options = resolveDeviceOptions(options);
    this.lists = { keys: this.options.allowKeys, from: this.options.allowFrom };
    this.balancer = new Balancer(this.options.maxQueued, this.options.prefetch);
  }

  get engine(): Engine {
    return this.options.engine;
  }

  /** The frontend's endpoint as bound (tcp port `*` resolved). */
  get frontendEndpoint(): string {
    return this.boundFrontend;
  }

  get backendEndpoint(): string {
    return this.boundBackend;
  }

  /** Binds both sockets and starts relaying. Rejects with a ZqueueError if a bind fails. */
  async start(): Promise<this> {
    if (this.state !== 'new') throw new ZqueueError(ErrorCode.Closed, `device already ${this.state === 'closed' ? 'closed' : 'started'}`);
    this.state = 'starting';
    const o = this.options;
    const common = { linger: 0, backlog: o.backlog, sendHighWaterMark: o.highWaterMark, receiveHighWaterMark: o.highWaterMark };
    // The ZAP handler must be serving before a socket that relies on it binds.
    const onRefused = (side: Side) => (why: Refusal): void => {
      this.refused[why]++;
      this.emit('refused', side, why);
    };
    if (o.allowKeys !== null || o.allowFrom !== null) {
      this.domains.frontend = newDomain('frontend');
      await zap.register(this.domains.frontend, policyOf(o.allowKeys, o.allowFrom), onRefused('frontend'));
    }
    if (o.allowServerKeys !== null) {
      this.domains.backend = newDomain('backend');
      await zap.register(this.domains.backend, policyOf(o.allowServerKeys, null), onRefused('backend'));
    }
    // js: ROUTER_MANDATORY and a zero send timeout turn the ROUTER's silent
    // drops (a client gone, or too slow to take its reply) into errors the
    // device counts, without ever waiting. (libzmq's proxy stops on such an error: not for native.)
    const counted = o.engine === 'js' ? { mandatory: true, sendTimeout: 0 } : {};
    const frontend = new zmq.Router({ ...common, ...counted, maxMessageSize: o.maxMessageSize, ...security(o.curveSecretKey, this.domains.frontend) });
    const backendOptions = { ...common, ...security(o.backendCurveSecretKey, this.domains.backend) };
    // A server that reconnects under the same routing id takes it over (its old connection may not be gone yet).
    // least-busy's ROUTER never waits to send (without ROUTER_MANDATORY it drops what a full
    // peer cannot take, and credits keep every worker's share far below the high-water mark):
    // a zero send timeout spares zeromq.js's readiness check, a system call, on every send.
    const backend =
      o.policy === 'least-busy' ? new zmq.Router({ ...backendOptions, handover: true, sendTimeout: 0 }) : new zmq.Dealer(backendOptions);
    this.frontend = frontend;
    this.backend = backend;
    // Subscribe before binding, so that no early connection goes uncounted.
    this.observe(frontend, 'frontend', o.frontend);
    this.observe(backend, 'backend', o.backend);
    try {
      this.unlinks.push(await bindOrExplain(frontend, o.frontend, 'frontend', o.ipcMode));
      this.unlinks.push(await bindOrExplain(backend, o.backend, 'backend', o.ipcMode));
      if (o.tap !== '') this.tap = await Tap.open(o.tap, o.tapHighWaterMark, (n) => this.emit('tap', n));
    } catch (err) {
      frontend.close();
      backend.close();
      this.removeIpcFiles();
      await Promise.all(this.watchers);
      await this.unregisterDomains();
      this.state = 'closed';
      throw err;
    }
    this.boundFrontend = frontend.lastEndpoint ?? o.frontend;
    this.boundBackend = backend.lastEndpoint ?? o.backend;
    if (this.boundBackend.startsWith('inproc://')) this.frameLimit = INPROC_MAX_FRAME;
    this.startedAt = performance.now();
    this.setState('running');
    if (o.engine === 'native') {
      const proxy = new zmq.Proxy(frontend, backend as zmq.Dealer);
      this.proxy = proxy;
      this.loops.push(proxy.run().catch((err: unknown) => this.loopFailed(err)));
    } else {
      const onSendError = (err: unknown): void => this.loopFailed(err);
      this.frontWriter = new Writer(
        frontend,
        (err) => {
          const code = zmqCode(err);
          if (code === 'EHOSTUNREACH') this.dropped.unroutable++;
          else if (code === 'EAGAIN') this.dropped.full++;
          else onSendError(err);
        },
        { immediate: true },
      );
      this.backWriter = new Writer(backend, onSendError, { immediate: o.policy === 'least-busy' });
      if (o.policy === 'least-busy') {
        this.loops.push(this.balancedFrontLoop(frontend), this.balancedBackLoop(backend as zmq.Router));
        if (o.handlerTimeoutMs > 0) {
          const every = Math.max(10, Math.min(250, Math.floor(o.handlerTimeoutMs / 4)));
          this.sweep = setInterval(() => this.expire(), every);
        }
        if (o.heartbeatIntervalMs > 0) this.heartbeat = setInterval(() => this.beat(), Math.max(5, Math.floor(o.heartbeatIntervalMs / 4)));
      } else {
        this.loops.push(this.frontLoop(frontend, backend as zmq.Dealer), this.backLoop(backend as zmq.Dealer));
      }
    }
    return this;
  }

  /** Stops taking new requests; replies still flow back (js) / both directions stop (native). */
  pause(): void {
    if (this.state !== 'running') return;
    this.setState('paused');
    if (this.proxy !== undefined) this.proxy.pause();
    else this.gate = deferred();
  }

  resume(): void {
    if (this.state !== 'paused') return;
    this.setState('running');
    if (this.proxy !== undefined) this.proxy.resume();
    const gate = this.gate;
    this.gate = undefined;
    gate?.open();
  }

  get inFlight(): number {
    return this.options.policy === 'least-busy' ? this.balancer.inFlight : this.relayed - this.answered;
  }

  stats(): DeviceStats {
    const common: CommonStats = {
      state: this.state,
      security: {
        frontend: this.options.curveSecretKey === '' ? 'null' : 'curve',
        backend: this.options.backendCurveSecretKey === '' ? 'null' : 'curve',
        refused: { ...this.refused },
      },
      policy: this.options.policy,
      peers: { ...this.peers },
      uptimeMs: this.startedAt === 0 ? 0 : (this.stoppedAt || performance.now()) - this.startedAt,
      frontend: this.boundFrontend,
      backend: this.boundBackend,
    };
    if (this.options.engine === 'native') return { ...common, engine: 'native', counted: false };
    const workers: WorkerStats[] = [];
    for (const w of this.balancer.workers.values()) {
      const state = w.retired ? 'retired' : w.inFlight < w.credits ? 'ready' : 'full';
      workers.push({ id: displayId(w.id), state, credits: w.credits, inFlight: w.inFlight, served: w.served });
    }
    return {
      ...common,
      engine: 'js',
      counted: true,
      frontendTraffic: { ...this.front },
      backendTraffic: { ...this.back },
      inFlight: this.inFlight,
      queued: this.balancer.queued,
      answered: this.answered,
      failed: { ...this.failed },
      malformed: this.malformed,
      orphaned: this.orphans,
      retried: this.retried,
      workersLost: this.workersLost,
      dropped: { ...this.dropped },
      control: this.control,
      latency: summarize(this.latency),
      tap: this.tap?.stats(),
      workers,
    };
  }

  /**
   * The latency of requests answered since the previous call (the first call
   * starts the window and returns an empty summary), for periodic reports.
   */
  latencyWindow(): LatencySummary {
    const w = this.window;
    this.window = createHistogram();
    if (w === undefined) return summarize(this.window);
    return summarize(w);
  }

  /**
   * A worker is gone (its thread died, or it said BYE): the requests it held
   * are retried once on another worker, or answered with an error.
   */
  workerLeft(workerId: string | Buffer): void {
    const key = typeof workerId === 'string' ? Buffer.from(workerId).toString('latin1') : workerId.toString('latin1');
    const orphans = this.balancer.leave(key);
    this.emit('worker-left', key, orphans.length);
    for (const h of orphans) this.orphaned(h);
    this.dispatchQueued();
  }

  /**
   * Stops intake, lets in-flight requests finish for up to `timeoutMs`
   * (default: the closeTimeoutMs option), answers queued ones with `closing`,
   * then closes the sockets. Idempotent; never rejects.
   */
  close(timeoutMs = this.options.closeTimeoutMs): Promise<void> {
    this.closing ??= this.shutdown(timeoutMs);
    return this.closing;
  }

  /**
   * The first half of close(): stops intake, answers queued requests with
   * `closing` and waits up to `timeoutMs` for in-flight ones, leaving the
   * sockets open (so servers can still say goodbye). Idempotent.
   */
  drain(timeoutMs = this.options.closeTimeoutMs): Promise<void> {
    this.draining ??= this.stopIntake(timeoutMs);
    return this.draining;
  }

  private async stopIntake(timeoutMs: number): Promise<void> {
    if (this.state === 'new' || this.state === 'starting' || this.proxy !== undefined) return;
    if (this.state !== 'paused') this.gate = deferred();
    this.setState('closing');
    for (const p of this.balancer.drainQueue()) this.reject(p.frames, 'closing', 'the device is shutting down');
    if (this.inFlight > 0 && timeoutMs > 0) {
      await doneOrTimeout(timeoutMs, (done) => (this.drained = done));
      this.drained = undefined;
    }
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    if (this.state === 'new' || this.state === 'closed') {
      this.state = 'closed';
      return;
    }
    if (this.proxy !== undefined) {
      // libzmq's proxy shows no in-flight count to wait on: terminate it (a
      // running proxy would make process.exit() hang), then close its sockets.
      this.setState('closing');
      this.proxy.terminate();
      await this.proxyEnded();
    } else {
      await this.drain(timeoutMs);
      clearInterval(this.sweep);
      clearInterval(this.heartbeat);
      // Whatever a batch still holds was answered with `closing` or its wait timed out.
      clearImmediate(this.flushing);
      this.flushing = undefined;
      this.outboxes = [];
    }
    this.frontend?.close();
    this.backend?.close();
    const tapClosed = this.tap?.close();
    const gate = this.gate;
    this.gate = undefined;
    gate?.open();
    await Promise.allSettled(this.loops);
    this.removeIpcFiles();
    await Promise.all(this.watchers);
    await tapClosed;
    await this.unregisterDomains();
    this.stoppedAt = performance.now();
    this.setState('closed');
  }

  /**
   * Replaces the allow-lists (for a reload on SIGHUP): `keys` of clients,
   * `from` source ranges, `serverKeys` of servers. Only lists the device was
   * started with can be replaced; a bad entry throws and changes nothing.
   */
  setAllowList(lists: { keys?: readonly string[]; from?: readonly string[]; serverKeys?: readonly string[] }): void {
    const o = this.options;
    if (lists.keys !== undefined) checkKeys('allowKeys', lists.keys);
    if (lists.serverKeys !== undefined) checkKeys('allowServerKeys', lists.serverKeys);
    if (lists.from !== undefined) parseCidrs('allowFrom', lists.from);
    if ((lists.keys !== undefined && o.allowKeys === null) || (lists.from !== undefined && o.allowFrom === null)) {
      throw new ZqueueError(ErrorCode.InvalidOption, 'the device was started without that allow-list (set allowKeys / allowFrom at start)');
    }
    if (lists.serverKeys !== undefined && this.domains.backend === undefined) {
      throw new ZqueueError(ErrorCode.InvalidOption, 'the device was started without allowServerKeys');
    }
    if (this.domains.frontend !== undefined && (lists.keys !== undefined || lists.from !== undefined)) {
      this.lists = { keys: lists.keys ?? this.lists.keys, from: lists.from ?? this.lists.from };
      zap.update(this.domains.frontend, policyOf(this.lists.keys, this.lists.from));
    }
    if (this.domains.backend !== undefined && lists.serverKeys !== undefined) zap.update(this.domains.backend, policyOf(lists.serverKeys, null));
  }

  private removeIpcFiles(): void {
    for (const unlink of this.unlinks) unlink();
    this.unlinks = [];
  }

  private async unregisterDomains(): Promise<void> {
    if (this.domains.frontend !== undefined) await zap.unregister(this.domains.frontend);
    if (this.domains.backend !== undefined) await zap.unregister(this.domains.backend);
  }

  private setState(state: DeviceState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  /**
   * Waits for the terminated proxy to end. libzmq's proxy only reads its
   * control socket between messages; one blocked sending to a backend that
   * no server reads (none connected, or all full) never gets there. If it has
   * not ended soon, a sink connects to the backend and discards what the
   * proxy was holding (requests of a device shutting down, which their
   * clients retry), so the proxy can see TERMINATE.
   */
  private async proxyEnded(): Promise<void> {
    const ended = Promise.allSettled(this.loops);
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([ended.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 200)))]);
    clearTimeout(timer);
    if (!late) return;
    const sink = new zmq.Dealer({ linger: 0 });
    sink.connect(connectUrlFor(this.boundBackend));
    const discard = (async () => {
      try {
        for await (const _ of sink);
      } catch {
        // closed
      }
    })();
    await ended;
    sink.close();
    await discard;
  }

  /** Waits until at least `count` tcp/ipc peers are connected to `side`. */
  waitForPeers(side: Side, count: number): Promise<void> {
    if (this.peers[side] >= count) return Promise.resolve();
    return new Promise((resolve) => {
      const on = (s: Side, n: number): void => {
        if (s === side && n >= count) {
          this.off('peer', on);
          resolve();
        }
      };
      this.on('peer', on);
    });
  }

  /** least-busy: waits until at least `count` workers have said READY. */
  waitForWorkers(count: number): Promise<void> {
    if (this.balancer.workers.size >= count) return Promise.resolve();
    return new Promise((resolve) => {
      const on = (n: number): void => {
        if (n >= count) {
          this.off('worker', on);
          resolve();
        }
      };
      this.on('worker', on);
    });
  }

  private observe(socket: zmq.Socket, side: Side, endpoint: string): void {
    if (endpoint.startsWith('inproc://')) return;
    this.watchers.push(
      watchEvents(socket, (event) => {
        if (event.type === 'accept') this.emit('peer', side, ++this.peers[side]);
        else if (event.type === 'disconnect') this.emit('peer', side, --this.peers[side]);
        // handshake:error:auth is a ZAP refusal, already counted by kind.
        else if (event.type === 'handshake:error:protocol' || event.type === 'handshake:error:other') {
          this.refused.handshake++;
          this.emit('refused', side, 'handshake');
        }
      }),
    );
  }

  // ------------------------------------------------------------ js engine, round-robin

  private async frontLoop(frontend: zmq.Router, backend: zmq.Dealer): Promise<void> {
    const writer = this.backWriter;
    try {
      for (;;) {
        if (this.gate !== undefined) await this.gate.promise;
        if (this.stopping) return;
        const frames = await frontend.receive();
        // A receive already waiting when pause() came: hold its message until resume().
        if (this.gate !== undefined) await this.gate.promise;
        const bytes = size(frames);
        this.front.messagesIn++;
        this.front.bytesIn += bytes;
        this.tap?.publish(TAP_IN, frames);
        if (delimiterIndex(frames) < 0) {
          this.malformed++;
          continue;
        }
        if (frames.length > this.options.maxFrames) {
          this.reject(frames, 'bad-request', `more than ${this.options.maxFrames} frames`);
          continue;
        }
        if (this.frameLimit !== Infinity && largest(frames) > this.frameLimit) {
          this.reject(frames, 'bad-request', INPROC_TOO_LARGE);
          continue;
        }
        if (this.stopping) {
          this.reject(frames, 'closing', 'the device is shutting down');
          continue;
        }
        this.relayed++;
        if (this.options.recordLatency) {
          // Bounded: clients that never get a reply (their server died) must not grow it for ever.
          if (this.arrivals.size >= MAX_TIMED_CLIENTS) this.arrivals.clear();
          this.arrivals.set((frames[0] as Buffer).toString('latin1'), performance.now());
        }
        if (gateHooks.spinUsPerRequest > 0) spin(gateHooks.spinUsPerRequest);
        this.back.messagesOut++;
        this.back.bytesOut += bytes;
        await (writer ?? backend).send(frames);
      }
    } catch (err) {
      if (!this.expectedEnd(err)) throw err;
    }
  }

  private async backLoop(backend: zmq.Dealer): Promise<void> {
    const writer = this.frontWriter;
    try {
      for (;;) {
        const frames = await backend.receive();
        const bytes = size(frames);
        this.back.messagesIn++;
        this.back.bytesIn += bytes;
        const client = frames[0];
        if (client === undefined || client.length === 0) {
          // A worker's control message (READY/BYE): this policy has no use for it.
          this.control++;
          continue;
        }
        this.answered++;
        const key = client.toString('latin1');
        const arrived = this.arrivals.get(key);
        if (arrived !== undefined) {
          this.arrivals.delete(key);
          this.recordLatency(arrived);
        }
        this.countFailure(frames);
        this.front.messagesOut++;
        this.front.bytesOut += bytes;
        this.tap?.publish(TAP_OUT, frames);
        void writer?.send(frames);
        if (this.drained !== undefined && this.inFlight <= 0) this.drained();
      }
    } catch (err) {
      if (!this.expectedEnd(err)) throw err;
    }
  }

  // ------------------------------------------------------------ js engine, least-busy

  private async balancedFrontLoop(frontend: zmq.Router): Promise<void> {
    try {
      for (;;) {
        if (this.gate !== undefined) await this.gate.promise;
        if (this.stopping) return;
        const frames = await frontend.receive();
        // A receive already waiting when pause() came: hold its message until resume().
        if (this.gate !== undefined) await this.gate.promise;
        this.front.messagesIn++;
        this.front.bytesIn += size(frames);
        this.tap?.publish(TAP_IN, frames);
        const d = delimiterIndex(frames);
        if (d < 0) {
          this.malformed++;
          continue;
        }
        if (frames.length > this.options.maxFrames) {
          this.reject(frames, 'bad-request', `more than ${this.options.maxFrames} frames`);
          continue;
        }
        if (this.frameLimit !== Infinity && largest(frames) > this.frameLimit) {
          this.reject(frames, 'bad-request', INPROC_TOO_LARGE);
          continue;
        }
        if (this.stopping) {
          this.reject(frames, 'closing', 'the device is shutting down');
          continue;
        }
        if (gateHooks.spinUsPerRequest > 0) spin(gateHooks.spinUsPerRequest);
        const pending: Pending = { frames, bodyAt: d + 1, retried: false, receivedAt: performance.now() };
        const worker = this.balancer.queued === 0 ? this.balancer.pick() : undefined;
        if (worker !== undefined) {
          this.sendToWorker(this.balancer.dispatch(worker, pending, pending.receivedAt));
        } else if (!this.balancer.enqueue(pending)) {
          this.reject(frames, 'busy', `the device's queue is full (maxQueued ${this.options.maxQueued})`);
        }
      }
    } catch (err) {
      if (!this.expectedEnd(err)) throw err;
    }
  }

  private async balancedBackLoop(backend: zmq.Router): Promise<void> {
    try {
      for (;;) {
        const frames = await backend.receive();
        this.back.messagesIn++;
        this.back.bytesIn += size(frames);
        const workerId = frames[0];
        const second = frames[1];
        if (workerId === undefined || second === undefined) continue;
        const key = workerId.toString('latin1');
        const slot = this.balancer.workers.get(key);
        if (second.length === 0) {
          if (slot !== undefined) slot.lastSeen = performance.now();
          if (frames[2]?.equals(REPLIES) === true) this.onReplies(workerId, key, slot, frames);
          else this.onControl(workerId, slot, frames);
        } else if (second.length === 4) {
          // A reply from a worker the device does not know (declared dead, or
          // from before a restart): it must reconnect and announce itself.
          if (slot === undefined) this.toWorker(workerId, DISCONNECT);
          const now = performance.now();
          if (slot !== undefined) slot.lastSeen = now;
          const held = this.balancer.complete(key, second.readUInt32BE(0), now);
          if (held !== undefined) {
            const reply = frames.slice(2);
            this.answered++;
            this.recordLatency(held.receivedAt, now);
            this.countFailure(reply);
            this.toClient(reply);
          }
          this.dispatchQueued();
          if (this.drained !== undefined && this.inFlight === 0) this.drained();
        }
      }
    } catch (err) {
      if (!this.expectedEnd(err)) throw err;
    }
  }

  /** A batch of replies from a version-2 worker: each goes back along the envelope its request came with. */
  private onReplies(workerId: Buffer, key: string, slot: WorkerSlot | undefined, frames: Buffer[]): void {
    const entries = parseBatch(frames, 3);
    if (entries === undefined) {
      // Not from a zqueue worker that works: its requests time out, or are retried when it goes.
      this.malformed++;
      return;
    }
    // Counted per reply, as for version-1 workers: the message itself was counted once.
    this.back.messagesIn += entries.length - 1;
    if (slot === undefined) this.toWorker(workerId, DISCONNECT);
    const now = performance.now();
    for (const e of entries) {
      const held = this.balancer.complete(key, e.id, now);
      if (held === undefined) continue;
      const reply = held.frames.slice(0, held.bodyAt);
      for (let i = e.start; i < e.end; i++) reply.push(frames[i] as Buffer);
      this.answered++;
      this.recordLatency(held.receivedAt, now);
      this.countFailure(reply);
      this.toClient(reply);
    }
    this.dispatchQueued();
    if (this.drained !== undefined && this.inFlight === 0) this.drained();
  }

  private onControl(workerId: Buffer, slot: WorkerSlot | undefined, frames: Buffer[]): void {
    this.control++;
    const verb = frames[2];
    if (verb === undefined) return;
    if (verb.equals(HEARTBEAT)) {
      if (slot !== undefined) slot.heartbeats = true;
      else this.toWorker(workerId, DISCONNECT);
    } else if (verb.equals(READY)) {
      const credits = Number(frames[3]?.toString() ?? '1');
      const slot = this.balancer.join(workerId, Number.isInteger(credits) && credits > 0 ? credits : 1, performance.now());
      // READY's optional 5th frame: the worker protocol version; 2 and above take batches.
      slot.batches = Number(frames[5]?.toString() ?? '1') >= 2;
      // READY's optional 4th frame: the worker heartbeats, so its silence will mean it is gone.
      // A heartbeat back at once tells the worker that this device heartbeats too.
      if (Number(frames[4]?.toString() ?? '0') > 0 && this.options.heartbeatIntervalMs > 0) {
        slot.heartbeats = true;
        this.toWorker(workerId, HEARTBEAT);
      }
      this.emit('worker', this.balancer.workers.size, slot.key);
      this.dispatchQueued();
    } else if (verb.equals(BYE)) {
      this.workerLeft(workerId);
    }
  }

  /** Sends a control message (HEARTBEAT, DISCONNECT) to a worker. */
  private toWorker(workerId: Buffer, verb: Buffer): void {
    this.back.messagesOut++;
    this.back.bytesOut += verb.length;
    void this.backWriter?.send([workerId, EMPTY, verb]);
  }

  /**
   * Every quarter period: declares dead the workers that heartbeat and have
   * been silent for 3 periods (their requests are retried or answered), and
   * once a period sends the others a heartbeat.
   */
  private beat(): void {
    const period = this.options.heartbeatIntervalMs;
    const now = performance.now();
    const send = now - this.lastBeat >= period;
    if (send) this.lastBeat = now;
    for (const w of [...this.balancer.workers.values()]) {
      if (!w.heartbeats) continue;
      if (now - w.lastSeen > 3 * period) {
        this.workersLost++;
        this.emit('worker-lost', w.key);
        this.workerLeft(w.id);
      } else if (send) {
        this.toWorker(w.id, HEARTBEAT);
      }
    }
  }

  /**
   * Gives a request to its worker: a version-2 worker's goes into its batch,
   * sent when this turn of the event loop ends (see flush); a version-1
   * worker's goes at once, as `[id, envelope..., body...]`.
   */
  private sendToWorker(h: Held): void {
    this.back.messagesOut++;
    this.back.bytesOut += size(h.frames);
    const w = h.worker;
    if (w.batches) {
      if (w.outbox.length === 0) {
        this.outboxes.push(w);
        this.flushing ??= setImmediate(this.flush);
      }
      w.outbox.push(h);
      return;
    }
    const id = Buffer.allocUnsafe(4);
    id.writeUInt32BE(h.id, 0);
    void this.backWriter?.send([w.id, id, ...h.frames]);
  }

  /**
   * Sends each worker the batch it was given this turn: one message, one
   * native call, for all the requests that came in one read burst. Runs in
   * the same turn of the event loop as the reads (setImmediate's check phase
   * follows the poll phase), so batching adds no wait.
   */
  private readonly flush = (): void => {
    this.flushing = undefined;
    const slots = this.outboxes;
    this.outboxes = [];
    for (const w of slots) {
      // Empty when the worker left after its requests were given (they were retried).
      if (w.outbox.length === 0) continue;
      const message = [w.id, EMPTY, REQUESTS];
      appendBatch(message, w.outbox);
      w.outbox = [];
      void this.backWriter?.send(message);
    }
  };

  private dispatchQueued(): void {
    while (this.balancer.queued > 0) {
      const worker = this.balancer.pick();
      if (worker === undefined) return;
      const p = this.balancer.dequeue();
      if (p === undefined) return;
      this.sendToWorker(this.balancer.dispatch(worker, p, performance.now()));
    }
  }

  private orphaned(h: Held): void {
    this.orphans++;
    if (this.stopping) {
      this.reject(h.frames, 'closing', 'the device is shutting down');
    } else if (this.options.onWorkerDeath === 'retry' && !h.retried) {
      this.retried++;
      this.balancer.enqueue({ frames: h.frames, bodyAt: h.bodyAt, retried: true, receivedAt: h.receivedAt }, true);
    } else {
      this.reject(h.frames, 'worker-died', 'the server handling this request died');
    }
  }

  private expire(): void {
    const deadline = performance.now() - this.options.handlerTimeoutMs;
    const expired = this.balancer.expire(deadline);
    for (const h of expired) {
      this.reject(h.frames, 'timeout', `no reply from the server within ${this.options.handlerTimeoutMs} ms`);
      if (!h.worker.retired) {
        h.worker.retired = true;
        this.emit('worker-timeout', h.worker.key);
      }
    }
    if (expired.length > 0 && this.drained !== undefined && this.inFlight === 0) this.drained();
  }

  /** Answers a client's request with an error reply (its envelope, then the error frame). */
  private reject(frames: readonly Buffer[], kind: ErrorKind, message: string): void {
    const d = delimiterIndex(frames);
    if (d < 0) return;
    this.countKind(kind);
    this.toClient([...frames.slice(0, d), EMPTY, errorFrame(kind, message)]);
  }

  private toClient(reply: Buffer[]): void {
    this.front.messagesOut++;
    this.front.bytesOut += size(reply);
    this.tap?.publish(TAP_OUT, reply);
    void this.frontWriter?.send(reply);
  }

  private recordLatency(arrivedAt: number, now = performance.now()): void {
    if (!this.options.recordLatency) return;
    const us = (now - arrivedAt) * 1000;
    record(this.latency, us);
    if (this.window !== undefined) record(this.window, us);
  }

  /** Counts a server's reply that is an error reply, by its kind. */
  private countFailure(reply: readonly Buffer[]): void {
    const kind = errorKindOf(reply[reply.length - 1]);
    if (kind !== undefined) this.countKind(kind);
  }

  private countKind(kind: ErrorKind | 'other'): void {
    switch (kind) {
      case 'busy':
      case 'closing':
      case 'timeout':
      case 'handler':
        this.failed[kind]++;
        break;
      case 'worker-died':
        this.failed.workerDied++;
        break;
      case 'bad-request':
        this.failed.badRequest++;
        break;
      default:
        this.failed.other++;
    }
  }

  /** A getter, not a field read, so that TypeScript does not narrow it across awaits. */
  private get stopping(): boolean {
    return this.state === 'closing' || this.state === 'closed';
  }

  private expectedEnd(err: unknown): boolean {
    return this.stopping || isSocketClosedError(err);
  }

  private loopFailed(err: unknown): void {
    if (this.expectedEnd(err)) return;
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

/** The longest frame's length. */
function largest(frames: readonly Buffer[]): number {
  let n = 0;
  for (const f of frames) if (f.length > n) n = f.length;
  return n;
}

const INPROC_TOO_LARGE = `a frame over ${INPROC_MAX_FRAME} bytes cannot go to a worker thread over inproc (use an ipc backend)`;

function policyOf(keys: readonly string[] | null, from: readonly string[] | null): AccessPolicy {
  return { ...(keys !== null ? { keys } : {}), ...(from !== null ? { from } : {}) };
}

/** CURVE server options for a socket, and its ZAP domain when an allow-list applies. */
function security(secretKey: string, domain: string | undefined): Partial<zmq.SocketOptions<zmq.Router>> {
  return { ...(secretKey !== '' ? { curveServer: true, curveSecretKey: secretKey } : {}), ...(domain !== undefined ? { zapDomain: domain } : {}) };
}

/** Creates and starts a device. */
export async function createDevice(options: DeviceOptions = {}): Promise<Device> {
  return new Device(options).start();
}
