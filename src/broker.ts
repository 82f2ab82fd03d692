/**
 * A broker: the device on the main thread and N server workers on worker
 * threads running a handler module, joined over ipc (default) or inproc.
 * With `least-busy` (the default) each request goes to a worker that has room
 * for it; with `round-robin` the device's DEALER spreads them as the seed does.
 */
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { Device, type DeviceStats } from './device.js';
import { WorkerPool, type SlotStats, type WorkerReplaced } from './pool.js';
import { connectUrlFor, resolveBackend } from './endpoints.js';
import { checkKnown, defined, endpoint, integer, oneOf, POLICIES, ENGINES, type Engine, type Policy, type OnWorkerDeath } from './options.js';
import { invalidOption } from './errors.js';

export interface BrokerOptions {
  /** Path of the handler module (its default export handles a request). Required. */
  handler: string;
  /** The clients' endpoint. Default `tcp://*:5559`. */
  frontend?: string;
  /**
   * `ipc` (default: a socket file only this user may use, in the temp directory), `inproc`,
   * or an endpoint to bind (remote `zqueue server`s may join it over tcp). `inproc` is for
   * small messages only: zeromq.js hands frames over 128 bytes from thread to thread
   * without copying, which corrupts the heap (see the README's known limits).
   */
  backend?: string;
  /** Worker threads. Default: the machine's available parallelism. */
  threads?: number;
  /** Default `least-busy`. */
  policy?: Policy;
  /** `js` (default); `native` only with `round-robin`. */
  engine?: Engine;
  /** Requests a worker handles at once (for async handlers). Default 1. */
  concurrency?: number;
  /** Requests that may wait for a worker before clients get `busy`. Default 10000. */
  maxQueued?: number;
  /** A request running longer gets a `timeout` error and its worker is replaced. 0: never. Default 30000. */
  handlerTimeoutMs?: number;
  /** Requests held by a worker that died: `retry` once on another, or `fail`. Default `retry`. */
  onWorkerDeath?: OnWorkerDeath;
  /** A retired worker gets this long to stop before its thread is terminated. Default 1000. */
  stopGraceMs?: number;
  /** `close()` waits this long for in-flight requests. Default 2000. */
  closeTimeoutMs?: number;
  /** Publish a copy of every request and reply on a PUB socket bound here. Default '' (off). */
  tap?: string;
  /** Z85 secret key: the frontend becomes a CURVE server. Default '' (plain). */
  curveSecretKey?: string;
  /** Z85 public keys of the clients allowed (needs curveSecretKey). Default null (any). */
  allowKeys?: readonly string[] | null;
  /** Client source addresses allowed, as CIDR ranges. Default null (any). */
  allowFrom?: readonly string[] | null;
  /** Heartbeat period with remote servers that join over a tcp backend (least-busy). Default 1000; 0: off. */
  heartbeatIntervalMs?: number;
  /** least-busy: requests a quick worker may hold beyond its concurrency, waiting in its socket (see DeviceOptions.prefetch). Default 128. */
  prefetch?: number;
}

export type ResolvedBrokerOptions = Readonly<Required<BrokerOptions>>;

export const brokerDefaults: Omit<ResolvedBrokerOptions, 'handler'> = Object.freeze({
  frontend: 'tcp://*:5559',
  backend: 'ipc',
  threads: availableParallelism(),
  policy: 'least-busy',
  engine: 'js',
  concurrency: 1,
  maxQueued: 10_000,
  handlerTimeoutMs: 30_000,
  onWorkerDeath: 'retry',
  stopGraceMs: 1_000,
  closeTimeoutMs: 2_000,
  tap: '',
  curveSecretKey: '',
  allowKeys: null,
  allowFrom: null,
  heartbeatIntervalMs: 1_000,
  prefetch: 128,
});

export function resolveBrokerOptions(input: BrokerOptions): ResolvedBrokerOptions {
  checkKnown('broker', input, { ...brokerDefaults, handler: '' });
  const o = { ...brokerDefaults, ...defined(input) } as ResolvedBrokerOptions;
  if (typeof o.handler !== 'string' || o.handler.length === 0) throw invalidOption('handler', 'the path of a handler module', o.handler);
  endpoint('frontend', o.frontend, 'bind');
  if (o.backend !== 'inproc' && o.backend !== 'ipc') endpoint('backend', o.backend, 'bind');
  integer('threads', o.threads, 1, 1024);
  oneOf('policy', o.policy, POLICIES);
  oneOf('engine', o.engine, ENGINES);
  integer('concurrency', o.concurrency, 1, 100_000);
  integer('stopGraceMs', o.stopGraceMs, 0, 2 ** 31 - 1);
  return Object.freeze({ ...o, handler: resolve(o.handler) });
}

export interface BrokerStats {
  readonly device: DeviceStats;
  readonly workers: readonly SlotStats[];
}

export interface BrokerEvents {
  /** A worker thread ended (died, or retired after a timeout) and a new one took its slot. */
  'worker-replaced': [event: WorkerReplaced];
}

export class Broker extends EventEmitter<BrokerEvents> {
  readonly options: ResolvedBrokerOptions;
  readonly device: Device;
  private pool!: WorkerPool;
  private closing?: Promise<void>;

  private constructor(options: ResolvedBrokerOptions, device: Device) {
    super();
    this.options = options;
    this.device = device;
  }

  static async create(input: BrokerOptions): Promise<Broker> {
    const options = resolveBrokerOptions(input);
    // The device checks its own options before anything binds or any thread starts.
    const device = new Device({
      frontend: options.frontend,
      backend: resolveBackend(options.backend),
      engine: options.engine,
      policy: options.policy,
      maxQueued: options.maxQueued,
      handlerTimeoutMs: options.handlerTimeoutMs,
      onWorkerDeath: options.onWorkerDeath,
      closeTimeoutMs: options.closeTimeoutMs,
      tap: options.tap,
      curveSecretKey: options.curveSecretKey,
      allowKeys: options.allowKeys,
      allowFrom: options.allowFrom,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      prefetch: options.prefetch,
    });
    await device.start();
    const broker = new Broker(options, device);
    const pool = new WorkerPool(
      {
        threads: options.threads,
        endpoint: connectUrlFor(device.backendEndpoint),
        handlerPath: options.handler,
        concurrency: options.concurrency,
        // Workers enforce the timeout on async handlers themselves; the
        // device (least-busy) also catches handlers stuck in sync code.
        handlerTimeoutMs: options.handlerTimeoutMs,
        stopGraceMs: options.stopGraceMs,
      },
      { onWorkerLeft: (id) => device.workerLeft(id), onWorkerReplaced: (e) => broker.emit('worker-replaced', e) },
    );
    broker.pool = pool;
    device.on('worker-timeout', (id) => pool.retire(id));
    try {
      await pool.start();
    } catch (err) {
      await device.close(0);
      throw err;
    }
    return broker;
  }

  get frontendEndpoint(): string {
    return this.device.frontendEndpoint;
  }

  get backendEndpoint(): string {
    return this.device.backendEndpoint;
  }

  /** Stops taking new requests (they wait at the frontend); replies still flow. */
  pause(): void {
    this.device.pause();
  }

  resume(): void {
    this.device.resume();
  }

  stats(): BrokerStats {
    return { device: this.device.stats(), workers: this.pool.stats() };
  }

  /**
   * Stops taking requests, lets in-flight ones finish for up to `timeoutMs`,
   * answers queued ones with `closing`, then stops every worker and lets its
   * thread end. Idempotent; never rejects.
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      // Drain first, then let the workers say BYE to a device still listening,
      // and only then close the device's sockets.
      await this.device.drain(options.timeoutMs ?? this.options.closeTimeoutMs);
      await this.pool.close(0);
      await this.device.close(0);
    })();
    return this.closing;
  }
}

export function createBroker(options: BrokerOptions): Promise<Broker> {
  return Broker.create(options);
}
