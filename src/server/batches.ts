/**
 * Worker protocol 2 and above at a server: batched requests wait in an inbox
 * until a slot is free, and the replies of one turn of the event loop go back
 * as one message, REPLIES or PACKED as the device sent (src/protocols/zqueue.ts).
 */
import { workerMessages, type BatchEntry, type BatchItem, type PackedEntry } from '../protocols/zqueue.js';

export interface Batched {
  readonly id: number;
  readonly body: Buffer[];
  /** When its client stops waiting (ms since the epoch); undefined: it did not say. */
  readonly deadline: number | undefined;
}

export class Inbox {
  private items: Batched[] = [];
  private head = 0;

  get waiting(): number {
    return this.items.length - this.head;
  }

  /** A REQUESTS message's requests, as the worker protocol read them. */
  take(frames: readonly Buffer[], entries: readonly BatchEntry[]): void {
    const now = Date.now();
    for (const e of entries)
      this.items.push({ id: e.id, body: frames.slice(e.start, e.end), deadline: e.budgetMs > 0 ? now + e.budgetMs : undefined });
  }

  /** A PACKED message's requests (worker protocol 4). */
  takePacked(entries: readonly PackedEntry[]): void {
    const now = Date.now();
    for (const e of entries) this.items.push({ id: e.id, body: e.body, deadline: e.budgetMs > 0 ? now + e.budgetMs : undefined });
  }

  next(): Batched | undefined {
    const item = this.items[this.head];
    if (item === undefined) return undefined;
    this.head++;
    if (this.head >= this.items.length) this.clear();
    return item;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class Outbox {
  private items: BatchItem[] = [];
  private timer: NodeJS.Immediate | undefined;
  /** The device sends PACKED batches: replies go packed too (else as REPLIES). */
  packed = false;

  constructor(private readonly send: (message: Buffer[]) => void) {}

  /** Queues a reply; the turn's replies go as one message when the turn ends. */
  add(id: number, frames: Buffer[]): void {
    this.items.push({ id, frames, bodyAt: 0 });
    this.timer ??= setImmediate(this.flush);
  }

  /** Sends what is queued now. */
  readonly flush = (): void => {
    clearImmediate(this.timer);
    this.timer = undefined;
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    if (this.packed) for (const m of workerMessages.packedReplies(items)) this.send(m);
    else this.send(workerMessages.replies(items));
  };

  /** Drops what is queued (the socket is being destroyed). */
  discard(): void {
    clearImmediate(this.timer);
    this.timer = undefined;
    this.items = [];
  }
}
