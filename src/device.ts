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
import { BYE, EMPTY, READY, delimiterIndex, errorFrame, type ErrorKind } from './protocol.js';
import { Balancer, type Held, type Pending } from './balancer.js';
import { Writer, size, watchEvents } from './writer.js';
import { connectUrlFor } from './endpoints.js';
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

export type DeviceState = 'new' | 'starting' | 'running' | 'paused' | 'closing' | 'closed';

export interface SideStats {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
}

export interface WorkerStats {
  readonly id: string;
  readonly credits: number;
  readonly inFlight: number;
  readonly served: number;
  readonly retired: boolean;
}

interface CommonStats {
  readonly state: DeviceState;
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
      readonly answered: number;
      readonly rejected: Readonly<{ malformed: number; busy: number; closing: number }>;
      readonly timeouts: number;
      readonly retried: number;
      readonly workerDied: number;
      /** Worker control messages (READY, BYE) received. */
      readonly control: number;
      readonly workers: readonly WorkerStats[];
    });

export type Side = 'frontend' | 'backend';

export interface DeviceEvents {
  /** A tcp/ipc peer connected to or left a side; `count` is how many are connected now. */
  peer: [side: Side, count: number];
  /** least-busy: a worker said READY; `count` workers are known now. */
  worker: [count: number];
  /** least-busy: a worker held a request past handlerTimeoutMs and was retired. */
  'worker-timeout': [workerId: string];
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
  private frontWriter?: Writer;
  private backWriter?: Writer;
  private readonly balancer: Balancer;
  private readonly peers = { frontend: 0, backend: 0 };
  private readonly watchers: Promise<void>[] = [];
  private stoppedAt = 0;
  private boundFrontend = '';
  private boundBackend = '';

  private readonly front = sideStats();
  private readonly back = sideStats();
  private answered = 0;
  private relayed = 0;
  private readonly rejected = { malformed: 0, busy: 0, closing: 0 };
  private timeouts = 0;
  private retried = 0;
  private workerDied = 0;
  private control = 0;

  constructor(options: DeviceOptions = {}) {
    super();
    this.options = resolveDeviceOptions(options);
    this.balancer = new Balancer(this.options.maxQueued);
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
    const frontend = new zmq.Router({ ...common, maxMessageSize: o.maxMessageSize });
    const backend = o.policy === 'least-busy' ? new zmq.Router(common) : new zmq.Dealer(common);
    this.frontend = frontend;
    this.backend = backend;
    // Subscribe before binding, so that no early connection goes uncounted.
    this.observe(frontend, 'frontend', o.frontend);
    this.observe(backend, 'backend', o.backend);
    try {
      await bindOrExplain(frontend, o.frontend, 'frontend');
      await bindOrExplain(backend, o.backend, 'backend');
    } catch (err) {
      frontend.close();
      backend.close();
      await Promise.all(this.watchers);
      this.state = 'closed';
      throw err;
    }
    this.boundFrontend = frontend.lastEndpoint ?? o.frontend;
    this.boundBackend = backend.lastEndpoint ?? o.backend;
    this.startedAt = performance.now();
    this.state = 'running';
    if (o.engine === 'native') {
      const proxy = new zmq.Proxy(frontend, backend as zmq.Dealer);
      this.proxy = proxy;
      this.loops.push(proxy.run().catch((err: unknown) => this.loopFailed(err)));
    } else {
      const onSendError = (err: unknown): void => this.loopFailed(err);
      this.frontWriter = new Writer(frontend, onSendError);
      this.backWriter = new Writer(backend, onSendError);
      if (o.policy === 'least-busy') {
        this.loops.push(this.balancedFrontLoop(frontend), this.balancedBackLoop(backend as zmq.Router));
        if (o.handlerTimeoutMs > 0) {
          const every = Math.max(10, Math.min(250, Math.floor(o.handlerTimeoutMs / 4)));
          this.sweep = setInterval(() => this.expire(), every);
        }
      } else {
        this.loops.push(this.frontLoop(frontend, backend as zmq.Dealer), this.backLoop(backend as zmq.Dealer));
      }
    }
    return this;
  }

  /** Stops taking new requests; replies still flow back (js) / both directions stop (native). */
  pause(): void {
    if (this.state !== 'running') return;
    this.state = 'paused';
    if (this.proxy !== undefined) this.proxy.pause();
    else this.gate = deferred();
  }

  resume(): void {
    if (this.state !== 'paused') return;
    this.state = 'running';
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
      policy: this.options.policy,
      peers: { ...this.peers },
      uptimeMs: this.startedAt === 0 ? 0 : (this.stoppedAt || performance.now()) - this.startedAt,
      frontend: this.boundFrontend,
      backend: this.boundBackend,
    };
    if (this.options.engine === 'native') return { ...common, engine: 'native', counted: false };
    const workers: WorkerStats[] = [];
    for (const w of this.balancer.workers.values()) {
      workers.push({ id: w.key, credits: w.credits, inFlight: w.inFlight, served: w.served, retired: w.retired });
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
      rejected: { ...this.rejected },
      timeouts: this.timeouts,
      retried: this.retried,
      workerDied: this.workerDied,
      control: this.control,
      workers,
    };
  }

  /**
   * A worker is gone (its thread died, or it said BYE): the requests it held
   * are retried once on another worker, or answered with an error.
   */
  workerLeft(workerId: string | Buffer): void {
    const key = typeof workerId === 'string' ? Buffer.from(workerId).toString('latin1') : workerId.toString('latin1');
    const orphans = this.balancer.leave(key);
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
    this.state = 'closing';
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
      this.state = 'closing';
      this.proxy.terminate();
      await this.proxyEnded();
    } else {
      await this.drain(timeoutMs);
      if (this.sweep !== undefined) clearInterval(this.sweep);
    }
    this.frontend?.close();
    this.backend?.close();
    const gate = this.gate;
    this.gate = undefined;
    gate?.open();
    await Promise.allSettled(this.loops);
    await Promise.all(this.watchers);
    this.stoppedAt = performance.now();
    this.state = 'closed';
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
        const bytes = size(frames);
        this.front.messagesIn++;
        this.front.bytesIn += bytes;
        if (delimiterIndex(frames) < 0) {
          this.rejected.malformed++;
          continue;
        }
        this.relayed++;
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
        if (frames[0]?.length === 0) {
          // A worker's control message (READY/BYE): this policy has no use for it.
          this.control++;
          continue;
        }
        this.answered++;
        this.front.messagesOut++;
        this.front.bytesOut += bytes;
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
        this.front.messagesIn++;
        this.front.bytesIn += size(frames);
        if (delimiterIndex(frames) < 0) {
          this.rejected.malformed++;
          continue;
        }
        if (this.stopping) {
          this.reject(frames, 'closing', 'the device is shutting down');
          continue;
        }
        if (gateHooks.spinUsPerRequest > 0) spin(gateHooks.spinUsPerRequest);
        const pending: Pending = { frames, retried: false, receivedAt: performance.now() };
        const worker = this.balancer.queued === 0 ? this.balancer.pick() : undefined;
        if (worker !== undefined) {
          await this.sendToWorker(this.balancer.dispatch(worker, pending, pending.receivedAt));
        } else if (!this.balancer.enqueue(pending)) {
          this.rejected.busy++;
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
        if (second.length === 0) {
          this.onControl(workerId, frames);
        } else if (second.length === 4) {
          const held = this.balancer.complete(workerId.toString('latin1'), second.readUInt32BE(0));
          if (held !== undefined) {
            const reply = frames.slice(2);
            this.answered++;
            this.front.messagesOut++;
            this.front.bytesOut += size(reply);
            void this.frontWriter?.send(reply);
          }
          this.dispatchQueued();
          if (this.drained !== undefined && this.inFlight === 0) this.drained();
        }
      }
    } catch (err) {
      if (!this.expectedEnd(err)) throw err;
    }
  }

  private onControl(workerId: Buffer, frames: Buffer[]): void {
    this.control++;
    const verb = frames[2];
    if (verb === undefined) return;
    if (verb.equals(READY)) {
      const credits = Number(frames[3]?.toString() ?? '1');
      this.balancer.join(workerId, Number.isInteger(credits) && credits > 0 ? credits : 1, performance.now());
      this.emit('worker', this.balancer.workers.size);
      this.dispatchQueued();
    } else if (verb.equals(BYE)) {
      this.workerLeft(workerId);
    }
  }

  private sendToWorker(h: Held): Promise<void> {
    const id = Buffer.allocUnsafe(4);
    id.writeUInt32BE(h.id, 0);
    const frames = [h.worker.id, id, ...h.frames];
    this.back.messagesOut++;
    this.back.bytesOut += size(h.frames);
    return this.backWriter?.send(frames) ?? Promise.resolve();
  }

  private dispatchQueued(): void {
    while (this.balancer.queued > 0) {
      const worker = this.balancer.pick();
      if (worker === undefined) return;
      const p = this.balancer.dequeue();
      if (p === undefined) return;
      void this.sendToWorker(this.balancer.dispatch(worker, p, performance.now()));
    }
  }

  private orphaned(h: Held): void {
    this.workerDied++;
    if (this.stopping) {
      this.reject(h.frames, 'closing', 'the device is shutting down');
    } else if (this.options.onWorkerDeath === 'retry' && !h.retried) {
      this.retried++;
      this.balancer.enqueue({ frames: h.frames, retried: true, receivedAt: h.receivedAt }, true);
    } else {
      this.reject(h.frames, 'worker-died', 'the server handling this request died');
    }
  }

  private expire(): void {
    const deadline = performance.now() - this.options.handlerTimeoutMs;
    const expired = this.balancer.expire(deadline);
    for (const h of expired) {
      this.timeouts++;
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
    if (kind === 'closing') this.rejected.closing++;
    const reply = [...frames.slice(0, d), EMPTY, errorFrame(kind, message)];
    this.front.messagesOut++;
    this.front.bytesOut += size(reply);
    void this.frontWriter?.send(reply);
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

/** Binds, turning libzmq's errno into a ZqueueError that names the socket and endpoint. */
export async function bindOrExplain(socket: zmq.Socket, endpoint: string, what: string): Promise<void> {
  try {
    await socket.bind(endpoint);
  } catch (err) {
    const code = zmqCode(err);
    if (code === 'EADDRINUSE') {
      throw new ZqueueError(ErrorCode.AddressInUse, `cannot bind ${what} to ${endpoint}: address already in use`, { cause: err });
    }
    const reason = err instanceof Error ? err.message : String(err);
    throw new ZqueueError(ErrorCode.Bind, `cannot bind ${what} to ${endpoint}: ${reason}`, { cause: err });
  }
}

/** Creates and starts a device. */
export async function createDevice(options: DeviceOptions = {}): Promise<Device> {
  return new Device(options).start();
}
