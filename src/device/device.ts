/**
 * The queue device: a ROUTER frontend facing clients and a backend facing
 * servers, relaying requests one way and replies the other, as the seed's
 * `zmq.device(zmq.QUEUE, frontend, backend)` does.
 *
 * This facade holds the options, the state machine (start, pause, resume,
 * drain, close), the events and the waits; an engine moves the messages
 * (see engine.ts): `native` (libzmq's proxy), `relay` (round-robin,
 * counting) or `balanced` (least-busy). The engine follows from the options:
 * engine "native" is the native one; engine "js" is relay for policy
 * round-robin and balanced for least-busy.
 */
import '../context.js';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { ErrorCode, ZqueueError } from '../errors.js';
import {
  resolveDeviceOptions,
  type DeviceOptions,
  type Engine as EngineName,
  type Policy,
  type ResolvedDeviceOptions,
  type CloseOptions,
} from '../options.js';
import type { Refusal } from '../auth.js';
import { Tap } from '../tap.js';
import { doneOrTimeout } from '../wait.js';
import { DeviceSecurity, type SecurityStats, type Side } from './security.js';
import { DeviceSockets, type EngineKind } from './sockets.js';
import type { CountedStats, LatencyWindow, UncountedStats } from './counters.js';
import type { DeviceHooks, Engine, EngineContext } from './engine.js';
import { NativeEngine } from './native.js';
import { RelayEngine } from './relay.js';
import { BalancedEngine } from './balanced.js';

export type { SideStats, FailedCounts, WorkerStats, QueueStats, CountedStats, LatencyWindow } from './counters.js';
export type { SecurityStats, Side } from './security.js';
export type { DeviceHooks, EngineKind } from './engine.js';

export type DeviceState = 'new' | 'starting' | 'running' | 'paused' | 'closing' | 'closed';

interface CommonStats {
  readonly state: DeviceState;
  readonly security: SecurityStats;
  /** Peers connected over tcp/ipc on each side (libzmq reports no inproc connections). */
  readonly peers: Readonly<{ frontend: number; backend: number }>;
  /** Connections libzmq could not accept (EMFILE: the process is out of descriptors). */
  readonly acceptFailures: Readonly<{ frontend: number; backend: number }>;
  readonly policy: Policy;
  readonly uptimeMs: number;
  readonly frontend: string;
  readonly backend: string;
}

/** `native` counts nothing (libzmq's proxy exposes no statistics to zeromq.js); `js` counts everything. */
export type DeviceStats =
  (CommonStats & { readonly engine: 'native' } & UncountedStats) | (CommonStats & { readonly engine: 'js' } & CountedStats);

export interface DeviceEvents {
  /** The device moved to `state` (running, paused, closing = draining, closed). */
  state: [state: DeviceState];
  /** A tcp/ipc peer connected to or left a side; `count` is how many are connected now. */
  peer: [side: Side, count: number];
  /** libzmq could not accept a connection on a side (`code`: EMFILE when out of descriptors). */
  'accept-failed': [side: Side, code: string];
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
  /** An engine's loop failed for a reason other than shutdown; the device then closes. */
  error: [err: Error];
}

/** Which engine the options call for. */
export function engineKindOf(o: ResolvedDeviceOptions): EngineKind {
  if (o.engine === 'native') return 'native';
  return o.policy === 'least-busy' ? 'balanced' : 'relay';
}

export class Device extends EventEmitter<DeviceEvents> {
  readonly options: ResolvedDeviceOptions;
  private state: DeviceState = 'new';
  private startedAt = 0;
  private stoppedAt = 0;
  private readonly security: DeviceSecurity;
  private sockets?: DeviceSockets;
  private engineImpl?: Engine;
  private tap: Tap | undefined;
  private closing?: Promise<void>;
  private draining?: Promise<void>;
  private drained: (() => void) | undefined;
  private readonly hooks: DeviceHooks;

  /** `hooks`: the measuring seam (see DeviceHooks); production code passes none. */
  constructor(options: DeviceOptions = {}, hooks: DeviceHooks = {}) {
    super();
    this.options = resolveDeviceOptions(options);
    this.hooks = hooks;
    this.security = new DeviceSecurity(this.options, (side, why) => this.emit('refused', side, why));
  }

  get engine(): EngineName {
    return this.options.engine;
  }

  /** The frontend's endpoint as bound (tcp port `*` resolved). */
  get frontendEndpoint(): string {
    return this.sockets?.endpoint('frontend') ?? '';
  }

  get backendEndpoint(): string {
    return this.sockets?.endpoint('backend') ?? '';
  }

  /** Binds both sockets and starts relaying. Rejects with a ZqueueError if a bind fails. */
  async start(): Promise<this> {
    if (this.state !== 'new') throw new ZqueueError(ErrorCode.Closed, `device already ${this.state === 'closed' ? 'closed' : 'started'}`);
    this.state = 'starting';
    const o = this.options;
    const kind = engineKindOf(o);
    await this.security.register();
    const sockets = new DeviceSockets(o, kind, this.security, {
      peer: (side, n) => this.emit('peer', side, n),
      acceptFailed: (side, code) => this.emit('accept-failed', side, code),
    });
    this.sockets = sockets;
    try {
      await sockets.bind();
      if (o.tap !== '') this.tap = await Tap.open(o.tap, o.tapHighWaterMark, (n) => this.emit('tap', n));
    } catch (err) {
      sockets.close();
      await sockets.closed();
      await this.security.unregister();
      this.state = 'closed';
      throw err;
    }
    const ctx: EngineContext = {
      options: o,
      sockets,
      tap: this.tap,
      hooks: this.hooks,
      events: {
        worker: (count, id) => this.emit('worker', count, id),
        workerLeft: (id, orphans) => this.emit('worker-left', id, orphans),
        workerLost: (id) => this.emit('worker-lost', id),
        workerTimeout: (id) => this.emit('worker-timeout', id),
      },
      stopping: () => this.stopping,
      fail: (err) => this.failed(err),
      settled: () => {
        if (this.drained !== undefined && this.inFlight === 0) this.drained();
      },
    };
    this.engineImpl = kind === 'native' ? new NativeEngine(ctx) : kind === 'relay' ? new RelayEngine(ctx) : new BalancedEngine(ctx);
    this.startedAt = performance.now();
    this.setState('running');
    this.engineImpl.start();
    return this;
  }

  /** Stops taking new requests; replies still flow back (js) / both directions stop (native). */
  pause(): void {
    if (this.state !== 'running') return;
    this.setState('paused');
    this.engineImpl?.pause();
  }

  resume(): void {
    if (this.state !== 'paused') return;
    this.setState('running');
    this.engineImpl?.resume();
  }

  get inFlight(): number {
    return this.engineImpl?.inFlight ?? 0;
  }

  stats(): DeviceStats {
    const common: CommonStats = {
      state: this.state,
      security: this.security.stats(),
      policy: this.options.policy,
      peers: { ...(this.sockets?.peers ?? { frontend: 0, backend: 0 }) },
      acceptFailures: { ...(this.sockets?.acceptFailures ?? { frontend: 0, backend: 0 }) },
      uptimeMs: this.startedAt === 0 ? 0 : (this.stoppedAt || performance.now()) - this.startedAt,
      frontend: this.frontendEndpoint,
      backend: this.backendEndpoint,
    };
    const s = this.engineImpl?.stats() ?? (this.options.engine === 'native' ? { counted: false as const } : undefined);
    if (s === undefined || !s.counted) {
      if (this.options.engine === 'native') return { ...common, engine: 'native', counted: false };
      // Not started: a counting device that has counted nothing yet.
      return { ...common, engine: 'js', ...EMPTY_COUNTS };
    }
    return { ...common, engine: 'js', ...s };
  }

  /**
   * A window on the latency of requests answered from now on, for periodic
   * reports: `take()` summarizes those since it opened or was last taken.
   * Each open window records every request, so close it when done. A device
   * that counts nothing (the native engine), or has not started, gives empty ones.
   */
  openLatencyWindow(): LatencyWindow {
    return this.engineImpl?.openLatencyWindow?.() ?? { take: () => EMPTY_COUNTS.latency, close: () => {} };
  }

  /**
   * A worker is gone (its thread died, or it said BYE): the requests it held
   * are retried once on another worker, or answered with an error.
   */
  workerLeft(workerId: string | Buffer): void {
    const key = typeof workerId === 'string' ? Buffer.from(workerId).toString('latin1') : workerId.toString('latin1');
    this.engineImpl?.workerLeft(key);
  }

  /**
   * Stops intake, lets in-flight requests finish for up to `timeoutMs`
   * (default: the closeTimeoutMs option), answers queued ones with `closing`,
   * then closes the sockets. Idempotent; never rejects.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.shutdown(options.timeoutMs ?? this.options.closeTimeoutMs);
    return this.closing;
  }

  /**
   * The first half of close(): stops intake, answers queued requests with
   * `closing` and waits up to `timeoutMs` for in-flight ones, leaving the
   * sockets open (so servers can still say goodbye). Idempotent.
   */
  drain(options: CloseOptions = {}): Promise<void> {
    this.draining ??= this.stopIntake(options.timeoutMs ?? this.options.closeTimeoutMs);
    return this.draining;
  }

  private async stopIntake(timeoutMs: number): Promise<void> {
    const engine = this.engineImpl;
    if (this.state === 'new' || this.state === 'starting' || engine === undefined || engine.kind === 'native') return;
    this.setState('closing');
    // Intake goes on, answering `closing` (a paused device too): a request read from now on is told at once.
    engine.resume();
    engine.stopIntake();
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
    const engine = this.engineImpl;
    if (engine?.kind === 'native') this.setState('closing');
    else await this.drain({ timeoutMs });
    await engine?.stop();
    this.sockets?.close();
    const tapClosed = this.tap?.close();
    await engine?.ended();
    await this.sockets?.closed();
    await tapClosed;
    await this.security.unregister();
    this.stoppedAt = performance.now();
    this.setState('closed');
  }

  /**
   * Replaces the allow-lists (for a reload on SIGHUP): `keys` of clients,
   * `from` source ranges, `serverKeys` of servers. Only lists the device was
   * started with can be replaced; a bad entry throws and changes nothing.
   */
  setAllowList(lists: { keys?: readonly string[]; from?: readonly string[]; serverKeys?: readonly string[] }): void {
    this.security.setAllowList(lists);
  }

  /** Waits until at least `count` tcp/ipc peers are connected to `side`. */
  waitForPeers(side: Side, count: number): Promise<void> {
    if ((this.sockets?.peers[side] ?? 0) >= count) return Promise.resolve();
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
    if ((this.engineImpl?.workerCount ?? 0) >= count) return Promise.resolve();
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

  private setState(state: DeviceState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  /** A getter, not a field read, so that TypeScript does not narrow it across awaits. */
  private get stopping(): boolean {
    return this.state === 'closing' || this.state === 'closed';
  }

  /**
   * An engine's loop failed unexpectedly: the `error` event (a warning when
   * nobody listens: an error must neither vanish nor kill the process), then
   * a clean stop, which every listener sees as state "closed".
   */
  private failed(err: unknown): void {
    if (this.stopping) return;
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(`zqueue device stopped: ${error.message}`, { code: 'ZQ_DEVICE_ERROR' });
    void this.close();
  }
}

const EMPTY_COUNTS: CountedStats = Object.freeze({
  counted: true,
  frontendTraffic: { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 },
  backendTraffic: { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 },
  requests: 0,
  inFlight: 0,
  queued: 0,
  queue: { clientsWaiting: 0, deepestClient: 0, oldestWaitMs: 0, busyPerClient: 0 },
  answered: 0,
  failed: { busy: 0, closing: 0, timeout: 0, handler: 0, workerDied: 0, badRequest: 0, noService: 0, other: 0 },
  malformed: 0,
  orphaned: 0,
  retried: 0,
  workersLost: 0,
  dropped: { unroutable: 0, full: 0 },
  shed: { abandoned: 0, expired: 0, replaced: 0, policy: 0, cancelled: 0 },
  control: 0,
  latency: { count: 0, min_us: 0, mean_us: 0, p50_us: 0, p90_us: 0, p99_us: 0, p99_9_us: 0, max_us: 0 },
  tap: undefined,
  workers: [],
});

/** Creates and starts a device. */
export async function createDevice(options: DeviceOptions = {}, hooks: DeviceHooks = {}): Promise<Device> {
  return new Device(options, hooks).start();
}
