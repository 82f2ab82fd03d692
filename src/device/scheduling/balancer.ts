/**
 * The least-busy policy's bookkeeping, free of sockets so it can be tested on
 * its own: which workers are ready and how busy each is, which requests each
 * holds, and the bounded queue of requests waiting for a worker.
 *
 * A worker announces `credits` (how many requests it takes at once); a
 * dispatched request takes a credit, its reply gives it back. `pick()` chooses
 * the worker with the lowest share of its credits in use, rotating among
 * equals so that idle workers share the load.
 */

import { performance } from 'node:perf_hooks';
import { IdTable } from '../../id-table.js';
import { FairQueue, type Enqueued, type QueueStats } from './fairqueue.js';
import { FIRST_COME, type QueueOrder } from './overload.js';
import type { Joining, ProtocolName } from '../../protocols/types.js';

export type { Joining } from '../../protocols/types.js';

/** Workers slower than this per request get no prefetch (ms). */
export const PREFETCH_MAX_SERVICE_MS = 5;
/** Work a worker may hold in prefetched requests, by its measured time per request (ms): 128 at 78 µs a request, 2 at 5 ms. */
export const PREFETCH_BUDGET_MS = 10;
/** Replies (while requests wait) a worker's prefetch depth is judged on. */
export const PREFETCH_WINDOW = 16;
/** Above this share of its time busy, the device's thread comes back to a worker late: its workers keep their full prefetch. */
export const PREFETCH_BUSY_THREAD = 0.5;

/**
 * Clients that got a worker within about this long count as active for the
 * prefetch share (see mayPrefetch), whether or not they hold or wait for
 * anything at this instant (ms).
 */
export const PREFETCH_ACTIVE_MS = 200;

/** The share of its time the device's thread was busy since the last call (0 to 1). */
export type LoadProbe = () => number;

/** The event loop's utilization since the last call: the thread this runs on is the device's. */
export function eventLoopLoad(): LoadProbe {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return u;
  };
}

export interface Pending {
  /** The client's message as the frontend received it: `[identity..., "", body...]`. */
  readonly frames: Buffer[];
  /** Where its body starts: `frames[0 .. bodyAt)` is the envelope, delimiter included. */
  readonly bodyAt: number;
  /** Already retried once after a worker died. */
  retried: boolean;
  /** When the device received it (ms, performance.now()). */
  readonly receivedAt: number;
  /** The service it asks for ('' : the default pool's). */
  readonly service?: string;
  /** It came as a Majordomo client request (RFC 7): its reply goes back as `["MDPC01", service, body...]`. */
  readonly mdp?: boolean;
  /** When its client stops waiting (ms, performance.now()); 0: it did not say. */
  readonly deadline?: number;
  /**
   * It came in a batch on the batched client wire (src/protocols/client-wire.ts):
   * the client's id for it, and its reply goes back in that client's reply
   * batch. -1 or absent: a plain request, answered along its envelope.
   */
  readonly batchId?: number;
}

/** A request given to a worker (a BatchItem as it is: it goes into the worker's batch unchanged). */
export interface Held extends Pending {
  readonly deadline: number;
  readonly batchId: number;
  /** Its client's routing id, as the fair queue keys it. */
  readonly client: string;
  readonly id: number;
  readonly worker: Worker;
  readonly sentAt: number;
}

/** A worker as the engines see it: they ask the balancer, and never change a slot themselves. */
export type Worker = Readonly<WorkerSlot>;

export class WorkerSlot {
  readonly key: string;
  readonly id: Buffer;
  credits: number;
  inFlight = 0;
  served = 0;
  readonly joinedAt: number;
  /** The requests this worker holds, by id. */
  readonly held = new IdTable<HeldByWorker>();
  /** Ids of requests answered for it with a timeout: a late reply returns the credit and is dropped. */
  readonly abandoned = new Set<number>();
  /** A worker retired by the device (timed out) gets no more requests. */
  retired = false;
  /** When the device last heard from it (ms, performance.now()). */
  lastSeen: number;
  /** It sends heartbeats, so its silence means it is dead or stalled. */
  heartbeats = false;
  /** It takes its requests in batches (zqueue's worker protocol 2+, src/protocols/zqueue.ts). */
  batches = false;
  /** Its requests carry their deadlines (zqueue's worker protocol 3+). */
  deadlines = false;
  /** It takes packed batches (zqueue's worker protocol 4). */
  packed = false;
  /** Requests may wait in its socket beyond its credits (not for one-at-a-time protocols). */
  prefetches = true;
  /** The worker protocol it speaks (src/protocols/). */
  protocol: ProtocolName = 'zqueue';

  constructor(id: Buffer, credits: number, now: number) {
    this.id = id;
    this.key = id.toString('latin1');
    this.credits = credits;
    this.joinedAt = now;
    this.lastSeen = now;
  }

  /** Requests it may hold: its credits, plus the balancer's prefetch (requests waiting in its socket) when it is not slow. */
  limit = 0;
  /** Estimated time it takes per request (ms, moving average); 0 until its first reply. */
  serviceMs = 0;
  /** When its last reply came (ms). */
  lastReplyAt = 0;
  /**
   * The message of replies being read (a batching worker answers a turn's
   * replies in one message): when it came, when the work it answers began,
   * and how many replies it held. It makes one sample, its time over its
   * replies: a sample per reply would read 0 ms for all but the first.
   */
  sampleAt = -1;
  sampleFrom = 0;
  sampleCount = 0;
  /** lastReplyAt before this message. */
  sampleAfter = 0;
  /**
   * Prefetch it may have now, below what its speed allows (see tune()):
   * lowered while it never runs dry, raised when it does.
   */
  depth = Infinity;
  /** Replies since the last tune() that came while requests waited, and how many of them left it with a slot and nothing to run. */
  windowReplies = 0;
  windowDry = 0;

  get available(): boolean {
    return !this.retired && this.inFlight < this.limit;
  }
}

/** A message of replies' sample, its time over its replies, into the worker's moving average of time per request. */
function settleSample(w: WorkerSlot): void {
  if (w.sampleCount === 0) return;
  const sample = (w.sampleAt - w.sampleFrom) / w.sampleCount;
  w.serviceMs = w.serviceMs === 0 ? sample : w.serviceMs * 0.8 + sample * 0.2;
  w.sampleCount = 0;
}

/** The routing id of the peer a request came from (its client, or the device in front of it). */
export function clientKey(p: { readonly frames: readonly Buffer[] }): string {
  return p.frames[0]?.toString('latin1') ?? '';
}

export interface HeldByWorker extends Held {
  readonly worker: WorkerSlot;
}

export class Balancer {
  private readonly slots = new Map<string, WorkerSlot>();
  private readonly held = new IdTable<HeldByWorker>(256);
  private ring: WorkerSlot[] = [];
  private next = 0;
  private nextId = 1;
  private readonly queue: FairQueue<Pending>;
  readonly maxQueued: number;
  /**
   * Requests sent to a worker beyond its credits, to wait in its socket: it
   * starts the next as soon as it answers one instead of after a round trip
   * to the device and back. 0: a worker gets a request only when it has room.
   * Only workers whose time per request is within twice the fastest's get it
   * (see tune()): a request prefetched to a slow worker would wait behind it.
   */
  readonly prefetch: number;
  private completions = 0;
  /** When the queue last went from empty to waiting (ms): how long it has stood. */
  private queuedSince = 0;
  /**
   * Requests each client has with the workers now, by routing id. A client
   * whose count falls to 0 keeps its entry (a Map that loses and regains an
   * entry for every request rebuilds its table over and over, and the tables
   * it leaves keep one another alive: see src/id-table.ts); `holders` counts
   * the clients above 0, and the entries at 0 go when they outnumber them.
   */
  private heldBy = new Map<string, number>();
  private holders = 0;
  /** Clients given a worker in this generation and the one before (a generation is PREFETCH_ACTIVE_MS / 2). */
  private dispatchedTo = new Set<string>();
  private dispatchedBefore = new Set<string>();
  private generationAt = 0;
  /** Requests the workers may hold in all (the sum of their limits), kept as limits change. */
  private slotsTotal = 0;
  /** The prefetch is shared out among clients (fair queue order); false: first come (fifo). */
  private readonly sharePrefetch: boolean;
  private readonly eligible = (client: string): boolean => this.mayPrefetch(client);

  constructor(
    maxQueued: number,
    prefetch = 0,
    maxQueuedPerClient = maxQueued,
    /** Which of the waiting requests goes next (src/device/scheduling/overload.ts). */
    private readonly order: QueueOrder = FIRST_COME,
    /** How busy the device's thread is (see tune()). */
    private readonly load: LoadProbe = eventLoopLoad(),
    /** Share the prefetch out among clients (see mayPrefetch); false for a fifo queue, which promises no share. */
    sharePrefetch = true,
  ) {
    this.maxQueued = maxQueued;
    this.prefetch = prefetch;
    this.queue = new FairQueue(maxQueued, maxQueuedPerClient);
    this.sharePrefetch = sharePrefetch;
  }

  /**
   * Whether `client` may have one more request waiting in a worker's socket
   * beyond the worker's credits. A request in a worker's socket can no longer
   * be reordered: a client that filled every worker's prefetch would make
   * each request of every other client wait behind its own, whatever the fair
   * queue decides. So a prefetch slot goes to a client holding less than its
   * share of all the workers' slots, shared among the clients active now:
   * those with requests held or waiting, or, if more, those given a worker in
   * the last PREFETCH_ACTIVE_MS or so. A closed-loop client (one request, then
   * the next once answered) holds and waits for nothing while its reply and
   * its next request travel; counted only at such instants, it would leave
   * its share to a client that floods. One client alone gets all the slots,
   * clients with one request each always qualify. A free credit goes to
   * whoever is next (see dequeueFor): no worker idles for this.
   */
  mayPrefetch(client: string): boolean {
    if (!this.sharePrefetch) return true;
    const held = this.heldBy.get(client) ?? 0;
    if (held === 0) return true;
    const recent = Math.max(this.dispatchedTo.size, this.dispatchedBefore.size);
    const active = Math.max(1, this.holders + this.queue.clientsWaiting, recent);
    return held < Math.max(1, Math.floor(this.slotsTotal / active));
  }

  /** Whether a request of `client` may go to `worker` now: into a free credit, or into a prefetch slot within its share. */
  admits(worker: Worker, client: string): boolean {
    return worker.inFlight < worker.credits || this.mayPrefetch(client);
  }

  /** The next waiting request for `worker`: for a free credit, whoever is next; for a prefetch slot, the next client within its share. */
  dequeueFor(worker: Worker, now: number): Pending | undefined {
    const intoPrefetch = worker.inFlight >= worker.credits;
    return this.queue.dequeue(this.order(this, now), now, intoPrefetch ? this.eligible : undefined);
  }

  private countSlots(): void {
    let n = 0;
    for (const w of this.slots.values()) if (!w.retired) n += w.limit;
    this.slotsTotal = n;
  }

  /** Forgets the clients that hold nothing now, in a Map of its own (the old one and its tables go whole). */
  private pruneHolders(): void {
    const kept = new Map<string, number>();
    for (const [client, n] of this.heldBy) if (n > 0) kept.set(client, n);
    this.heldBy = kept;
  }

  /** `client` has one more request with the workers (release: one fewer). */
  private hold(client: string): void {
    const n = this.heldBy.get(client);
    this.heldBy.set(client, (n ?? 0) + 1);
    if (n !== undefined && n > 0) return;
    this.holders++;
    if (n === undefined && this.heldBy.size > Math.max(HOLDERS_KEPT, 4 * this.holders)) this.pruneHolders();
  }

  private release(client: string): void {
    const n = this.heldBy.get(client) ?? 0;
    if (n <= 0) return;
    this.heldBy.set(client, n - 1);
    if (n === 1) this.holders--;
  }

  /** Whether requests have waited without a break since before `now - ms`. */
  standing(now: number, ms: number): boolean {
    return this.queue.length > 0 && now - this.queuedSince >= ms;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Clients with requests waiting, and the most one of them has. */
  queueStats(now = performance.now()): Omit<QueueStats, 'busyPerClient'> {
    const oldest = this.queue.oldest((p) => p.receivedAt);
    return {
      clientsWaiting: this.queue.clientsWaiting,
      deepestClient: this.queue.deepestClient(),
      oldestWaitMs: oldest === undefined ? 0 : Math.max(0, now - oldest),
    };
  }

  get size(): number {
    return this.slots.size;
  }

  worker(key: string): Worker | undefined {
    return this.slots.get(key);
  }

  workers(): IterableIterator<Worker> {
    return this.slots.values();
  }

  /** Heard from the worker (any message): it is alive. False when the balancer does not know it. */
  seen(key: string, now: number): boolean {
    const w = this.slots.get(key);
    if (w === undefined) return false;
    w.lastSeen = now;
    return true;
  }

  /** The worker heartbeats (it sent one): from now on its silence means it is gone. False when unknown. */
  heartbeating(key: string): boolean {
    const w = this.slots.get(key);
    if (w === undefined) return false;
    w.heartbeats = true;
    return true;
  }

  /** A worker that held a request past its timeout gets no more. True the first time. */
  retire(key: string): boolean {
    const w = this.slots.get(key);
    if (w === undefined || w.retired) return false;
    w.retired = true;
    this.countSlots();
    return true;
  }

  /** The id of the one request a worker holds (a one-at-a-time worker holds one at most), if any. */
  private heldId(key: string): number | undefined {
    const w = this.slots.get(key);
    if (w === undefined) return undefined;
    return w.held.any()?.id;
  }

  /** The one request a worker holds, left held (for checks before complete()). */
  heldRequest(key: string): Held | undefined {
    const id = this.heldId(key);
    return id === undefined ? undefined : this.held.get(id);
  }

  /** Workers that heartbeat and have been silent since before `deadline`. */
  silentSince(deadline: number): Worker[] {
    const out: Worker[] = [];
    for (const w of this.slots.values()) if (w.heartbeats && w.lastSeen < deadline) out.push(w);
    return out;
  }

  get inFlight(): number {
    return this.held.size;
  }

  /** A worker said READY (again): (re)sets its credits and what it speaks. */
  join(id: Buffer, joining: Joining | number, now: number): Worker {
    const j: Joining =
      typeof joining === 'number'
        ? { credits: joining, heartbeats: false, batches: false, deadlines: false, packed: false, prefetch: true, protocol: 'zqueue' }
        : joining;
    const credits = j.credits;
    const key = id.toString('latin1');
    let w = this.slots.get(key);
    if (w === undefined) {
      w = new WorkerSlot(id, credits, now);
      // No prefetch until its speed is known.
      w.limit = credits;
      this.slots.set(key, w);
      this.ring = [...this.slots.values()];
    } else {
      w.limit = w.limit - w.credits + credits;
      w.credits = credits;
      w.retired = false;
    }
    w.batches = j.batches;
    w.deadlines = j.deadlines;
    w.packed = j.packed;
    w.protocol = j.protocol;
    w.prefetches = j.prefetch;
    if (!w.prefetches) w.limit = w.credits;
    if (j.heartbeats) w.heartbeats = true;
    w.lastSeen = now;
    this.countSlots();
    return w;
  }

  /** A worker left or died: forget it, and hand back the requests it held. */
  leave(key: string): Held[] {
    const w = this.slots.get(key);
    if (w === undefined) return [];
    this.slots.delete(key);
    this.ring = [...this.slots.values()];
    const orphans: Held[] = [];
    // In the order they were dispatched, as they go out again.
    for (const h of w.held.values().sort(dispatchOrder)) {
      if (this.held.delete(h.id)) {
        this.release(h.client);
        orphans.push(h);
      }
    }
    w.held.clear();
    w.inFlight = 0;
    this.countSlots();
    return orphans;
  }

  /** The worker with the lowest share of its credits in use, or undefined when all are full. */
  pick(): Worker | undefined {
    const ring = this.ring;
    const n = ring.length;
    let best: WorkerSlot | undefined;
    let bestLoad = Infinity;
    let bestIndex = 0;
    for (let i = 0; i < n; i++) {
      const index = (this.next + i) % n;
      const w = ring[index];
      if (w === undefined || !w.available) continue;
      const load = w.inFlight / w.credits;
      if (load < bestLoad) {
        best = w;
        bestLoad = load;
        bestIndex = index;
        if (load === 0) break;
      }
    }
    if (best !== undefined) this.next = (bestIndex + 1) % n;
    return best;
  }

  /**
   * Records that `pending` goes to `worker`; returns the request id to put on the wire. `client`: its routing id (default: its first
   * frame's).
   */
  dispatch(picked: Worker, pending: Pending, now: number, client = clientKey(pending)): Held {
    const worker = this.slots.get(picked.key);
    if (worker === undefined) throw new Error(`dispatch to an unknown worker ${picked.key}`);
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffff_fffe ? 1 : this.nextId + 1;
    // Every field written out, in one order: one hidden class for every request on the hot path (a spread would make several).
    const held: HeldByWorker = {
      frames: pending.frames,
      bodyAt: pending.bodyAt,
      retried: pending.retried,
      receivedAt: pending.receivedAt,
      service: pending.service ?? '',
      mdp: pending.mdp === true,
      deadline: pending.deadline ?? 0,
      batchId: pending.batchId ?? -1,
      client,
      id,
      worker,
      sentAt: now,
    };
    this.held.set(id, held);
    this.hold(client);
    if (this.sharePrefetch) {
      if (now - this.generationAt >= PREFETCH_ACTIVE_MS / 2) {
        // After a whole window without a dispatch, the clients of the last generation are not recent either.
        this.dispatchedBefore = now - this.generationAt >= PREFETCH_ACTIVE_MS ? new Set() : this.dispatchedTo;
        this.dispatchedTo = new Set();
        this.generationAt = now;
      }
      this.dispatchedTo.add(client);
    }
    worker.held.set(id, held);
    worker.inFlight++;
    return held;
  }

  /**
   * A reply for request `id` came from the worker `key`. Returns the request,
   * or undefined when it is unknown or was already answered (a late reply:
   * its credit comes back, the reply is to be dropped).
   */
  complete(key: string, id: number, now?: number): Held | undefined {
    const h = this.held.get(id);
    if (h !== undefined && h.worker.key === key) {
      this.held.delete(id);
      this.release(h.client);
      const w = h.worker;
      w.held.delete(id);
      w.inFlight--;
      w.served++;
      if (now !== undefined && this.prefetch > 0) {
        if (now !== w.sampleAt) {
          // A new message of replies: the last one's sample goes into the estimate.
          settleSample(w);
          w.sampleAt = now;
          w.sampleAfter = w.lastReplyAt;
          w.sampleFrom = now;
        }
        // Its work began when it was sent, or when the worker answered the message before, whichever came later.
        w.sampleFrom = Math.min(w.sampleFrom, Math.max(h.sentAt, w.sampleAfter));
        w.sampleCount++;
        w.lastReplyAt = now;
        if (this.queue.length > 0) {
          // Work waits, and it has a slot free with nothing in its socket: it ran dry before the device refilled it.
          w.windowReplies++;
          if (w.inFlight < w.credits) w.windowDry++;
        }
        if ((++this.completions & 31) === 0) this.tune(now);
      }
      return h;
    }
    const w = this.slots.get(key);
    if (w !== undefined && w.abandoned.delete(id)) w.inFlight--;
    return undefined;
  }

  /**
   * Requests dispatched before `deadline` (in dispatch order, oldest first):
   * removed and returned so they can be answered with a timeout. Their
   * workers keep the credit until a late reply comes back.
   */
  expire(deadline: number): Held[] {
    const out: HeldByWorker[] = [];
    for (const h of this.held.values()) if (h.sentAt <= deadline) out.push(h);
    // Oldest first, as they were dispatched.
    out.sort(dispatchOrder);
    for (const h of out) {
      this.held.delete(h.id);
      this.release(h.client);
      h.worker.held.delete(h.id);
      h.worker.abandoned.add(h.id);
    }
    return out;
  }

  /**
   * Gives prefetch to the workers it helps and cannot hurt: those that answer
   * in under PREFETCH_MAX_SERVICE_MS (slower ones barely feel a round trip,
   * and a deep socket queue would make their requests wait and time out) and
   * within twice the fastest worker's time; as many as PREFETCH_BUDGET_MS of
   * their work, up to `prefetch`. Takes it from the others. Runs every 32 replies.
   *
   * Within that, only as deep as it needs while requests wait: a request in
   * a worker's socket can no longer be reordered or shed, and ages there
   * while its client may give up. While the device's thread has time to
   * spare (busy under PREFETCH_BUSY_THREAD of the time), it refills a worker
   * within a turn, and the prefetch is judged on each window of replies that
   * came while work waited: a worker that never ran dry in one (left with a
   * free slot and nothing to run) loses one request of it, one that ran dry
   * more than one reply in sixteen gets twice as many. A thread kept busy (by
   * connections coming and going, say) comes back late, and unread replies
   * hide a worker's idle time from it: its workers keep all their prefetch.
   */
  tune(now?: number): void {
    // Samples of messages read before; the one being read (its replies came at `now`) is not whole yet.
    for (const w of this.slots.values()) if (w.sampleAt !== now) settleSample(w);
    const busy = this.load() > PREFETCH_BUSY_THREAD;
    let fastest = Infinity;
    for (const w of this.slots.values()) if (w.serviceMs > 0 && w.serviceMs < fastest) fastest = w.serviceMs;
    for (const w of this.slots.values()) {
      // A one-at-a-time worker (RFC 6, RFC 7) gets none: nothing waits in its socket.
      const quick = w.prefetches && w.serviceMs > 0 && w.serviceMs < PREFETCH_MAX_SERVICE_MS && w.serviceMs <= 2 * fastest + 0.05;
      const cap = quick ? Math.min(this.prefetch, Math.max(1, Math.floor(PREFETCH_BUDGET_MS / w.serviceMs))) : 0;
      if (busy) w.depth = Infinity;
      else if (w.windowReplies >= PREFETCH_WINDOW) {
        const depth = Math.min(w.depth, cap);
        if (w.windowDry === 0) w.depth = Math.max(1, depth - 1);
        else if (w.windowDry * 16 > w.windowReplies) w.depth = Math.max(1, Math.min(cap, depth * 2));
      }
      if (busy || w.windowReplies >= PREFETCH_WINDOW) {
        w.windowReplies = 0;
        w.windowDry = 0;
      }
      w.limit = w.credits + Math.min(cap, w.depth);
    }
    this.countSlots();
  }

  /**
   * Queues a client's request for the next free worker, behind that client's
   * earlier ones; clients are served in turn (see FairQueue). Refused when
   * the queue or the client's share of it is full.
   */
  enqueue(client: string, p: Pending): Enqueued {
    if (this.queue.length === 0) this.queuedSince = p.receivedAt;
    return this.queue.enqueue(client, p);
  }

  /** Queues a request to be retried (its worker died), ahead of the clients' queues. */
  requeue(p: Pending, now: number): void {
    if (this.queue.length === 0) this.queuedSince = now;
    this.queue.retry(p);
  }

  /** The next waiting request, in the order the queue policy picks now. */
  dequeue(now: number): Pending | undefined {
    return this.queue.dequeue(this.order(this, now), now);
  }

  /** Removes what `client` has waiting (all of it, or what `match` picks). */
  removeQueued(client: string, match?: (p: Pending) => boolean): Pending[] {
    return match === undefined ? this.queue.removeClient(client) : this.queue.remove(client, match);
  }

  /** Removes the waiting requests for which `old` holds (a sweep). */
  expireQueuedBy(old: (p: Pending) => boolean): Pending[] {
    return this.queue.expire(old);
  }

  /** Removes the waiting requests that arrived before `deadline` (for a service no worker offers). */
  expireQueued(deadline: number): Pending[] {
    return this.queue.expire((p) => p.receivedAt < deadline);
  }

  /** Empties the queue, returning what waited. */
  drainQueue(): Pending[] {
    return this.queue.drain();
  }
}

/** Clients at 0 kept in Balancer.heldBy at least, before it prunes them. */
const HOLDERS_KEPT = 1024;

/** Oldest first: by when they were sent, then by id (sent in one turn). */
function dispatchOrder(a: HeldByWorker, b: HeldByWorker): number {
  return a.sentAt - b.sentAt || a.id - b.id;
}
