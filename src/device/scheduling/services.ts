/**
 * least-busy's workers by service (Majordomo, RFC 7): one Balancer per
 * service, each with its own workers, credits and fair queue, least-busy
 * within it. The default service '' holds zqueue's own workers and
 * Paranoid Pirate workers; a Majordomo worker's READY names its service.
 */
import { performance } from 'node:perf_hooks';
import { Balancer, type Held, type Joining, type Pending, type Worker } from './balancer.js';
import type { QueueStats } from './fairqueue.js';

export interface ServiceStats {
  readonly workers: number;
  readonly queued: number;
  readonly inFlight: number;
}

export class ServicePools {
  private readonly pools = new Map<string, Balancer>();
  private readonly serviceOf = new Map<string, string>();
  /** Each known worker's pool, looked up on every message: one Map read. */
  private readonly poolOf = new Map<string, Balancer>();

  constructor(private readonly make: () => Balancer) {
    this.pools.set('', make());
  }

  /** A service's pool, made when first asked for. */
  pool(service: string): Balancer {
    let p = this.pools.get(service);
    if (p === undefined) {
      p = this.make();
      this.pools.set(service, p);
    }
    return p;
  }

  /** Whether a service has at least one worker. */
  offered(service: string): boolean {
    return (this.pools.get(service)?.size ?? 0) > 0;
  }

  /** The pool of the worker `key`, if it is known. */
  of(key: string): Balancer | undefined {
    return this.poolOf.get(key);
  }

  service(key: string): string | undefined {
    return this.serviceOf.get(key);
  }

  /** A worker joins `service`'s pool (the one it was in, if another, is left first: its requests are the caller's to rehome). */
  join(service: string, id: Buffer, joining: Joining, now: number): { worker: Worker; orphans: Held[] } {
    const key = id.toString('latin1');
    const before = this.serviceOf.get(key);
    const orphans = before !== undefined && before !== service ? this.leave(key) : [];
    this.serviceOf.set(key, service);
    const pool = this.pool(service);
    this.poolOf.set(key, pool);
    return { worker: pool.join(id, joining, now), orphans };
  }

  leave(key: string): Held[] {
    const pool = this.of(key);
    this.serviceOf.delete(key);
    this.poolOf.delete(key);
    return pool?.leave(key) ?? [];
  }

  worker(key: string): Worker | undefined {
    return this.of(key)?.worker(key);
  }

  seen(key: string, now: number): boolean {
    return this.of(key)?.seen(key, now) ?? false;
  }

  heartbeating(key: string): boolean {
    return this.of(key)?.heartbeating(key) ?? false;
  }

  retire(key: string): boolean {
    return this.of(key)?.retire(key) ?? false;
  }

  complete(key: string, id: number, now: number): Held | undefined {
    return this.of(key)?.complete(key, id, now);
  }

  heldRequest(key: string): Held | undefined {
    return this.of(key)?.heldRequest(key);
  }

  get size(): number {
    return this.serviceOf.size;
  }

  get inFlight(): number {
    let n = 0;
    for (const p of this.pools.values()) n += p.inFlight;
    return n;
  }

  get queued(): number {
    let n = 0;
    for (const p of this.pools.values()) n += p.queued;
    return n;
  }

  *workers(): IterableIterator<Worker> {
    for (const p of this.pools.values()) yield* p.workers();
  }

  *entries(): IterableIterator<[string, Balancer]> {
    yield* this.pools.entries();
  }

  silentSince(deadline: number): Worker[] {
    const out: Worker[] = [];
    for (const p of this.pools.values()) out.push(...p.silentSince(deadline));
    return out;
  }

  expire(deadline: number): Held[] {
    const out: Held[] = [];
    for (const p of this.pools.values()) out.push(...p.expire(deadline));
    return out;
  }

  drainQueue(): Pending[] {
    const out: Pending[] = [];
    for (const p of this.pools.values()) out.push(...p.drainQueue());
    return out;
  }

  queueStats(): Omit<QueueStats, 'busyPerClient'> {
    let clientsWaiting = 0;
    let deepestClient = 0;
    let oldestWaitMs = 0;
    const now = performance.now();
    for (const p of this.pools.values()) {
      const q = p.queueStats(now);
      clientsWaiting += q.clientsWaiting;
      deepestClient = Math.max(deepestClient, q.deepestClient);
      oldestWaitMs = Math.max(oldestWaitMs, q.oldestWaitMs);
    }
    return { clientsWaiting, deepestClient, oldestWaitMs };
  }

  /** Per named service (the default pool is '' and listed too once it has had workers or requests). */
  stats(): Record<string, ServiceStats> {
    const out: Record<string, ServiceStats> = {};
    for (const [name, p] of this.pools) out[name] = { workers: p.size, queued: p.queued, inFlight: p.inFlight };
    return out;
  }
}
