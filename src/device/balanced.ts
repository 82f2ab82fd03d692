/**
 * The balanced engine: least-busy over a ROUTER backend, the zguide's
 * load-balancing broker. Workers announce READY with their credits; each
 * admitted request goes to the worker with the lowest share of its credits
 * in use, or waits in the fair queue (per client, served in turn) when none
 * has room. Requests to a version-2 worker go in one batch per turn of the
 * event loop. Heartbeats find dead workers; their requests are retried once
 * (or fail); a request held past the handler timeout is answered `timeout`
 * and its worker retired.
 *
 * Workers speak one of three protocols, told apart by their first message:
 * zqueue's own (protocol.ts), Paranoid Pirate (RFC 6) and Majordomo (RFC 7).
 * Majordomo workers register a service; requests are routed by service name,
 * least-busy within it (src/services.ts). A Majordomo client names the
 * service in its request; a plain request goes to `plainService` ('' : the
 * pool of zqueue's and Paranoid Pirate workers). MMI (RFC 8) answers
 * `mmi.service`. With the same endpoint on both sides, one ROUTER serves
 * clients and workers alike, as Majordomo brokers do.
 */
import { performance } from 'node:perf_hooks';
import {
  BYE,
  DISCONNECT,
  EMPTY,
  HEARTBEAT,
  MDP,
  MDP_CLIENT,
  MDP_WORKER,
  PPP_HEARTBEAT,
  PPP_READY,
  READY,
  REPLIES,
  REQUESTS,
  appendBatch,
  delimiterIndex,
  displayId,
  parseBatch,
  type BatchItem,
  type ErrorKind,
} from '../protocol.js';
import { Balancer, type Held, type Pending, type Worker } from '../balancer.js';
import { ServicePools } from '../services.js';
import { Writer, size } from '../writer.js';
import type { CountedStats, WorkerStats } from './counters.js';
import { CountingEngine, backendEncoding } from './counting.js';
import type { Engine, EngineContext } from './engine.js';

export class BalancedEngine extends CountingEngine implements Engine<CountedStats> {
  readonly kind = 'balanced';
  private readonly pools: ServicePools;
  private readonly backWriter: Writer;
  /** Requests given to each version-2 worker this turn, sent as one batch when the turn ends (see flush). */
  private outboxes = new Map<string, { worker: Worker; items: BatchItem[] }>();
  private flushing: NodeJS.Immediate | undefined;
  private sweep: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastBeat = 0;
  private readonly fifo: boolean;
  /** One ROUTER for clients and workers (frontend and backend the same endpoint). */
  private readonly shared: boolean;

  constructor(ctx: EngineContext) {
    super(ctx);
    const o = ctx.options;
    this.fifo = o.queueOrder === 'fifo';
    // fifo has no per-client share: the one queue is everyone's.
    this.pools = new ServicePools(() => new Balancer(o.maxQueued, o.prefetch, this.fifo ? o.maxQueued : o.maxQueuedPerClient));
    this.shared = ctx.sockets.shared;
    this.backWriter = this.shared ? this.frontWriter : new Writer(ctx.sockets.backend, (err) => this.failed(err), { immediate: true, ...backendEncoding(this.inproc.backend) });
  }

  get inFlight(): number {
    return this.pools.inFlight;
  }

  get workerCount(): number {
    return this.pools.size;
  }

  start(): void {
    const o = this.ctx.options;
    this.run(() => this.frontLoop());
    if (!this.shared) this.run(() => this.backLoop());
    // The sweep also expires requests for a service that no worker offers.
    const every = Math.max(10, Math.min(250, Math.floor((o.handlerTimeoutMs > 0 ? Math.min(o.handlerTimeoutMs, o.serviceWaitMs) : o.serviceWaitMs) / 4)));
    this.sweep = setInterval(() => this.guard(() => this.expire()), every);
    if (o.heartbeatIntervalMs > 0) this.heartbeat = setInterval(() => this.guard(() => this.beat()), Math.max(5, Math.floor(o.heartbeatIntervalMs / 4)));
  }

  stopIntake(): void {
    for (const p of this.pools.drainQueue()) this.reject(p, 'closing', 'the device is shutting down');
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
    for (const w of this.pools.workers()) {
      const state = w.retired ? 'retired' : w.inFlight < w.credits ? 'ready' : 'full';
      workers.push({ id: displayId(w.id), state, credits: w.credits, inFlight: w.inFlight, served: w.served, service: this.pools.service(w.key) ?? '', protocol: w.protocol });
    }
    return {
      ...this.counters.snapshot({ inFlight: this.inFlight, queued: this.pools.queued, queue: this.pools.queueStats(), workers }),
      services: this.pools.stats(),
    };
  }

  /**
   * A worker is gone (its thread died, it said BYE, or it was silent): the
   * requests it held are retried once on another worker, or answered.
   */
  workerLeft(key: string): void {
    // Not sent yet: they are among the orphans, and must not reach whoever takes over its routing id.
    this.outboxes.delete(key);
    const pool = this.pools.of(key);
    const orphans = this.pools.leave(key);
    this.ctx.events.workerLeft(key, orphans.length);
    for (const h of orphans) this.orphaned(h);
    if (pool !== undefined) this.dispatchQueued(pool);
  }

  /** A timer's work: a failure in it is a failure of the engine, reported, not thrown into the event loop. */
  private guard(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.failed(err);
    }
  }

  /** On a shared socket, a worker's message: zqueue control (an empty frame first, then a known verb), Majordomo (MDPW01) or Paranoid Pirate (one frame). */
  protected override divert(frames: Buffer[]): boolean {
    if (!this.shared) return false;
    const second = frames[1];
    if (second === undefined) return false;
    const third = frames[2];
    const worker = second.length === 0 && third !== undefined && (third.equals(MDP_WORKER) || third.equals(READY) || third.equals(HEARTBEAT) || third.equals(BYE) || third.equals(REPLIES));
    const known = this.pools.worker((frames[0] as Buffer).toString('latin1')) !== undefined;
    if (!worker && !(frames.length === 2 && second.length === 1) && !(known && second.length !== 0)) return false;
    this.counters.back.messagesIn++;
    this.counters.back.bytesIn += size(frames);
    this.onWorkerMessage(frames);
    return true;
  }

  private async frontLoop(): Promise<void> {
    const frontend = this.ctx.sockets.frontend;
    try {
      for (;;) {
        const next = await this.nextRequest(frontend);
        if (next === undefined) return;
        const body0 = next.frames[next.bodyAt];
        if (body0 !== undefined && body0.length === MDP_CLIENT.length && body0.equals(MDP_CLIENT)) this.onMajordomoRequest(next.frames, next.bodyAt);
        else this.admitted({ frames: next.frames, bodyAt: next.bodyAt, retried: false, receivedAt: performance.now(), service: this.ctx.options.plainService, mdp: false });
      }
    } catch (err) {
      if (!this.expectedEnd(err)) throw err;
    }
  }

  /**
   * A Majordomo client's request, `[envelope..., "MDPC01", service, body...]`:
   * MMI (RFC 8) is answered here; any other service's goes to its pool, body
   * only, its reply wrapped back.
   */
  private onMajordomoRequest(frames: Buffer[], bodyAt: number): void {
    const serviceFrame = frames[bodyAt + 1];
    if (serviceFrame === undefined) {
      this.counters.malformed++;
      return;
    }
    const service = serviceFrame.toString();
    const envelope = frames.slice(0, bodyAt);
    if (service.startsWith('mmi.')) {
      const asked = frames[bodyAt + 2]?.toString() ?? '';
      const code = service === 'mmi.service' ? (this.pools.offered(asked) ? '200' : '404') : '501';
      this.counters.control++;
      this.counters.toClient([...envelope, MDP_CLIENT, serviceFrame, Buffer.from(code)]);
      return;
    }
    // The request as the workers see it: the envelope, then the body without the MDP header.
    const request = [...envelope, ...frames.slice(bodyAt + 2)];
    this.admitted({ frames: request, bodyAt, retried: false, receivedAt: performance.now(), service, mdp: true });
  }

  /** An admitted request: to a worker of its service at once when nothing waits, else into that service's fair queue. */
  private admitted(pending: Pending): void {
    const pool = this.pools.pool(pending.service ?? '');
    // Straight to a worker only when nothing waits: an arrival never overtakes the queue.
    const worker = pool.queued === 0 ? pool.pick() : undefined;
    if (worker !== undefined) {
      this.sendToWorker(pool.dispatch(worker, pending, pending.receivedAt));
      return;
    }
    // fifo: every request under one key, one queue in arrival order.
    const client = this.fifo ? '' : (pending.frames[0] as Buffer).toString('latin1');
    const queued = pool.enqueue(client, pending);
    if (queued === 'full') this.reject(pending, 'busy', `the device's queue is full (maxQueued ${this.ctx.options.maxQueued})`);
    else if (queued === 'client-full') {
      this.counters.busyPerClient++;
      this.reject(pending, 'busy', `this client has ${this.ctx.options.maxQueuedPerClient} requests waiting (maxQueuedPerClient)`);
    }
  }

  /**
   * An error reply to a request, wrapped as Majordomo when it came as
   * Majordomo: `["MDPC01", service, "ZQ-ERROR <kind>: <message>"]` (MDP 0.1 has
   * no error frame; the README says what such a client sees).
   */
  private reject(p: Pending, kind: ErrorKind, message: string): void {
    const envelope = p.frames.slice(0, p.bodyAt);
    this.counters.answerError(p.mdp === true ? [...envelope, MDP_CLIENT, Buffer.from(p.service ?? '')] : envelope, kind, message);
  }

  private backLoop(): Promise<void> {
    return this.readBackend((frames) => this.onWorkerMessage(frames));
  }

  private onWorkerMessage(frames: Buffer[]): void {
    const workerId = frames[0];
    const second = frames[1];
    if (workerId === undefined || second === undefined) return;
    const key = workerId.toString('latin1');
    const now = performance.now();
    const known = this.pools.seen(key, now);
    const protocol = known ? this.pools.worker(key)?.protocol : undefined;
    const third = frames[2];
    if (second.length === 0 && third !== undefined && third.length === MDP_WORKER.length && third.equals(MDP_WORKER)) this.onMajordomo(workerId, key, known, frames, now);
    else if (protocol === 'ppp' || (frames.length === 2 && second.length === 1)) this.onPirate(workerId, key, known, frames, now);
    else if (second.length === 0) {
      if (frames[2]?.equals(REPLIES) === true) this.onReplies(workerId, key, known, frames, now);
      else this.onControl(workerId, key, frames);
    } else if (second.length === 4) {
      // A reply from a worker the device does not know (declared dead, or
      // from before a restart): it must reconnect and announce itself.
      if (!known) this.toWorker(workerId, DISCONNECT);
      // [id, envelope echoed..., "", body...]: the body goes back along the envelope the request came with.
      const held = this.pools.complete(key, second.readUInt32BE(0), now);
      const d = delimiterIndex(frames, 2);
      if (held !== undefined && d >= 0) this.replied(held, frames, d + 1, now);
      else if (held !== undefined) {
        // A reply without its envelope: the client still gets an answer.
        this.counters.malformed++;
        this.reject(held, 'bad-request', 'the server\'s reply had no envelope');
      }
      this.dispatchFor(key);
      this.ctx.settled();
    }
  }

  /** A worker's reply to `held`: its body is `frames[from..to)`; it goes back along the request's envelope (wrapped as Majordomo if it came so). */
  private replied(held: Held, frames: readonly Buffer[], from: number, now: number, to = frames.length): void {
    const reply = held.frames.slice(0, held.bodyAt);
    if (held.mdp === true) reply.push(MDP_CLIENT, Buffer.from(held.service ?? ''));
    for (let i = from; i < to; i++) reply.push(frames[i] as Buffer);
    this.counters.replied(reply, held.receivedAt, now);
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
      const held = this.pools.complete(key, e.id, now);
      if (held === undefined) continue;
      this.replied(held, frames, e.start, now, e.end);
    }
    this.dispatchFor(key);
    this.ctx.settled();
  }

  private onControl(workerId: Buffer, key: string, frames: Buffer[]): void {
    this.counters.control++;
    const verb = frames[2];
    if (verb === undefined) return;
    if (verb.equals(HEARTBEAT)) {
      if (!this.pools.heartbeating(key)) this.toWorker(workerId, DISCONNECT);
    } else if (verb.equals(READY)) {
      const credits = Number(frames[3]?.toString() ?? '1');
      // READY's optional 4th frame: the worker heartbeats, so its silence will mean it is gone;
      // its optional 5th: the worker protocol version, 2 and above take batches.
      const heartbeats = Number(frames[4]?.toString() ?? '0') > 0 && this.ctx.options.heartbeatIntervalMs > 0;
      const joining = { credits: Number.isInteger(credits) && credits > 0 ? credits : 1, heartbeats, batches: Number(frames[5]?.toString() ?? '1') >= 2 };
      this.joined('', workerId, joining, now());
      // A heartbeat back at once tells the worker that this device heartbeats too.
      if (heartbeats) this.toWorker(workerId, HEARTBEAT);
    } else if (verb.equals(BYE)) {
      this.workerLeft(key);
    } else {
      this.counters.malformed++;
    }
  }

  /** A worker (re)joins a service's pool; requests it held in another are rehomed. */
  private joined(service: string, workerId: Buffer, joining: Parameters<ServicePools['join']>[2], at: number): void {
    const { worker, orphans } = this.pools.join(service, workerId, joining, at);
    for (const h of orphans) this.orphaned(h);
    this.ctx.events.worker(this.pools.size, worker.key);
    this.dispatchQueued(this.pools.pool(service));
  }

  /**
   * A message from a Paranoid Pirate worker (RFC 6): READY (`0x01`: it joins
   * with one credit, or rejoins), HEARTBEAT (`0x02`), or the reply to the one
   * request it holds, `[address..., "", body...]`, whose address stack must be
   * the one its request carried (a REP-like worker sends it back as it came):
   * anything else is not that request's reply, and is counted malformed and
   * dropped, the request still held (answered, retried or timed out later).
   */
  private onPirate(workerId: Buffer, key: string, known: boolean, frames: Buffer[], now: number): void {
    const c = this.counters;
    const body = frames.slice(1);
    if (body.length === 1) {
      c.control++;
      const verb = body[0] as Buffer;
      if (verb.equals(PPP_READY)) {
        // Its own READY again after a reconnect: whatever it held is lost with its old connection.
        if (known && this.pools.heldBy(key) !== undefined) this.workerLeft(key);
        const heartbeats = this.ctx.options.heartbeatIntervalMs > 0;
        this.joined('', workerId, { credits: 1, heartbeats, batches: false, protocol: 'ppp' }, now);
        if (heartbeats) this.toPirate(workerId);
      } else if (verb.equals(PPP_HEARTBEAT)) {
        // An unknown worker's heartbeat gets no answer: RFC 6 has no DISCONNECT, so it notices the silence and says READY again.
        if (known) this.pools.heartbeating(key);
      } else {
        c.malformed++;
      }
      return;
    }
    const d = delimiterIndex(body, 0);
    const request = this.pools.heldRequest(key);
    if (d < 0 || request === undefined || !sameEnvelope(body, d, request.frames, request.bodyAt)) {
      // No envelope, a reply from a worker that holds no request (late, or made up), or one for another request: nowhere to send it.
      c.malformed++;
      return;
    }
    const held = this.pools.complete(key, request.id, now);
    if (held !== undefined) this.replied(held, body, d + 1, now);
    this.dispatchFor(key);
    this.ctx.settled();
  }

  /**
   * A Majordomo worker's command (RFC 7): READY with its service (mmi.* is
   * refused), REPLY with the one client address frame the device gave its
   * request (the request's id) and the body, HEARTBEAT, DISCONNECT. A valid
   * but unexpected command (READY twice, REPLY from an unknown worker) gets
   * DISCONNECT, as RFC 7 says; an invalid one is counted and dropped.
   */
  private onMajordomo(workerId: Buffer, key: string, known: boolean, frames: Buffer[], now: number): void {
    const c = this.counters;
    const command = frames[3];
    if (command === undefined || command.length !== 1) {
      c.malformed++;
      return;
    }
    if (command.equals(MDP.READY)) {
      c.control++;
      const service = frames[4]?.toString();
      if (known || service === undefined || service === '' || service.startsWith('mmi.')) {
        if (service === undefined || service === '') c.malformed++;
        if (known) this.workerLeft(key);
        this.toMajordomo(workerId, MDP.DISCONNECT);
        return;
      }
      const heartbeats = this.ctx.options.heartbeatIntervalMs > 0;
      this.joined(service, workerId, { credits: 1, heartbeats, batches: false, protocol: 'mdp' }, now);
    } else if (command.equals(MDP.REPLY)) {
      const address = frames[4];
      if (!known) {
        this.toMajordomo(workerId, MDP.DISCONNECT);
        return;
      }
      if (address === undefined || address.length !== 4 || frames[5]?.length !== 0) {
        c.malformed++;
        return;
      }
      const held = this.pools.complete(key, address.readUInt32BE(0), now);
      if (held !== undefined) this.replied(held, frames, 6, now);
      else c.malformed++;
      this.dispatchFor(key);
      this.ctx.settled();
    } else if (command.equals(MDP.HEARTBEAT)) {
      c.control++;
      if (!this.pools.heartbeating(key)) this.toMajordomo(workerId, MDP.DISCONNECT);
    } else if (command.equals(MDP.DISCONNECT)) {
      c.control++;
      if (known) this.workerLeft(key);
    } else {
      c.malformed++;
      if (known) {
        this.workerLeft(key);
        this.toMajordomo(workerId, MDP.DISCONNECT);
      }
    }
  }

  /** A Paranoid Pirate heartbeat to a worker. */
  private toPirate(workerId: Buffer): void {
    this.counters.back.messagesOut++;
    this.counters.back.bytesOut += 1;
    void this.backWriter.send([workerId, PPP_HEARTBEAT]);
  }

  /** A Majordomo command without a body (HEARTBEAT, DISCONNECT) to a worker. */
  private toMajordomo(workerId: Buffer, command: Buffer): void {
    this.counters.back.messagesOut++;
    this.counters.back.bytesOut += MDP_WORKER.length + 1;
    void this.backWriter.send([workerId, EMPTY, MDP_WORKER, command]);
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
    for (const w of this.pools.silentSince(now - 3 * period)) {
      this.counters.workersLost++;
      this.ctx.events.workerLost(w.key);
      this.workerLeft(w.key);
    }
    if (now - this.lastBeat < period) return;
    this.lastBeat = now;
    for (const w of this.pools.workers()) {
      if (!w.heartbeats) continue;
      if (w.protocol === 'ppp') this.toPirate(w.id);
      else if (w.protocol === 'mdp') this.toMajordomo(w.id, MDP.HEARTBEAT);
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
    if (w.protocol === 'mdp') {
      // RFC 7: exactly one client address frame: the request's id, which the reply brings back.
      void this.backWriter.send([w.id, EMPTY, MDP_WORKER, MDP.REQUEST, id, EMPTY, ...h.frames.slice(h.bodyAt)]);
      return;
    }
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

  /** After a worker's reply: its pool's queue may go on. */
  private dispatchFor(key: string): void {
    const pool = this.pools.of(key);
    if (pool !== undefined) this.dispatchQueued(pool);
  }

  private dispatchQueued(pool: Balancer): void {
    while (pool.queued > 0) {
      const worker = pool.pick();
      if (worker === undefined) return;
      const p = pool.dequeue();
      if (p === undefined) return;
      this.sendToWorker(pool.dispatch(worker, p, performance.now()));
    }
  }

  private orphaned(h: Held): void {
    const c = this.counters;
    c.orphaned++;
    if (this.ctx.stopping()) {
      this.reject(h, 'closing', 'the device is shutting down');
    } else if (this.ctx.options.onWorkerDeath === 'retry' && !h.retried) {
      c.retried++;
      const pool = this.pools.pool(h.service ?? '');
      pool.requeue({ frames: h.frames, bodyAt: h.bodyAt, retried: true, receivedAt: h.receivedAt, service: h.service ?? '', mdp: h.mdp === true });
      this.dispatchQueued(pool);
    } else {
      this.reject(h, 'worker-died', 'the server handling this request died');
    }
  }

  private expire(): void {
    const o = this.ctx.options;
    const now = performance.now();
    if (o.handlerTimeoutMs > 0) {
      const expired = this.pools.expire(now - o.handlerTimeoutMs);
      for (const h of expired) {
        this.reject(h, 'timeout', `no reply from the server within ${o.handlerTimeoutMs} ms`);
        if (this.pools.retire(h.worker.key)) this.ctx.events.workerTimeout(h.worker.key);
      }
      if (expired.length > 0) this.ctx.settled();
    }
    // Requests for a service that no worker offers wait serviceWaitMs, then fail (MDP 0.1 has no error frame: see the README).
    for (const [service, pool] of this.pools.entries()) {
      if (pool.size > 0 || pool.queued === 0) continue;
      for (const p of pool.expireQueued(now - o.serviceWaitMs)) this.reject(p, 'timeout', `no worker offers service "${service}" (waited ${o.serviceWaitMs} ms)`);
    }
  }
}

const now = (): number => performance.now();

/** Whether `reply`'s address stack (frames before its delimiter at `d`) is the request's (its frames before the delimiter at `bodyAt - 1`). */
function sameEnvelope(reply: readonly Buffer[], d: number, request: readonly Buffer[], bodyAt: number): boolean {
  if (d !== bodyAt - 1) return false;
  for (let i = 0; i < d; i++) if (!(reply[i] as Buffer).equals(request[i] as Buffer)) return false;
  return true;
}
