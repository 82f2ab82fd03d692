/**
 * The balanced engine: least-busy over a ROUTER backend, the zguide's
 * load-balancing broker. It only schedules: workers announce READY with
 * their credits; each admitted request goes to the worker with the lowest
 * share of its credits in use, or waits in the fair queue (per client,
 * served in turn) when none has room. Heartbeats find dead workers; their
 * requests are retried once (or fail); a request held past the handler
 * timeout is answered `timeout` and its worker retired. Under overload, the
 * overload policy (src/device/scheduling/overload.ts) says which waiting request goes next,
 * and which are dropped: those whose client left or whose deadline passed.
 *
 * What workers say, and how to say things to them, is their protocol's
 * (src/protocols/: zqueue's own, Paranoid Pirate, Majordomo), told apart by
 * their messages. Majordomo workers register a service; requests are routed
 * by service name, least-busy within it (src/device/scheduling/services.ts); a plain request
 * goes to `plainService`. With the same endpoint on both sides, one ROUTER
 * serves clients and workers alike, as Majordomo brokers do.
 */
import { performance } from 'node:perf_hooks';
import { EMPTY, budgetIn, displayId, errorFrame, requestIdIn, type ErrorKind } from '../protocol.js';
import { queueOrder, staleReason, type ShedReason } from './scheduling/overload.js';
import { Balancer, type Held, type Pending } from './scheduling/balancer.js';
import { ServicePools } from './scheduling/services.js';
import {
  codecFor,
  codecNamed,
  isWorkerMessage,
  type Joining,
  type PeerView,
  type WorkerCodec,
  type WorkerEvent,
} from '../protocols/index.js';
import { clientReplyHead, clientRequest, isClientRequest } from '../protocols/majordomo.js';
import { packedRequests, requestBatch } from '../protocols/zqueue.js';
import { FLAG_CANCEL, FLAG_RETRY, helloFrames, isBatch, offersBatches, readBatch, type BatchLimits } from '../protocols/client-wire.js';
import { ClientReplies } from './replies.js';
import { size } from '../writer.js';
import type { CountedStats, WorkerStats } from './counters.js';
import { CountingEngine } from './counting.js';
import type { Engine, EngineContext } from './engine.js';
import { Outbox } from './outbox.js';
import { Presence } from './presence.js';

/** The most requests a client batch may hold (HELLO tells clients). */
export const CLIENT_BATCH_MAX_ENTRIES = 1024;

export class BalancedEngine extends CountingEngine implements Engine<CountedStats> {
  readonly kind = 'balanced';
  private readonly pools: ServicePools;
  /** Each request was counted when it went into the batch: the batch's message is not counted again. */
  private readonly outbox = new Outbox((worker, items) => {
    if (!worker.packed) {
      void this.backWriter.send(requestBatch(worker.id, items, worker.deadlines ? performance.now() : undefined));
      return;
    }
    for (const m of packedRequests(worker.id, items, performance.now())) void this.backWriter.send(m);
  });
  /** Replies for clients on the batched wire, a message per client per turn. */
  private readonly clientReplies = new ClientReplies((message) => this.answers.send(message));
  /** What a client batch may hold, as HELLO tells clients. */
  private readonly batchLimits: BatchLimits;
  /** A client's HELLO, `[identity, HELLO, limits]` without the identity (the same for all). */
  private readonly hello: readonly Buffer[];
  private sweep: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastBeat = 0;
  private readonly fifo: boolean;
  private readonly adaptive: boolean;
  /** The frontend reports client connections (adaptive, over tcp and ipc): a client not among them has left. */
  private readonly notified: boolean;
  /** Clients connected now, by routing id (adaptive: the frontend reports connections, see sockets.ts). */
  private readonly clients = new Presence();

  constructor(ctx: EngineContext) {
    super(ctx);
    const o = ctx.options;
    this.fifo = o.queueOrder === 'fifo';
    this.adaptive = o.overloadPolicy === 'adaptive';
    this.notified = ctx.sockets.notifies;
    const order = queueOrder(o);
    // fifo has no per-client share: the one queue is everyone's.
    this.pools = new ServicePools(
      () => new Balancer(o.maxQueued, o.prefetch, this.fifo ? o.maxQueued : o.maxQueuedPerClient, order, undefined, !this.fifo),
    );
    this.batchLimits = { maxEntries: CLIENT_BATCH_MAX_ENTRIES, maxBytes: o.maxMessageSize < 0 ? 0x7fff_ffff : o.maxMessageSize };
    this.hello = helloFrames(this.batchLimits);
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
    if (!this.shared) this.run(() => this.readBackend((frames) => this.onWorkerMessage(frames)));
    // The sweep also expires requests for a service that no worker offers.
    const every = Math.max(
      10,
      Math.min(250, Math.floor((o.handlerTimeoutMs > 0 ? Math.min(o.handlerTimeoutMs, o.serviceWaitMs) : o.serviceWaitMs) / 4)),
    );
    // A failure in a timer's work is a failure of the engine, reported, not thrown into the event loop.
    this.sweep = setInterval(
      () =>
        guarded(
          () => this.expire(),
          (err) => this.failed(err),
        ),
      every,
    );
    if (o.heartbeatIntervalMs > 0)
      this.heartbeat = setInterval(
        () =>
          guarded(
            () => this.beat(),
            (err) => this.failed(err),
          ),
        Math.max(5, Math.floor(o.heartbeatIntervalMs / 4)),
      );
  }

  stopIntake(): void {
    for (const p of this.pools.drainQueue()) this.reject(p, 'closing', 'the device is shutting down');
  }

  stop(): Promise<void> {
    clearInterval(this.sweep);
    clearInterval(this.heartbeat);
    // Whatever a batch still holds was answered with `closing` or its wait timed out.
    this.outbox.clear();
    // Replies gathered for batched clients this turn go before the sockets close.
    this.clientReplies.flush();
    return Promise.resolve();
  }

  stats(): CountedStats {
    const workers: WorkerStats[] = [];
    for (const w of this.pools.workers()) {
      const state = w.retired ? 'retired' : w.inFlight < w.credits ? 'ready' : 'full';
      workers.push({
        id: displayId(w.id),
        state,
        credits: w.credits,
        inFlight: w.inFlight,
        served: w.served,
        service: this.pools.service(w.key) ?? '',
        protocol: w.protocol,
      });
    }
    return {
      ...this.counters.snapshot({
        inFlight: this.inFlight,
        queued: this.pools.queued,
        queue: this.pools.queueStats(),
        workers,
        tap: this.ctx.tap?.stats(),
      }),
      services: this.pools.stats(),
    };
  }

  /**
   * A worker is gone (its thread died, it said BYE, or it was silent): the
   * requests it held are retried once on another worker, or answered.
   */
  workerLeft(key: string): void {
    this.outbox.forget(key);
    const pool = this.pools.of(key);
    const orphans = this.pools.leave(key);
    this.ctx.events.workerLeft(key, orphans.length);
    for (const h of orphans) this.orphaned(h);
    if (pool !== undefined) this.dispatchQueued(pool);
  }

  /** On a shared socket, a worker's message is the engine's, not a request. */
  protected override divert(frames: Buffer[]): boolean {
    if (!this.shared || !isWorkerMessage(frames, this.pools.worker((frames[0] as Buffer).toString('latin1')) !== undefined)) return false;
    this.counters.back.messagesIn++;
    this.counters.back.bytesIn += size(frames);
    this.onWorkerMessage(frames);
    return true;
  }

  /**
   * A client's connection began or ended (ROUTER_NOTIFY sends the same
   * message for both, once each): one that ended leaves nobody to answer,
   * so what it has waiting is dropped.
   */
  protected override peerEvent(id: Buffer): boolean {
    if (!this.notified) return false;
    const key = id.toString('latin1');
    if (this.clients.notice(key) === 'joined') {
      this.ctx.sockets.notePeer('frontend', +1);
      return true;
    }
    this.ctx.sockets.notePeer('frontend', -1);
    for (const [, pool] of this.pools.entries()) {
      if (pool.queued === 0) continue;
      const gone = this.fifo ? pool.removeQueued('', (p) => clientOf(p) === key) : pool.removeQueued(key);
      this.counters.shed.abandoned += gone.length;
    }
    return true;
  }

  private frontLoop(): Promise<void> {
    return this.readFrontend((frames, bodyAt) => {
      if (isClientRequest(frames, bodyAt)) {
        this.onMajordomoRequest(frames, bodyAt);
        return undefined;
      }
      const now = performance.now();
      // The zqueue client's deadline frame (protocol.ts): its budget and its request id.
      const budget = budgetIn(frames, bodyAt - 1);
      const pending: Pending = {
        frames,
        bodyAt,
        retried: false,
        receivedAt: now,
        service: this.ctx.options.plainService,
        mdp: false,
        deadline: budget > 0 ? now + budget : 0,
        batchId: -1,
      };
      // A zqueue client offers the batched wire on a connection's first request: it is told at once, before any reply.
      if (budget > 0 && offersBatches(frames, bodyAt)) this.answers.send([frames[0] as Buffer, ...this.hello]);
      if (budget > 0 && this.adaptive) this.replaceStale(pending, requestIdIn(frames, bodyAt - 1));
      this.admitted(pending);
      return undefined;
    });
  }

  /** A Majordomo client's request: MMI (RFC 8) is answered here; any other service's goes to its pool, its reply wrapped back. */
  private onMajordomoRequest(frames: Buffer[], bodyAt: number): void {
    const r = clientRequest(frames, bodyAt, (service) => this.pools.offered(service));
    if (r.kind === 'malformed') this.counters.malformed++;
    else if (r.kind === 'mmi') {
      this.counters.control++;
      this.answers.send(r.reply);
    } else
      this.admitted({
        frames: r.frames,
        bodyAt,
        retried: false,
        receivedAt: performance.now(),
        service: r.service,
        mdp: true,
        deadline: 0,
        batchId: -1,
      });
  }

  /**
   * A batch on the batched client wire: each entry is admitted as a request
   * of its own (the same intake rules as a plain one, and one client to the
   * fair queue), or answered in the client's reply batch. A batch that does
   * not add up is counted malformed: the entries read before the fault stand,
   * the one at fault is answered `bad-request` when its id could be read.
   */
  protected override takeBatch(frames: Buffer[]): boolean {
    if (!isBatch(frames[1])) return false;
    const identity = frames[0] as Buffer;
    const now = performance.now();
    const seen = new Set<number>();
    let n = 0;
    const r = readBatch(
      frames,
      2,
      (id, budget, flags, body) => {
        n++;
        this.batchEntry(identity, id, budget, flags, body, now, seen, n);
      },
      Infinity,
    );
    if (typeof r !== 'number') {
      this.counters.malformed++;
      if (r.id !== undefined) this.answerBatched(identity, r.id, 'bad-request', `a batch that does not add up: ${r.reason}`);
    }
    return true;
  }

  /** One request of a client batch; `n`: its place in the batch (1-based). */
  private batchEntry(
    identity: Buffer,
    id: number,
    budget: number,
    flags: number,
    body: Buffer[],
    now: number,
    seen: Set<number>,
    n: number,
  ): void {
    const o = this.ctx.options;
    if ((flags & FLAG_CANCEL) !== 0) {
      this.cancel(identity, id);
      return;
    }
    this.counters.requests++;
    if (seen.has(id)) {
      this.answerBatched(identity, id, 'bad-request', `request id ${id} twice in one batch`);
      return;
    }
    seen.add(id);
    // Its plain form would be [identity, ZQDL, "", body...]: the same bound.
    if (body.length + 3 > o.maxFrames) {
      this.answerBatched(identity, id, 'bad-request', `more than ${o.maxFrames} frames`);
      return;
    }
    if (n > this.batchLimits.maxEntries) {
      this.answerBatched(identity, id, 'bad-request', `more than ${this.batchLimits.maxEntries} requests in one batch`);
      return;
    }
    if (this.ctx.stopping()) {
      this.answerBatched(identity, id, 'closing', 'the device is shutting down');
      return;
    }
    this.ctx.hooks.onRequest?.();
    const frames = [identity, EMPTY];
    for (const f of body) frames.push(f);
    const pending: Pending = {
      frames,
      bodyAt: 2,
      retried: false,
      receivedAt: now,
      service: o.plainService,
      mdp: false,
      deadline: budget > 0 ? now + budget : 0,
      batchId: id,
    };
    if ((flags & FLAG_RETRY) !== 0 && this.adaptive) this.replaceStaleBatched(pending, id);
    this.admitted(pending);
  }

  /** An error reply to a request of a client batch, counted by kind, in its client's reply batch. */
  private answerBatched(identity: Buffer, id: number, kind: ErrorKind, message: string): void {
    this.counters.countKind(kind);
    this.clientReplies.add(identity, id, [errorFrame(kind, message)], 0);
  }

  /**
   * A client withdrew a request: dropped if it still waits (a worker that has it already runs it, and its reply is thrown away by the
   * client).
   */
  private cancel(identity: Buffer, id: number): void {
    const pool = this.pools.pool(this.ctx.options.plainService);
    if (pool.queued === 0) return;
    const gone = pool.removeQueued(
      this.fifo ? '' : identity.toString('latin1'),
      (q) => q.batchId === id && clientOf(q) === identity.toString('latin1'),
    );
    this.counters.shed.cancelled += gone.length;
  }

  /** A retry on the batched wire (FLAG_RETRY): a copy of it still queued goes. */
  private replaceStaleBatched(p: Pending, id: number): void {
    const pool = this.pools.pool(p.service ?? '');
    if (pool.queued === 0 || this.fifo) return;
    const stale = pool.removeQueued(clientOf(p), (q) => q.batchId === id);
    this.counters.shed.replaced += stale.length;
  }

  /** A retry of a request whose copy still waits in the queue (the same client, the same request id): the stale copy goes. */
  private replaceStale(p: Pending, requestId: string | undefined): void {
    const pool = this.pools.pool(p.service ?? '');
    // Within the client's own queue (fifo has one queue for all: not looked through).
    if (requestId === undefined || pool.queued === 0 || this.fifo) return;
    const stale = pool.removeQueued(clientOf(p), (q) => requestIdIn(q.frames, q.bodyAt - 1) === requestId);
    this.counters.shed.replaced += stale.length;
  }

  /** A request dropped before it reached a worker: `policy` ones are answered `busy`; for the others nobody is left to answer. */
  private shed(p: Pending, reason: ShedReason): void {
    this.counters.shed[reason]++;
    if (reason === 'policy') this.reject(p, 'busy', `it waited longer than maxWaitMs (${this.ctx.options.maxWaitMs} ms) for a worker`);
  }

  /** An admitted request: to a worker of its service at once when nothing waits, else into that service's fair queue. */
  private admitted(pending: Pending): void {
    const pool = this.pools.pool(pending.service ?? '');
    const from = clientOf(pending);
    // Straight to a worker only when nothing waits (an arrival never overtakes the queue), and into a
    // prefetch slot only within its client's share of them (Balancer.mayPrefetch).
    const worker = pool.queued === 0 ? pool.pick() : undefined;
    if (worker !== undefined && pool.admits(worker, from)) {
      this.sendToWorker(pool.dispatch(worker, pending, pending.receivedAt, from));
      return;
    }
    // fifo: every request under one key, one queue in arrival order.
    const client = this.fifo ? '' : from;
    const queued = pool.enqueue(client, pending);
    if (queued === 'full') this.reject(pending, 'busy', `the device's queue is full (maxQueued ${this.ctx.options.maxQueued})`);
    else if (queued === 'client-full') {
      this.counters.busyPerClient++;
      this.reject(pending, 'busy', `this client has ${this.ctx.options.maxQueuedPerClient} requests waiting (maxQueuedPerClient)`);
    }
  }

  /** An error reply to a request, wrapped as Majordomo when it came as Majordomo (the README says what such a client sees). */
  private reject(p: Pending, kind: ErrorKind, message: string): void {
    if (p.batchId !== undefined && p.batchId >= 0) {
      this.answerBatched(p.frames[0] as Buffer, p.batchId, kind, message);
      return;
    }
    const envelope = p.frames.slice(0, p.bodyAt);
    this.answers.error(p.mdp === true ? [...envelope, ...clientReplyHead(p.service ?? '')] : envelope, kind, message);
  }

  /** A worker's message, decoded by its protocol's codec and acted on. */
  private onWorkerMessage(frames: Buffer[]): void {
    const workerId = frames[0];
    if (workerId === undefined || frames[1] === undefined) return;
    const key = workerId.toString('latin1');
    const now = performance.now();
    const known = this.pools.seen(key, now);
    const codec = codecFor(frames, known ? this.pools.worker(key)?.protocol : undefined);
    const peer: PeerView = { known, held: () => this.pools.heldRequest(key) };
    this.onEvent(codec, codec.decode(frames, peer), workerId, key, frames, now);
  }

  private onEvent(codec: WorkerCodec, e: WorkerEvent, workerId: Buffer, key: string, frames: Buffer[], now: number): void {
    const c = this.counters;
    switch (e.kind) {
      case 'replies':
        if (e.disconnect) this.toWorker(codec.disconnect(workerId));
        // Counted per reply: the message itself was counted once.
        c.back.messagesIn += e.replies.length - 1;
        for (const r of e.replies) {
          const held = this.pools.complete(key, r.id, now);
          if (held === undefined) continue;
          if (r.body !== undefined) this.replied(held, r.body, 0, r.body.length, now);
          else if (r.from >= 0) this.replied(held, frames, r.from, r.to, now);
          else {
            // A reply without its envelope: the client still gets an answer.
            c.malformed++;
            this.reject(held, 'bad-request', "the server's reply had no envelope");
          }
        }
        this.dispatchFor(key);
        this.ctx.settled();
        return;
      case 'ready': {
        c.control++;
        if (e.reset) this.workerLeft(key);
        const heartbeats = e.joining.heartbeats && this.ctx.options.heartbeatIntervalMs > 0;
        this.joined(e.service, workerId, { ...e.joining, heartbeats }, now);
        // A heartbeat back at once tells the worker that this device heartbeats too.
        if (e.greet && heartbeats) this.toWorker(codec.heartbeat(workerId));
        return;
      }
      case 'heartbeat':
        c.control++;
        if (!this.pools.heartbeating(key) && e.disconnectUnknown) this.toWorker(codec.disconnect(workerId));
        return;
      case 'bye':
        c.control++;
        this.workerLeft(key);
        return;
      case 'malformed':
      case 'ignored':
        if (e.control) c.control++;
        if (e.kind === 'malformed') c.malformed++;
        if (e.leave) this.workerLeft(key);
        if (e.disconnect) this.toWorker(codec.disconnect(workerId));
        return;
    }
  }

  /**
   * A worker's reply to `held`: its body is `frames[from..to)`; it goes back
   * along the request's envelope (wrapped as Majordomo if it came so), or in
   * its client's reply batch when the request came in a batch.
   */
  private replied(held: Held, frames: readonly Buffer[], from: number, to: number, now: number): void {
    if (held.batchId >= 0) {
      this.counters.countReply(to > from ? frames[to - 1] : undefined, held.receivedAt, now);
      this.clientReplies.add(
        held.frames[0] as Buffer,
        held.batchId,
        from === 0 && to === frames.length ? frames : frames.slice(from, to),
        0,
      );
      return;
    }
    const reply = held.frames.slice(0, held.bodyAt);
    if (held.mdp === true) reply.push(...clientReplyHead(held.service ?? ''));
    for (let i = from; i < to; i++) reply.push(frames[i] as Buffer);
    this.answers.relay(reply, held.receivedAt, now);
  }

  /** A worker (re)joins a service's pool; requests it held in another are rehomed. */
  private joined(service: string, workerId: Buffer, joining: Joining, at: number): void {
    const { worker, orphans } = this.pools.join(service, workerId, joining, at);
    for (const h of orphans) this.orphaned(h);
    this.ctx.events.worker(this.pools.size, worker.key);
    this.dispatchQueued(this.pools.pool(service));
  }

  /** A message to a worker (a command, a request), counted; nothing when the protocol has no such command. */
  private toWorker(message: Buffer[] | undefined): void {
    if (message === undefined) return;
    this.counters.back.messagesOut++;
    this.counters.back.bytesOut += size(message) - (message[0] as Buffer).length;
    void this.backWriter.send(message);
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
    for (const w of this.pools.workers()) if (w.heartbeats) this.toWorker(codecNamed(w.protocol).heartbeat(w.id));
  }

  /** Gives a request to its worker: a batching worker's goes into this turn's batch (see Outbox), any other's at once. */
  private sendToWorker(h: Held): void {
    const w = h.worker;
    if (w.batches) {
      this.counters.back.messagesOut++;
      this.counters.back.bytesOut += size(h.frames);
      this.outbox.add(h);
      return;
    }
    this.toWorker(codecNamed(w.protocol).request(w.id, h, performance.now()));
  }

  /** After a worker's reply: its pool's queue may go on. */
  private dispatchFor(key: string): void {
    const pool = this.pools.of(key);
    if (pool !== undefined) this.dispatchQueued(pool);
  }

  private dispatchQueued(pool: Balancer): void {
    const o = this.ctx.options;
    const now = performance.now();
    while (pool.queued > 0) {
      const worker = pool.pick();
      if (worker === undefined) return;
      // Into a prefetch slot, only a client within its share: when none is, the slot waits for a free credit.
      const p = pool.dequeueFor(worker, now);
      if (p === undefined) return;
      const stale = staleReason(p, now, o);
      if (stale !== undefined) this.shed(p, stale);
      else this.sendToWorker(pool.dispatch(worker, p, now));
    }
  }

  private orphaned(h: Held): void {
    const c = this.counters;
    c.orphaned++;
    if (this.notified && !this.clients.has(clientOf(h))) {
      // Its client left: nobody is there to answer, and a retry would be work for no one.
      c.shed.abandoned++;
    } else if (this.ctx.stopping()) {
      this.reject(h, 'closing', 'the device is shutting down');
    } else if (this.ctx.options.onWorkerDeath === 'retry' && !h.retried) {
      c.retried++;
      const pool = this.pools.pool(h.service ?? '');
      pool.requeue(
        {
          frames: h.frames,
          bodyAt: h.bodyAt,
          retried: true,
          receivedAt: h.receivedAt,
          service: h.service ?? '',
          mdp: h.mdp === true,
          deadline: h.deadline,
          batchId: h.batchId,
        },
        performance.now(),
      );
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
    const sweeps = this.adaptive || o.maxWaitMs > 0;
    for (const [service, pool] of this.pools.entries()) {
      if (pool.queued === 0) continue;
      // Requests whose deadline passed, or that waited past maxWaitMs, leave the queue now rather than when their turn comes.
      if (sweeps)
        for (const p of pool.expireQueuedBy((q) => staleReason(q, now, o) !== undefined)) this.shed(p, staleReason(p, now, o) ?? 'policy');
      // Requests for a service that no worker offers wait serviceWaitMs, then fail (MDP 0.1 has no error frame: see the README).
      if (pool.size > 0) continue;
      for (const p of pool.expireQueued(now - o.serviceWaitMs))
        this.reject(p, 'no-service', `no worker offers service "${service}" (waited ${o.serviceWaitMs} ms)`);
    }
  }
}

/** The routing id of the peer a request came from (its client, or the device in front of it). */
function clientOf(p: { readonly frames: readonly Buffer[] }): string {
  return (p.frames[0] as Buffer).toString('latin1');
}

function guarded(work: () => void, onError: (err: unknown) => void): void {
  try {
    work();
  } catch (err) {
    onError(err);
  }
}
