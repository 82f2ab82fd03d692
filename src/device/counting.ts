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
import { Counters, type LatencyWindow } from './counters.js';
import { ClientAnswers } from './answers.js';
import { Link, fromInproc } from '../inproc.js';
import { Gate, type EngineContext } from './engine.js';

/** Client messages read in a row before the event loop serves the other sockets (see readFrontend). */
export const FRONTEND_TURN = 64;

export abstract class CountingEngine {
  protected readonly counters: Counters;
  /** Every message to a client: counted, tapped, sent. */
  protected readonly answers: ClientAnswers;
  protected readonly frontWriter: Writer;
  /** The backend's writer (the frontend's, when one socket serves both). */
  protected readonly backWriter: Writer;
  protected readonly gate = new Gate();
  private readonly loops: Promise<void>[] = [];
  /** Each side's socket with its link's encoding (src/inproc.ts). */
  protected readonly front: Link<zmq.Router>;
  protected readonly back: Link<zmq.Router | zmq.Dealer>;
  /** One ROUTER for clients and workers (frontend and backend the same endpoint). */
  protected readonly shared: boolean;

  private readonly rules: AdmitRules;

  constructor(protected readonly ctx: EngineContext) {
    const s = ctx.sockets;
    this.shared = s.shared;
    this.front = new Link(s.frontend, s.endpoint('frontend'));
    this.back = new Link(s.backend, s.endpoint('backend'));
    this.frontWriter = new Writer(
      s.frontend,
      (err) => {
        const code = zmqCode(err);
        if (code === 'EHOSTUNREACH') this.counters.dropped.unroutable++;
        else if (code === 'EAGAIN') this.counters.dropped.full++;
        else this.failed(err);
      },
      { immediate: true, encode: this.front.encode },
    );
    // The relay's DEALER backend may wait to send (its sendTimeout is not 0); a ROUTER never does.
    this.backWriter = this.shared
      ? this.frontWriter
      : new Writer(s.backend, (err) => this.failed(err), { immediate: s.backend instanceof zmq.Router, encode: this.back.encode });
    this.counters = new Counters(ctx.options.recordLatency);
    this.answers = new ClientAnswers(this.counters, this.frontWriter, ctx.tap);
    this.rules = { maxFrames: ctx.options.maxFrames, stopping: () => ctx.stopping() };
  }

  pause(): void {
    this.gate.close();
  }

  resume(): void {
    this.gate.open();
  }

  openLatencyWindow(): LatencyWindow {
    return this.counters.openWindow();
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
    const c = this.counters;
    const socket = this.back.socket;
    const inproc = this.back.inproc;
    try {
      for (;;) {
        const received = await socket.receive();
        const frames = inproc ? fromInproc(received) : received;
        c.back.messagesIn++;
        c.back.bytesIn += size(frames);
        on(frames);
      }
    } catch (err) {
      if (!this.expectedEnd(err)) throw err;
    }
  }

  /** `[id, ""]`: a peer connected or disconnected, where the engine set ROUTER_NOTIFY (true: taken). */
  protected peerEvent(_id: Buffer): boolean {
    return false;
  }

  /** A client's batch (src/protocols/client-wire.ts), where the engine speaks the batched wire (true: taken). */
  protected takeBatch(_frames: Buffer[]): boolean {
    return false;
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
   * Reads the frontend until shutdown, and gives `on` each client message that
   * passes intake, with where its body starts; the ones that do not are
   * counted and answered (or dropped) here: while the device drains, with
   * `closing`. Waits while paused. One promise
   * a message (the socket's): `on` runs synchronously, and is awaited only
   * when it returns a promise (the relay's send, for back-pressure).
   */
  protected async readFrontend(on: (frames: Buffer[], bodyAt: number) => Promise<void> | undefined): Promise<void> {
    const socket = this.front.socket;
    const inproc = this.front.inproc;
    try {
      // Draining, it goes on reading until the socket closes: intake answers each request `closing`,
      // so that a client fails over at once instead of waiting out its timeout.
      let run = 0;
      for (;;) {
        if (this.gate.wait !== undefined) await this.gate.wait;
        // zeromq.js resolves up to 512 receives in a row while messages wait; a burst (a client sending
        // thousands at once, each answered busy) would keep the event loop from the backend's replies that
        // long. Every FRONTEND_TURN messages the loop lets the other sockets in.
        if (++run >= FRONTEND_TURN) {
          run = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        const received = await socket.receive();
        const frames = inproc ? fromInproc(received) : received;
        // One socket for clients and workers: a worker's message is the engine's, not a request.
        if (this.divert(frames)) continue;
        // A peer's connection began or ended (ROUTER_NOTIFY, where the engine asked for it).
        if (frames.length === 2 && (frames[1] as Buffer).length === 0 && this.peerEvent(frames[0] as Buffer)) continue;
        // A receive already waiting when pause() came: hold its message until resume().
        if (this.gate.wait !== undefined) await this.gate.wait;
        const bodyAt = this.intake(frames);
        if (bodyAt < 0) continue;
        const sent = on(frames, bodyAt);
        if (sent !== undefined) await sent;
      }
    } catch (err) {
      if (!this.expectedEnd(err)) throw err;
    }
  }

  /**
   * Counts and taps a client's message, and applies the intake rules: where its body starts, or -1 when it was taken, answered or dropped
   * here.
   */
  private intake(frames: Buffer[]): number {
    const c = this.counters;
    c.front.messagesIn++;
    c.front.bytesIn += size(frames);
    this.ctx.tap?.publish(TAP_IN, frames);
    // A batch on the batched client wire: its requests are the engine's to admit, one by one.
    if (this.takeBatch(frames)) return -1;
    const a: Admission = admit(frames, this.rules);
    if (a.ok) {
      c.requests++;
      this.ctx.hooks.onRequest?.();
      return a.bodyAt;
    }
    if (a.kind === 'malformed') c.malformed++;
    else {
      c.requests++;
      this.answers.reject(frames, a.kind, a.message);
    }
    return -1;
  }
}
