/**
 * The native engine: zeromq.js's Proxy, libzmq's zmq_proxy_steerable on a
 * libuv thread-pool thread. C speed; no counters (its stats type says so),
 * no balancing by readiness, and no drain: close() terminates it.
 */
import * as zmq from 'zeromq';
import type { UncountedStats } from './counters.js';
import type { Engine, EngineContext } from './engine.js';
import { connectTo } from '../endpoints.js';

export class NativeEngine implements Engine<UncountedStats> {
  readonly kind = 'native';
  readonly inFlight = 0;
  readonly workerCount = 0;
  private readonly proxy: zmq.Proxy<zmq.Router, zmq.Dealer>;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: EngineContext) {
    this.proxy = new zmq.Proxy(ctx.sockets.frontend, ctx.sockets.backend as zmq.Dealer);
  }

  start(): void {
    this.running = this.proxy.run().catch((err: unknown) => {
      if (!this.ctx.stopping()) this.ctx.fail(err);
    });
  }

  /** libzmq's proxy pauses both directions. */
  pause(): void {
    this.proxy.pause();
  }

  resume(): void {
    this.proxy.resume();
  }

  stopIntake(): void {
    // libzmq's proxy shows nothing to drain.
  }

  workerLeft(): void {
    // The proxy knows no workers.
  }

  stats(): UncountedStats {
    return { counted: false };
  }

  /**
   * Terminates the proxy (a running proxy would make process.exit() hang) and
   * waits for it to end. libzmq's proxy only reads its control socket between
   * messages; one blocked sending to a backend that no server reads (none
   * connected, or all full) never gets there. If it has not ended soon, a
   * sink connects to the backend and discards what the proxy was holding
   * (requests of a device shutting down, which their clients retry), so the
   * proxy can see TERMINATE.
   */
  async stop(): Promise<void> {
    this.proxy.terminate();
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      this.running.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 200))),
    ]);
    clearTimeout(timer);
    if (!late) return;
    const sink = new zmq.Dealer({ linger: 0 });
    connectTo(sink, this.ctx.sockets.backendUrl());
    const discard = (async () => {
      try {
        for await (const _ of sink);
      } catch {
        // closed
      }
    })();
    await this.running;
    sink.close();
    await discard;
  }

  ended(): Promise<void> {
    return this.running;
  }
}
