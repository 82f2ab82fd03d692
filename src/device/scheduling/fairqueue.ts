/**
 * least-busy's queue of requests waiting for a worker, fair to every client.
 *
 * Requests wait per client (by routing identity: a DEALER that tags its
 * requests is one client). Clients with waiting work are served in turn, one
 * request each (deficit round robin with every request costing one), so a
 * client that floods the queue waits behind its own requests, not in front
 * of everyone else's. Requests being retried (their worker died) wait ahead
 * of all. Every operation on the hot path is O(1).
 *
 * Two orders (the device's overload policy picks, src/device/scheduling/overload.ts):
 * - `fifo`: the client whose turn it is gives its oldest request;
 * - `lifo`, while a queue stands: first the clients that began to wait
 *   since, newest first, that had no turn in the last `recentMs` or so (a
 *   Lazy Pirate client's retry comes from a new socket: a new client); then
 *   everyone else in turn, as in fifo. Each gives its newest request. Fresh
 *   requests, whose clients still wait, go first; a closed-loop client that
 *   was just served waits its turn with the others (else two such clients
 *   could take every turn between them), and a flood still gets one turn in
 *   N.
 *
 * Bounds: `maxQueued` in all (retries aside: they were admitted already)
 * and `maxPerClient` for one client.
 */

/** least-busy's fair queue: who waits, and how deep. */
export interface QueueStats {
  /** Clients (routing identities) with requests waiting. */
  readonly clientsWaiting: number;
  /** The most requests one client has waiting. */
  readonly deepestClient: number;
  /** How long the oldest waiting request has waited (ms; 0 when none waits). */
  readonly oldestWaitMs: number;
  /** Of `failed.busy`: refused because that client had maxQueuedPerClient requests waiting (the rest: the whole queue was full). */
  readonly busyPerClient: number;
}

export type Enqueued = 'queued' | 'full' | 'client-full';

export type Order = 'fifo' | 'lifo';

interface ClientQueue<T> {
  readonly key: string;
  items: (T | undefined)[];
  head: number;
  /** It had its lifo turn as a fresh client (its place in the ring stays). */
  freshTurn: boolean;
}

/** A double-ended queue on a ring buffer: O(1) at both ends. */
export class Deque<T> {
  private buf: (T | undefined)[] = new Array<T | undefined>(16);
  private head = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  pushBack(item: T): void {
    this.grow();
    this.buf[(this.head + this.size) & (this.buf.length - 1)] = item;
    this.size++;
  }

  pushFront(item: T): void {
    this.grow();
    this.head = (this.head - 1) & (this.buf.length - 1);
    this.buf[this.head] = item;
    this.size++;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.size--;
    return item;
  }

  pop(): T | undefined {
    if (this.size === 0) return undefined;
    const at = (this.head + this.size - 1) & (this.buf.length - 1);
    const item = this.buf[at];
    this.buf[at] = undefined;
    this.size--;
    return item;
  }

  /** Calls `fn` on each item, front to back. */
  forEach(fn: (item: T) => void): void {
    for (let i = 0; i < this.size; i++) fn(this.buf[(this.head + i) & (this.buf.length - 1)] as T);
  }

  private grow(): void {
    if (this.size < this.buf.length) return;
    const next = new Array<T | undefined>(this.buf.length * 2);
    for (let i = 0; i < this.size; i++) next[i] = this.buf[(this.head + i) & (this.buf.length - 1)];
    this.buf = next;
    this.head = 0;
  }
}

export class FairQueue<T> {
  private readonly clients = new Map<string, ClientQueue<T>>();
  /** Clients with waiting work, in the order they are served. May hold stale entries of clients removed since: skipped. */
  private readonly ring = new Deque<ClientQueue<T>>();
  /** Clients that began to wait without a recent turn, since the last fifo dequeue (lifo serves them first, newest first). */
  private fresh = new Deque<ClientQueue<T>>();
  private readonly retries = new Deque<T>();
  private count = 0;
  /** Clients served in this generation and the one before (a generation is recentMs / 2). */
  private served = new Set<string>();
  private servedBefore = new Set<string>();
  private generationAt = 0;

  constructor(
    readonly maxQueued: number,
    readonly maxPerClient: number,
    readonly recentMs = 200,
  ) {}

  /** Requests waiting, retries included. */
  get length(): number {
    return this.count + this.retries.length;
  }

  /** Clients with requests waiting. */
  get clientsWaiting(): number {
    return this.clients.size;
  }

  /** The most requests one client has waiting (O(clients): for stats, not the hot path). */
  deepestClient(): number {
    let n = 0;
    for (const c of this.clients.values()) n = Math.max(n, c.items.length - c.head);
    return n;
  }

  /**
   * The earliest `arrivedAt` of the requests waiting, or undefined when none waits. A client's
   * oldest is at the head of its own queue. O(clients): for stats, not the hot path.
   */
  oldest(arrivedAt: (item: T) => number): number | undefined {
    let min: number | undefined;
    const see = (item: T): void => {
      const t = arrivedAt(item);
      if (min === undefined || t < min) min = t;
    };
    for (const c of this.clients.values()) {
      for (let i = c.head; i < c.items.length; i++) {
        const item = c.items[i];
        if (item !== undefined) {
          see(item);
          break;
        }
      }
    }
    this.retries.forEach(see);
    return min;
  }

  /** Queues a client's request at the end of its own queue; refused when the total or the client's share is full. */
  enqueue(client: string, item: T): Enqueued {
    if (this.count >= this.maxQueued) return 'full';
    let q = this.clients.get(client);
    if (q === undefined) {
      q = { key: client, items: [], head: 0, freshTurn: false };
      this.clients.set(client, q);
      this.ring.pushBack(q);
      if (!this.served.has(client) && !this.servedBefore.has(client)) this.fresh.pushBack(q);
    } else if (q.items.length - q.head >= this.maxPerClient) {
      return 'client-full';
    }
    q.items.push(item);
    this.count++;
    return 'queued';
  }

  /** Queues a request to be retried, ahead of every client's (it was admitted once already). */
  retry(item: T): void {
    this.retries.pushBack(item);
  }

  /**
   * The next request: a retry, else the next client's in turn, in `order`;
   * `now` (ms) tells recently served clients. With `eligible`, only a client
   * it accepts is served (retries always are); the others keep their place
   * in the ring but for this turn, and undefined comes back when none is.
   */
  dequeue(order: Order = 'fifo', now = 0, eligible?: (client: string) => boolean): T | undefined {
    const r = this.retries.shift();
    if (r !== undefined) return r;
    if (now - this.generationAt >= this.recentMs / 2) {
      this.servedBefore = this.served;
      this.served = new Set();
      this.generationAt = now;
    }
    if (order === 'fifo') {
      // Only lifo reads it: in fifo it would only grow.
      if (this.fresh.length > 0) this.fresh = new Deque();
    } else {
      let passed: ClientQueue<T>[] | undefined;
      for (let q = this.fresh.pop(); q !== undefined; q = this.fresh.pop()) {
        if (this.clients.get(q.key) !== q || q.freshTurn) continue;
        if (eligible !== undefined && !eligible(q.key)) {
          (passed ??= []).push(q);
          continue;
        }
        this.restoreFresh(passed);
        q.freshTurn = true;
        return this.serve(q, 'lifo');
      }
      this.restoreFresh(passed);
    }
    // Each client in the ring is looked at once at most: one that is not eligible goes to the back.
    for (let left = this.ring.length; left > 0; left--) {
      const q = this.ring.shift();
      if (q === undefined) return undefined;
      // A client removed since it joined the ring (or removed and back): not this entry's turn.
      if (this.clients.get(q.key) !== q) continue;
      if (eligible !== undefined && !eligible(q.key)) {
        this.ring.pushBack(q);
        continue;
      }
      const item = this.serve(q, order);
      if (this.clients.get(q.key) === q) this.ring.pushBack(q);
      return item;
    }
    return undefined;
  }

  /** Fresh clients passed over for not being eligible keep their fresh turn, newest on top as before. */
  private restoreFresh(passed: ClientQueue<T>[] | undefined): void {
    if (passed === undefined) return;
    for (let i = passed.length - 1; i >= 0; i--) this.fresh.pushBack(passed[i] as ClientQueue<T>);
  }

  /** One request of `q` (its oldest, or its newest), and `q` forgotten once empty. */
  private serve(q: ClientQueue<T>, order: Order): T {
    this.served.add(q.key);
    const item = order === 'fifo' ? this.takeOldest(q) : this.takeNewest(q);
    if (q.head >= q.items.length) this.clients.delete(q.key);
    return item;
  }

  /** Removes and returns every request `client` has waiting (its connection is gone). */
  removeClient(client: string): T[] {
    const q = this.clients.get(client);
    if (q === undefined) return [];
    this.clients.delete(client);
    const out = q.items.slice(q.head) as T[];
    this.count -= out.length;
    return out;
  }

  /** Removes and returns `client`'s waiting requests for which `match` holds (O(its queue)). */
  remove(client: string, match: (item: T) => boolean): T[] {
    const q = this.clients.get(client);
    if (q === undefined) return [];
    const out: T[] = [];
    const stay: T[] = [];
    for (let i = q.head; i < q.items.length; i++) {
      const x = q.items[i] as T;
      (match(x) ? out : stay).push(x);
    }
    if (out.length === 0) return out;
    this.count -= out.length;
    q.items = stay;
    q.head = 0;
    if (stay.length === 0) this.clients.delete(client);
    return out;
  }

  /** Removes and returns the waiting requests (retries included) for which `old` holds: O(n), for a sweep. */
  expire(old: (item: T) => boolean): T[] {
    const out: T[] = [];
    const n = this.retries.length;
    for (let i = 0; i < n; i++) {
      const r = this.retries.shift() as T;
      if (old(r)) out.push(r);
      else this.retries.pushBack(r);
    }
    for (const key of [...this.clients.keys()]) out.push(...this.remove(key, old));
    return out;
  }

  /** Empties the queue, returning what waited. */
  drain(): T[] {
    const out: T[] = [];
    for (let item = this.dequeue(); item !== undefined; item = this.dequeue()) out.push(item);
    return out;
  }

  private takeOldest(q: ClientQueue<T>): T {
    const item = q.items[q.head] as T;
    q.items[q.head++] = undefined;
    this.count--;
    if (q.head > 64 && q.head * 2 > q.items.length) {
      q.items = q.items.slice(q.head);
      q.head = 0;
    }
    return item;
  }

  private takeNewest(q: ClientQueue<T>): T {
    this.count--;
    return q.items.pop() as T;
  }
}
