/**
 * The balanced engine: least-busy over a ROUTER backend, the zguide's
 * load-balancing broker. Workers announce READY with their credits; each
 * admitted request goes to the worker with the lowest share of its credits
 * in use, or waits in the fair queue (per client, served in turn) when none
 * has room. Requests to a version-2 worker go in one batch per turn of the
 * event loop. Heartbeats find dead workers; their requests are retried once
 * (or fail); a request held past the handler timeout is answered `timeout`
 * and its worker retired.
 */
import { performance } from 'node:perf_hooks';
import type * as zmq from 'zeromq';
import { BYE, DISCONNECT, EMPTY, HEARTBEAT, PPP_HEARTBEAT, PPP_READY, READY, REPLIES, REQUESTS, appendBatch, delimiterIndex, displayId, parseBatch, type BatchItem } from '../protocol.js';
import { Balancer, type Held, type Pending, type Worker } from '../balancer.js';
import { Writer, size } from '../writer.js';
import type { CountedStats, WorkerStats } from './counters.js';
import { CountingEngine, backendEncoding, fromInproc } from './counting.js';
import type { Engine, EngineContext } from './engine.js';

export class BalancedEngine extends CountingEngine implements Engine<CountedStats> {
  readonly kind = 'balanced';
  private readonly balancer: Balancer;
  private readonly backWriter: Writer;
  /** Requests given to each version-2 worker this turn, sent as one batch when the turn ends (see flush). */
  private outboxes = new Map<string, { worker: Worker; items: BatchItem[] }>();
  private flushing: NodeJS.Immediate | undefined;
  private sweep: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastBeat = 0;
  private readonly fifo: boolean;

  constructor(ctx: EngineContext) {
    super(ctx);
    const o = ctx.options;
    this.fifo = o.queueOrder === 'fifo';
    // fifo has no per-client share: the one queue is everyone's.
    this.balancer = new Balancer(o.maxQueued, o.prefetch, this.fifo ? o.maxQueued : o.maxQueuedPerClient);
    this.backWriter = new Writer(ctx.sockets.backend, (err) => this.failed(err), { immediate: true, ...backendEncoding(this.inproc.backend) });
  }

  get inFlight(): number {
    return this.balancer.inFlight;
  }

  get workerCount(): number {
    return this.balancer.size;
  }

  start(): void {
    const o = this.ctx.options;
    this.run(() => this.frontLoop());
    this.run(() => this.backLoop());
    if (o.handlerTimeoutMs > 0) {
      const every = Math.max(10, Math.min(250, Math.floor(o.handlerTimeoutMs / 4)));
      this.sweep = setInterval(() => this.guard(() => this.expire()), every);
    }
    if (o.heartbeatIntervalMs > 0) this.heartbeat = setInterval(() => this.guard(() => this.beat()), Math.max(5, Math.floor(o.heartbeatIntervalMs / 4)));
  }

  stopIntake(): void {
    for (const p of this.balancer.drainQueue()) this.counters.reject(p.frames, 'closing', 'the device is shutting down');
  }

  stop(): Promise<void> {
    clearInterval(this.sweep);
    clearInterval(this.heartbeat);
    // Whatever a batch still holds was answered with `closing` or its wait timed out.
    clearImmediate(this.flushing);
    this.flushing = undefined;
    this.outboxes.clear();
    return Promise.resolve();
  }

  stats(): CountedStats {
    const workers: WorkerStats[] = [];
    for (const w of this.balancer.workers()) {
      const state = w.retired ? 'retired' : w.inFlight < w.credits ? 'ready' : 'full';
      workers.push({ id: displayId(w.id), state, credits: w.credits, inFlight: w.inFlight, served: w.served });
    }
    return this.counters.snapshot({ inFlight: this.inFlight, queued: this.balancer.queued, queue: this.balancer.queueStats(), workers });
  }

  /**
   * A worker is gone (its thread died, it said BYE, or it was silent): the
   * requests it held are retried once on another worker, or answered.
   */
  workerLeft(key: string): void {
    // Not sent yet: they are among the orphans, and must not reach whoever takes over its routing id.
    this.outboxes.delete(key);
    const orphans = this.balancer.leave(key);
    this.ctx.events.workerLeft(key, orphans.length);
    for (const h of orphans) this.orphaned(h);
    this.dispatchQueued();
  }

  /** A timer's work: a failure in it is a failure of the engine, reported, not thrown into the event loop. */
  private guard(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.failed(err);
    }
  }

  private async frontLoop(): Promise<void> {
    const frontend = this.ctx.sockets.frontend;
    try {
      for (;;) {
        const next = await this.nextRequest(frontend);
        if (next === undefined) return;
        const pending: Pending = { frames: next.frames, bodyAt: next.bodyAt, retried: false, receivedAt: performance.now() };
        // Straight to a worker only when nothing waits: an arrival never overtakes the queue.
        const worker = this.balancer.queued === 0 ? this.balancer.pick() : undefined;
        if (worker !== undefined) {
          this.sendToWorker(this.balancer.dispatch(worker, pending, pending.receivedAt));
          continue;
        }
        // fifo: every request under one key, one queue in arrival order.
        const client = this.fifo ? '' : (next.frames[0] as Buffer).toString('latin1');
        const queued = this.balancer.enqueue(client, pending);
        if (queued === 'full') this.counters.reject(next.frames, 'busy', `the device's queue is full (maxQueued ${this.ctx.options.maxQueued})`);
        else if (queued === 'client-full') {
          this.counters.busyPerClient++;
          this.counters.reject(next.frames, 'busy', `this client has ${this.ctx.options.maxQueuedPerClient} requests waiting (maxQueuedPerClient)`);
        }
      }
    } catch (err) {
      if (!this.expectedEnd(err)) throw err;
    }
  }

  private async backLoop(): Promise<void> {
    const backend = this.ctx.sockets.backend as zmq.Router;
    const c = this.counters;
    try {
      for (;;) {
        const received = await backend.receive();
        const frames = this.inproc.backend ? fromInproc(received) : received;
        c.back.messagesIn++;
        c.back.bytesIn += size(frames);
        const workerId = frames[0];
        const second = frames[1];
        if (workerId === undefined || second === undefined) continue;
        const key = workerId.toString('latin1');
        const now = performance.now();
        const known = this.balancer.seen(key, now);
        if (this.balancer.worker(key)?.protocol === 'ppp' || (frames.length === 2 && second.length === 1)) {
          this.onPirate(workerId, key, known, frames, now);
        } else if (second.length === 0) {
          if (frames[2]?.equals(REPLIES) === true) this.onReplies(workerId, key, known, frames, now);
          else this.onControl(workerId, key, frames);
        } else if (second.length === 4) {
          // A reply from a worker the device does not know (declared dead, or
          // from before a restart): it must reconnect and announce itself.
          if (!known) this.toWorker(workerId, DISCONNECT);
          const held = this.balancer.complete(key, second.readUInt32BE(0), now);
          if (held !== undefined) c.replied(frames.slice(2), held.receivedAt, now);
          this.dispatchQueued();
          this.ctx.settled();
        }
      }
    } catch (err) {
      if (!this.expectedEnd(err)) throw err;
    }
  }

  /** A batch of replies from a version-2 worker: each goes back along the envelope its request came with. */
  private onReplies(workerId: Buffer, key: string, known: boolean, frames: Buffer[], now: number): void {
    const entries = parseBatch(frames, 3);
    if (entries === undefined) {
      // Not from a zqueue worker that works: its requests time out, or are retried when it goes.
      this.counters.malformed++;
      return;
    }
    // Counted per reply, as for version-1 workers: the message itself was counted once.
    this.counters.back.messagesIn += entries.length - 1;
    if (!known) this.toWorker(workerId, DISCONNECT);
    for (const e of entries) {
      const held = this.balancer.complete(key, e.id, now);
      if (held === undefined) continue;
      const reply = held.frames.slice(0, held.bodyAt);
      for (let i = e.start; i < e.end; i++) reply.push(frames[i] as Buffer);
      this.counters.replied(reply, held.receivedAt, now);
    }
    this.dispatchQueued();
    this.ctx.settled();
  }

  private onControl(workerId: Buffer, key: string, frames: Buffer[]): void {
    this.counters.control++;
    const verb = frames[2];
    if (verb === undefined) return;
    if (verb.equals(HEARTBEAT)) {
      if (!this.balancer.heartbeating(key)) this.toWorker(workerId, DISCONNECT);
    } else if (verb.equals(READY)) {
      const credits = Number(frames[3]?.toString() ?? '1');
      // READY's optional 4th frame: the worker heartbeats, so its silence will mean it is gone;
      // its optional 5th: the worker protocol version, 2 and above take batches.
      const heartbeats = Number(frames[4]?.toString() ?? '0') > 0 && this.ctx.options.heartbeatIntervalMs > 0;
      const worker = this.balancer.join(
        workerId,
        { credits: Number.isInteger(credits) && credits > 0 ? credits : 1, heartbeats, batches: Number(frames[5]?.toString() ?? '1') >= 2 },
        performance.now(),
      );
      // A heartbeat back at once tells the worker that this device heartbeats too.
      if (heartbeats) this.toWorker(workerId, HEARTBEAT);
      this.ctx.events.worker(this.balancer.size, worker.key);
      this.dispatchQueued();
    } else if (verb.equals(BYE)) {
      this.workerLeft(key);
    }
  }

  /**
   * A message from a Paranoid Pirate worker (RFC 6): READY (`0x01`: it joins
   * with one credit, or rejoins), HEARTBEAT (`0x02`), or the reply to the one
   * request it holds, `[address..., "", body...]`. The reply goes back along
   * the envelope the request came with, whatever address the worker sent.
   */
  private onPirate(workerId: Buffer, key: string, known: boolean, frames: Buffer[], now: number): void {
    const c = this.counters;
    const body = frames.slice(1);
    if (body.length === 1) {
      c.control++;
      const verb = body[0] as Buffer;
      if (verb.equals(PPP_READY)) {
        // Its own READY again after a reconnect: whatever it held is lost with its old connection.
        if (known && this.balancer.heldBy(key) !== undefined) this.workerLeft(key);
        const heartbeats = this.ctx.options.heartbeatIntervalMs > 0;
        const worker = this.balancer.join(workerId, { credits: 1, heartbeats, batches: false, protocol: 'ppp' }, now);
        if (heartbeats) this.toPirate(workerId);
        this.ctx.events.worker(this.balancer.size, worker.key);
        this.dispatchQueued();
      } else if (verb.equals(PPP_HEARTBEAT)) {
        // An unknown worker's heartbeat gets no answer: RFC 6 has no DISCONNECT, so it notices the silence and says READY again.
        if (known) this.balancer.heartbeating(key);
      } else {
        c.malformed++;
      }
      return;
    }
    const d = delimiterIndex(body, 0);
    const id = this.balancer.heldBy(key);
    if (d < 0 || id === undefined) {
      // No envelope, or a reply from a worker that holds no request (late, or made up): nowhere to send it.
      c.malformed++;
      return;
    }
    const held = this.balancer.complete(key, id, now);
    if (held !== undefined) {
      const reply = held.frames.slice(0, held.bodyAt);
      for (let i = d + 1; i < body.length; i++) reply.push(body[i] as Buffer);
      c.replied(reply, held.receivedAt, now);
    }
    this.dispatchQueued();
    this.ctx.settled();
  }

  /** A Paranoid Pirate heartbeat to a worker. */
  private toPirate(workerId: Buffer): void {
    this.counters.back.messagesOut++;
    this.counters.back.bytesOut += 1;
    void this.backWriter.send([workerId, PPP_HEARTBEAT]);
  }

  /** Sends a control message (HEARTBEAT, DISCONNECT) to a worker. */
  private toWorker(workerId: Buffer, verb: Buffer): void {
    this.counters.back.messagesOut++;
    this.counters.back.bytesOut += verb.length;
    void this.backWriter.send([workerId, EMPTY, verb]);
  }

  /**
   * Every quarter period: declares dead the workers that heartbeat and have
   * been silent for 3 periods (their requests are retried or answered), and
   * once a period sends the others a heartbeat.
   */
  private beat(): void {
    const period = this.ctx.options.heartbeatIntervalMs;
    const now = performance.now();
    for (const w of this.balancer.silentSince(now - 3 * period)) {
      this.counters.workersLost++;
      this.ctx.events.workerLost(w.key);
      this.workerLeft(w.key);
    }
    if (now - this.lastBeat < period) return;
    this.lastBeat = now;
    for (const w of this.balancer.workers()) {
      if (!w.heartbeats) continue;
      if (w.protocol === 'ppp') this.toPirate(w.id);
      else this.toWorker(w.id, HEARTBEAT);
    }
  }

  /**
   * Gives a request to its worker: a version-2 worker's goes into its batch,
   * sent when this turn of the event loop ends (see flush); a version-1
   * worker's goes at once, as `[id, envelope..., body...]`.
   */
  private sendToWorker(h: Held): void {
    this.counters.back.messagesOut++;
    this.counters.back.bytesOut += size(h.frames);
    const w = h.worker;
    if (w.batches) {
      let box = this.outboxes.get(w.key);
      if (box === undefined) {
        box = { worker: w, items: [] };
        this.outboxes.set(w.key, box);
        this.flushing ??= setImmediate(this.flush);
      }
      box.items.push(h);
      return;
    }
    if (w.protocol === 'ppp') {
      // RFC 6: the request as a REP socket sees it, its address stack and all.
      void this.backWriter.send([w.id, ...h.frames]);
      return;
    }
    const id = Buffer.allocUnsafe(4);
    id.writeUInt32BE(h.id, 0);
    void this.backWriter.send([w.id, id, ...h.frames]);
  }

  /**
   * Sends each worker the batch it was given this turn: one message, one
   * native call, for all the requests that came in one read burst. Runs in
   * the same turn of the event loop as the reads (setImmediate's check phase
   * follows the poll phase), so batching adds no wait.
   */
  private readonly flush = (): void => {
    this.flushing = undefined;
    const boxes = this.outboxes;
    this.outboxes = new Map();
    for (const { worker, items } of boxes.values()) {
      const message = [worker.id, EMPTY, REQUESTS];
      appendBatch(message, items);
      void this.backWriter.send(message);
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
    const c = this.counters;
    c.orphaned++;
    if (this.ctx.stopping()) {
      c.reject(h.frames, 'closing', 'the device is shutting down');
    } else if (this.ctx.options.onWorkerDeath === 'retry' && !h.retried) {
      c.retried++;
      this.balancer.requeue({ frames: h.frames, bodyAt: h.bodyAt, retried: true, receivedAt: h.receivedAt });
    } else {
      c.reject(h.frames, 'worker-died', 'the server handling this request died');
    }
  }

  private expire(): void {
    const ms = this.ctx.options.handlerTimeoutMs;
    const expired = this.balancer.expire(performance.now() - ms);
    for (const h of expired) {
      this.counters.reject(h.frames, 'timeout', `no reply from the server within ${ms} ms`);
      if (this.balancer.retire(h.worker.key)) this.ctx.events.workerTimeout(h.worker.key);
    }
    if (expired.length > 0) this.ctx.settled();
  }
}
