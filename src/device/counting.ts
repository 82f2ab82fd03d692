/**
 * What the two counting engines (relay and balanced) share: their counters,
 * the frontend's writer (which counts what a ROUTER would drop silently),
 * the pause gate, and loops whose unexpected failures reach the device.
 */
import * as zmq from 'zeromq';
import { isSocketClosedError, zmqCode } from '../errors.js';
import { TAP_IN } from '../tap.js';
import { Writer, size } from '../writer.js';
import { admit, type Admission, type AdmitRules } from './admit.js';
import { Counters } from './counters.js';
import { fromInproc, isInproc, toInproc } from '../inproc.js';
import { Gate, type EngineContext } from './engine.js';

export abstract class CountingEngine {
  protected readonly counters: Counters;
  protected readonly frontWriter: Writer;
  protected readonly gate = new Gate();
  private readonly loops: Promise<void>[] = [];
  /** Over inproc, frames over 128 bytes travel as strings (src/inproc.ts): per side. */
  protected readonly inproc: { readonly frontend: boolean; readonly backend: boolean };

  private readonly rules: AdmitRules;

  constructor(protected readonly ctx: EngineContext) {
    this.inproc = { frontend: isInproc(ctx.sockets.endpoint('frontend')), backend: isInproc(ctx.sockets.endpoint('backend')) };
    this.frontWriter = new Writer(
      ctx.sockets.frontend,
      (err) => {
        const code = zmqCode(err);
        if (code === 'EHOSTUNREACH') this.counters.dropped.unroutable++;
        else if (code === 'EAGAIN') this.counters.dropped.full++;
        else this.failed(err);
      },
      { immediate: true, ...(this.inproc.frontend ? { encode: toInproc } : {}) },
    );
    this.counters = new Counters(ctx.options.recordLatency, this.frontWriter, ctx.tap);
    this.rules = { maxFrames: ctx.options.maxFrames, stopping: () => ctx.stopping() };
  }

  pause(): void {
    this.gate.close();
  }

  resume(): void {
    this.gate.open();
  }

  latencyWindow(): ReturnType<Counters['latencyWindow']> {
    return this.counters.latencyWindow();
  }

  async ended(): Promise<void> {
    // Shutdown opens the gate: a loop held by pause() must see the device stopping.
    this.gate.open();
    await Promise.allSettled(this.loops);
  }

  /** Runs a socket loop; one that ends for any reason but shutdown reaches the device's `error` and stops it. */
  protected run(loop: () => Promise<void>): void {
    this.loops.push(loop().catch((err: unknown) => this.failed(err)));
  }

  /** Reads the backend until shutdown: each message decoded (inproc), counted, and given to `on`. */
  protected async readBackend(on: (frames: Buffer[]) => void): Promise<void> {
    const backend = this.ctx.sockets.backend;
    const c = this.counters;
    try {
      for (;;) {
        const received = await backend.receive();
        const frames = this.inproc.backend ? fromInproc(received) : received;
        c.back.messagesIn++;
        c.back.bytesIn += size(frames);
        on(frames);
      }
    } catch (err) {
      if (!this.expectedEnd(err)) throw err;
    }
  }

  /** On a socket shared by clients and workers: takes a worker's message (true) before it is read as a request. */
  protected divert(_frames: Buffer[]): boolean {
    return false;
  }

  protected failed(err: unknown): void {
    if (this.expectedEnd(err)) return;
    this.ctx.fail(err);
  }

  protected expectedEnd(err: unknown): boolean {
    return this.ctx.stopping() || isSocketClosedError(err);
  }

  /**
   * The next client message that passes intake, with its admission; the
   * ones that do not are counted and answered (or dropped) here. Waits while
   * paused; resolves undefined once the device is stopping.
   */
  protected async nextRequest(frontend: zmq.Router): Promise<{ frames: Buffer[]; bodyAt: number } | undefined> {
    for (;;) {
      if (this.gate.wait !== undefined) await this.gate.wait;
      if (this.ctx.stopping()) return undefined;
      const received = await frontend.receive();
      const frames = this.inproc.frontend ? fromInproc(received) : received;
      // One socket for clients and workers: a worker's message is the engine's, not a request.
      if (this.divert(frames)) continue;
      // A receive already waiting when pause() came: hold its message until resume().
      if (this.gate.wait !== undefined) await this.gate.wait;
      const c = this.counters;
      c.front.messagesIn++;
      c.front.bytesIn += size(frames);
      this.ctx.tap?.publish(TAP_IN, frames);
      const a: Admission = admit(frames, this.rules);
      if (a.ok) {
        this.ctx.hooks.onRequest?.();
        return { frames, bodyAt: a.bodyAt };
      }
      if (a.kind === 'malformed') c.malformed++;
      else c.reject(frames, a.kind, a.message);
    }
  }
}

/** The backend writer's options for a side's link (the inproc codec where it applies). */
export function backendEncoding(inproc: boolean): { encode?: typeof toInproc } {
  return inproc ? { encode: toInproc } : {};
}
