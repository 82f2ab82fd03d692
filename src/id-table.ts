/**
 * A table of values by request id (an unsigned 32-bit integer), for the
 * tables that take an entry and lose it again for every request: the
 * client's requests in flight, the device's requests held by workers.
 *
 * Why not a Map: V8 rebuilds a Map's hash table as deleted entries pile up,
 * and the table it leaves keeps its entries and a link to its successor
 * (for iterators still walking it). Once one such table has reached the old
 * generation, every later table, and every value they hold, stays reachable
 * from it until the next full collection; each young collection then copies
 * and promotes nearly all it finds, the old generation fills, and the process
 * settles into a cycle of slow scavenges and full collections (seen as a
 * client that spent a third of its time in the collector, one run in two).
 * This table keeps its entries in two arrays of its own, clears a slot when
 * its entry goes, and drops both arrays outright when it grows.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones); ids are spread by Fibonacci hashing, so sequential ids fill
 * the table evenly. No order is kept.
 */
export class IdTable<T extends NonNullable<unknown>> {
  private ids = new Uint32Array(0);
  private vals: (T | undefined)[] = [];
  private bits = 0;
  private mask = 0;
  private count = 0;
  private readonly firstBits: number;

  /** `capacity`: entries it takes before it first grows. */
  constructor(capacity = 16) {
    this.firstBits = Math.max(4, Math.ceil(Math.log2(Math.max(2, capacity) * 2)));
    this.alloc(this.firstBits);
  }

  get size(): number {
    return this.count;
  }

  get(id: number): T | undefined {
    const vals = this.vals;
    const ids = this.ids;
    const mask = this.mask;
    for (let i = this.home(id); ; i = (i + 1) & mask) {
      const v = vals[i];
      if (v === undefined) return undefined;
      if (ids[i] === id) return v;
    }
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  set(id: number, value: T): void {
    const vals = this.vals;
    const ids = this.ids;
    const mask = this.mask;
    for (let i = this.home(id); ; i = (i + 1) & mask) {
      if (vals[i] === undefined) {
        ids[i] = id;
        vals[i] = value;
        // At most half full: probes stay short.
        if (++this.count * 2 > mask + 1) this.grow();
        return;
      }
      if (ids[i] === id) {
        vals[i] = value;
        return;
      }
    }
  }

  /** Removes `id`'s entry; whether there was one. */
  delete(id: number): boolean {
    const vals = this.vals;
    const ids = this.ids;
    const mask = this.mask;
    let i = this.home(id);
    for (; ; i = (i + 1) & mask) {
      if (vals[i] === undefined) return false;
      if (ids[i] === id) break;
    }
    vals[i] = undefined;
    this.count--;
    // Backward shift: an entry further along the run moves into the gap unless its home lies cyclically in (gap, its slot].
    for (let j = (i + 1) & mask; vals[j] !== undefined; j = (j + 1) & mask) {
      const home = this.home(ids[j] as number);
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      ids[i] = ids[j] as number;
      vals[i] = vals[j];
      vals[j] = undefined;
      i = j;
    }
    return true;
  }

  /** Empties the table, back to its first size. */
  clear(): void {
    if (this.count === 0 && this.bits === this.firstBits) return;
    this.alloc(this.firstBits);
  }

  /** Some entry's value (which one is unspecified), or undefined when empty. */
  any(): T | undefined {
    if (this.count === 0) return undefined;
    for (const v of this.vals) if (v !== undefined) return v;
    return undefined;
  }

  /** The values, copied into an array: the table may change while the caller walks it. */
  values(): T[] {
    const out: T[] = [];
    if (this.count === 0) return out;
    for (const v of this.vals) if (v !== undefined) out.push(v);
    return out;
  }

  /** Fresh, empty arrays of 2^bits slots. */
  private alloc(bits: number): void {
    this.bits = bits;
    this.mask = (1 << bits) - 1;
    this.ids = new Uint32Array(1 << bits);
    this.vals = new Array<T | undefined>(1 << bits).fill(undefined);
    this.count = 0;
  }

  private home(id: number): number {
    return Math.imul(id, 0x9e3779b1) >>> (32 - this.bits);
  }

  private grow(): void {
    const ids = this.ids;
    const vals = this.vals;
    this.alloc(this.bits + 1);
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v !== undefined) this.set(ids[i] as number, v);
    }
  }
}
