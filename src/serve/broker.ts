/**
 * A broker: the device on the main thread and N server workers on worker
 * threads running a handler module, joined over inproc (default), ipc, or an endpoint.
 * With `least-busy` (the default) each request goes to a worker that has room
 * for it; with `round-robin` the device's DEALER spreads them as the seed does.
 */
import { EventEmitter } from 'node:events';
import { Device, type DeviceHooks, type DeviceStats } from '../device/device.js';
import { WorkerPool, type SlotStats, type WorkerReplaced } from './pool.js';
import { connectUrlFor, resolveBackend } from '../endpoints.js';
import { deviceShare, resolveBrokerOptions, type BrokerOptions, type ResolvedBrokerOptions, type CloseOptions } from '../options.js';

export { brokerDefaults, resolveBrokerOptions, type BrokerOptions, type ResolvedBrokerOptions } from '../options.js';

export interface BrokerStats {
  readonly device: DeviceStats;
  /** The worker threads, one per slot (the device's own `workers` are its backend peers). */
  readonly threads: readonly SlotStats[];
}

export interface BrokerEvents {
  /** A worker thread ended (died, or retired after a timeout) and a new one took its slot. */
  'worker-replaced': [event: WorkerReplaced];
  /**
   * A stuck worker thread is being terminated without having closed its sockets first
   * (src/serve/reaper.ts says why that can abort the process).
   */
  'worker-kill-unsafe': [reason: string];
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

  /** Starts the device, then the workers. `hooks`: the device's measuring seam (the bench's regression gate; see DeviceHooks). */
  static async create(input: BrokerOptions, hooks: DeviceHooks = {}): Promise<Broker> {
    const options = resolveBrokerOptions(input);
    // The device checks its own options before anything binds or any thread starts.
    // The device takes every device option a broker was given (a broker's options are the device's plus the pool's).
    const device = new Device(deviceShare(options, resolveBackend(options.backend)), hooks);
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
        // libzmq's proxy passes frames on as they are: its workers must not encode them (src/inproc.ts).
        inprocStrings: options.engine !== 'native',
        service: options.service,
        join: options.join,
      },
      {
        onWorkerLeft: (id) => device.workerLeft(id),
        onWorkerReplaced: (e) => broker.emit('worker-replaced', e),
        onKillUnsafe: (why) => broker.emit('worker-kill-unsafe', why),
      },
    );
    broker.pool = pool;
    device.on('worker-timeout', (id) => pool.retire(id));
    try {
      await pool.start();
    } catch (err) {
      await device.close({ timeoutMs: 0 });
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

  /** The first half of close(): the device stops intake, answers queued requests `closing` and waits for those in flight. */
  drain(options: CloseOptions = {}): Promise<void> {
    return this.device.drain({ timeoutMs: options.timeoutMs ?? this.options.closeTimeoutMs });
  }

  stats(): BrokerStats {
    return { device: this.device.stats(), threads: this.pool.stats() };
  }

  /**
   * Stops taking requests, lets in-flight ones finish for up to `timeoutMs`,
   * answers queued ones with `closing`, then stops every worker and lets its
   * thread end. Idempotent; never rejects.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= (async () => {
      // Drain first, then let the workers say BYE to a device still listening,
      // and only then close the device's sockets.
      await this.device.drain({ timeoutMs: options.timeoutMs ?? this.options.closeTimeoutMs });
      await this.pool.close(0);
      await this.device.close({ timeoutMs: 0 });
    })();
    return this.closing;
  }
}

export function createBroker(options: BrokerOptions, hooks?: DeviceHooks): Promise<Broker> {
  return Broker.create(options, hooks);
}
