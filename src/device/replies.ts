/**
 * Replies for clients on the batched client wire (src/protocols/client-wire.ts),
 * gathered over one turn of the event loop and sent as one message per
 * client when the turn ends: `[identity, BATCH, pack, extras...]`. The flush
 * runs in the same turn as the reads that brought the replies (setImmediate's
 * check phase follows the poll phase), so batching adds no wait.
 */
import { BATCH, CLIENT_BATCH } from '../protocols/client-wire.js';
import { INLINE_MAX, pack, packedSize, type PackItem } from '../protocols/pack.js';

interface Box {
  readonly identity: Buffer;
  items: PackItem[];
}

export class ClientReplies {
  private boxes = new Map<string, Box>();
  private timer: NodeJS.Immediate | undefined;

  /** `send` gets each message, `[identity, BATCH, pack, extras...]`, and how many replies it carries. */
  constructor(private readonly send: (message: Buffer[], replies: number) => void) {}

  /** A reply to request `id` of the client `identity`: `body[from..]`. */
  add(identity: Buffer, id: number, body: readonly Buffer[], from: number): void {
    const key = identity.toString('latin1');
    let box = this.boxes.get(key);
    if (box === undefined) {
      box = { identity, items: [] };
      this.boxes.set(key, box);
      this.timer ??= setImmediate(this.flush);
    }
    box.items.push({ id, budgetMs: 0, flags: 0, frames: body, from });
  }

  /** Drops everything (the device is stopping). */
  clear(): void {
    clearImmediate(this.timer);
    this.timer = undefined;
    this.boxes.clear();
  }

  /** Sends what is gathered now. */
  readonly flush = (): void => {
    clearImmediate(this.timer);
    this.timer = undefined;
    const boxes = this.boxes;
    this.boxes = new Map();
    for (const box of boxes.values()) this.sendBox(box);
  };

  /** One client's replies, in messages of at most CLIENT_BATCH's entries and bytes (a single larger reply goes alone). */
  private sendBox(box: Box): void {
    const items = box.items;
    let start = 0;
    let bytes = 0;
    let total = 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as PackItem;
      const size = packedSize(item);
      const weight = size + extras(item);
      if (i > start && (i - start >= CLIENT_BATCH.maxEntries || total + weight > CLIENT_BATCH.maxBytes)) {
        this.emit(box.identity, items.slice(start, i), bytes);
        start = i;
        bytes = 0;
        total = 0;
      }
      bytes += size;
      total += weight;
    }
    if (start < items.length) this.emit(box.identity, start === 0 ? items : items.slice(start), bytes);
  }

  private emit(identity: Buffer, items: readonly PackItem[], bytes: number): void {
    const message = [identity, BATCH];
    pack(message, items, bytes);
    this.send(message, items.length);
  }
}

function extras(item: PackItem): number {
  let n = 0;
  for (let i = item.from; i < item.frames.length; i++) {
    const len = (item.frames[i] as Buffer).length;
    if (len > INLINE_MAX) n += len;
  }
  return n;
}
