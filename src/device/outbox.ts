/**
 * Requests for batching workers, gathered over one turn of the event loop
 * and sent as one message per worker when the turn ends: one native call for
 * all the requests that came in one read burst. The flush runs in the same
 * turn as the reads (setImmediate's check phase follows the poll phase), so
 * batching adds no wait.
 */
import type { Held, Worker } from './scheduling/balancer.js';

export class Outbox {
  private boxes = new Map<string, { worker: Worker; items: Held[] }>();
  private timer: NodeJS.Immediate | undefined;

  /** `send` gets each worker's requests of the turn, in the order they were given. */
  constructor(private readonly send: (worker: Worker, items: readonly Held[]) => void) {}

  add(h: Held): void {
    const w = h.worker;
    let box = this.boxes.get(w.key);
    if (box === undefined) {
      box = { worker: w, items: [] };
      this.boxes.set(w.key, box);
      this.timer ??= setImmediate(this.flush);
    }
    box.items.push(h);
  }

  /** A worker left: what it was given this turn must not reach whoever takes over its routing id. */
  forget(key: string): void {
    this.boxes.delete(key);
  }

  /** Drops everything (the device is stopping: what a batch held was answered or timed out). */
  clear(): void {
    clearImmediate(this.timer);
    this.timer = undefined;
    this.boxes.clear();
  }

  private readonly flush = (): void => {
    this.timer = undefined;
    const boxes = this.boxes;
    this.boxes = new Map();
    for (const { worker, items } of boxes.values()) this.send(worker, items);
  };
}
