/**
 * least-busy's queue of requests waiting for a worker, fair to every client.
 *
 * Requests wait per client (by routing identity: a DEALER that tags its
 * requests is one client), each client's in arrival order. Clients with
 * waiting work are served in turn, one request each (deficit round robin
 * with every request costing one), so a client that floods the queue waits
 * behind its own requests, not in front of everyone else's. Every operation
 * is O(1). Requests being retried (their worker died) wait ahead of all.
 *
 * Bounds: `maxQueued` in all (retries aside: they were admitted already)
 * and `maxPerClient` for one client.
 */

export type Enqueued = 'queued' | 'full' | 'client-full';

interface ClientQueue<T> {
  readonly key: string;
  items: (T | undefined)[];
  head: number;
}

/** A FIFO with O(1) push and shift (an array and a head index, compacted now and then). */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

export class FairQueue<T> {
  private readonly clients = new Map<string, ClientQueue<T>>();
  /** Clients with waiting work, in the order they are served. */
  private readonly ring = new Fifo<ClientQueue<T>>();
  private readonly retries = new Fifo<T>();
  private count = 0;

  constructor(
    readonly maxQueued: number,
    readonly maxPerClient: number,
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

  /** Queues a client's request at the end of its own queue; refused when the total or the client's share is full. */
  enqueue(client: string, item: T): Enqueued {
    if (this.count >= this.maxQueued) return 'full';
    let q = this.clients.get(client);
    if (q === undefined) {
      q = { key: client, items: [], head: 0 };
      this.clients.set(client, q);
      this.ring.push(q);
    } else if (q.items.length - q.head >= this.maxPerClient) {
      return 'client-full';
    }
    q.items.push(item);
    this.count++;
    return 'queued';
  }

  /** Queues a request to be retried, ahead of every client's (it was admitted once already). */
  retry(item: T): void {
    this.retries.push(item);
  }

  /** The next request: a retry, else the next client's in turn. */
  dequeue(): T | undefined {
    const r = this.retries.shift();
    if (r !== undefined) return r;
    const q = this.ring.shift();
    if (q === undefined) return undefined;
    const item = q.items[q.head];
    q.items[q.head++] = undefined;
    this.count--;
    if (q.head >= q.items.length) this.clients.delete(q.key);
    else {
      if (q.head > 64 && q.head * 2 > q.items.length) {
        q.items = q.items.slice(q.head);
        q.head = 0;
      }
      this.ring.push(q);
    }
    return item;
  }

  /** Removes and returns the waiting requests (retries included) for which `old` holds: O(n), for queues nothing can serve. */
  expire(old: (item: T) => boolean): T[] {
    const keep: T[] = [];
    const out: T[] = [];
    for (let r = this.retries.shift(); r !== undefined; r = this.retries.shift()) (old(r) ? out : keep).push(r);
    for (const r of keep) this.retries.push(r);
    for (const [key, q] of this.clients) {
      const items = q.items.slice(q.head).filter((x): x is T => x !== undefined);
      const stay = items.filter((x) => !old(x));
      for (const x of items) if (old(x)) out.push(x);
      this.count -= items.length - stay.length;
      q.items = stay;
      q.head = 0;
      if (stay.length === 0) this.clients.delete(key);
    }
    // Rebuild the ring from the clients still waiting, in their order.
    const ring: ClientQueue<T>[] = [];
    for (let q = this.ring.shift(); q !== undefined; q = this.ring.shift()) if (this.clients.get(q.key) === q) ring.push(q);
    for (const q of ring) this.ring.push(q);
    return out;
  }

  /** Empties the queue, returning what waited. */
  drain(): T[] {
    const out: T[] = [];
    for (let item = this.dequeue(); item !== undefined; item = this.dequeue()) out.push(item);
    return out;
  }
}
