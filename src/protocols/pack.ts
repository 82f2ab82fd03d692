/**
 * Packed batches: many requests (or replies) in one message, their bodies in
 * a few frames rather than a frame each. zeromq.js pays per message (a native
 * call, a promise) and per frame (a new Buffer); a packed batch pays that once
 * for all its entries. Both of zqueue's batched wires use it: the client's
 * (src/protocols/client-wire.ts) and the worker protocol's version 4
 * (src/protocols/zqueue.ts).
 *
 * A packed batch is one frame, the pack, then any frames too large to copy
 * into it (the extras), in order. The pack is a run of entries:
 *
 *     u32 id          the request's id (the sender's own numbering)
 *     u32 budget      ms left before the client stops waiting (0: none)
 *     u16 flags       FLAG_RETRY, FLAG_CANCEL (requests); 0 in replies
 *     u16 frames      how many body frames follow
 *     per frame:
 *       u32 length    its bytes follow at once; or EXTRA (bit 31 set): the
 *                     body frame is the next extra frame of the message
 *
 * All integers big-endian. A frame of up to INLINE_MAX bytes is copied into
 * the pack; a larger one goes as an extra frame, which tcp and ipc send
 * without a copy. A reader checks every length against what is there: a pack
 * that is cut short, an entry longer than its frame, or extras that do not
 * add up is refused (see `unpack`), and nothing it read is allocated beyond
 * views into the frames it came in.
 */
/** Bytes of an entry's fixed part. */
export const ENTRY_BYTES = 12;
/** Bytes of a frame's length word. */
export const FRAME_BYTES = 4;
/** Body frames up to this many bytes are copied into the pack; larger ones go as extra frames. */
export const INLINE_MAX = 8 * 1024;
/** A frame length word with this bit set: the frame is the next extra frame. */
const EXTRA = 0x8000_0000;
/** A retry of a request the receiver may still hold (the same id): it replaces a copy still queued. */
export const FLAG_RETRY = 1;
/** The sender withdraws the request with this id (the entry has no body): drop it if it still waits. */
export const FLAG_CANCEL = 2;
/** Flags a reader accepts; any other bit set makes the batch malformed. */
const KNOWN_FLAGS = FLAG_RETRY | FLAG_CANCEL;
/** The most frames one entry may have (u16). */
export const MAX_ENTRY_FRAMES = 0xffff;

/** One entry to pack: `frames[from..]` is its body. */
export interface PackItem {
  readonly id: number;
  readonly budgetMs: number;
  readonly flags: number;
  readonly frames: readonly Buffer[];
  readonly from: number;
}

/** Bytes an item takes in the pack (its inline frames included). */
export function packedSize(item: PackItem): number {
  let n = ENTRY_BYTES;
  const frames = item.frames;
  for (let i = item.from; i < frames.length; i++) {
    const len = (frames[i] as Buffer).length;
    n += FRAME_BYTES + (len > INLINE_MAX ? 0 : len);
  }
  return n;
}

/**
 * Appends the batch to `out`: the pack, then its extras. `bytes`: the pack's
 * size, the sum of packedSize() over the items (the caller has it already).
 */
export function pack(out: Buffer[], items: readonly PackItem[], bytes: number): void {
  const p = Buffer.allocUnsafe(bytes);
  out.push(p);
  let at = 0;
  for (const item of items) {
    const frames = item.frames;
    p.writeUInt32BE(item.id >>> 0, at);
    p.writeUInt32BE(item.budgetMs >>> 0, at + 4);
    p.writeUInt16BE(item.flags, at + 8);
    p.writeUInt16BE(frames.length - item.from, at + 10);
    at += ENTRY_BYTES;
    for (let i = item.from; i < frames.length; i++) {
      const f = frames[i] as Buffer;
      if (f.length > INLINE_MAX) {
        p.writeUInt32BE(EXTRA, at);
        at += FRAME_BYTES;
        out.push(f);
      } else {
        p.writeUInt32BE(f.length, at);
        at += FRAME_BYTES;
        at += f.copy(p, at);
      }
    }
  }
  if (at !== bytes) throw new RangeError(`pack: ${bytes} bytes announced, ${at} written`);
}

/** Called for each entry of a batch: `body` are views into the message's frames. */
export type OnEntry = (id: number, budgetMs: number, flags: number, body: Buffer[]) => void;

/** Why a batch was refused, and the entries read before the fault. */
export interface PackFault {
  readonly reason: string;
  /** Entries given to `onEntry` before the fault (0: none). */
  readonly read: number;
  /** The id of the entry at fault, when its fixed part could be read. */
  readonly id: number | undefined;
}

/**
 * Reads the batch whose pack is `frames[at]` and whose extras follow it,
 * calling `onEntry` for each entry. Returns the number of entries, or a
 * PackFault: a pack cut short, an entry longer than what is left, an extra
 * frame missing or left over, unknown flags, a cancel with a body, or more
 * entries than `maxEntries` or body frames than `maxFrames` in one entry.
 * Entries read before the fault were given to `onEntry`.
 */
export function unpack(
  frames: readonly Buffer[],
  at: number,
  onEntry: OnEntry,
  maxEntries: number,
  maxFrames: number = MAX_ENTRY_FRAMES,
): number | PackFault {
  const p = frames[at];
  if (p === undefined) return { reason: 'no pack frame', read: 0, id: undefined };
  let extra = at + 1;
  let o = 0;
  let n = 0;
  const end = p.length;
  if (end === 0) return { reason: 'an empty pack', read: 0, id: undefined };
  while (o < end) {
    if (o + ENTRY_BYTES > end) return { reason: 'a pack cut short in an entry', read: n, id: undefined };
    const id = p.readUInt32BE(o);
    if (n >= maxEntries) return { reason: `more than ${maxEntries} entries`, read: n, id };
    const budget = p.readUInt32BE(o + 4);
    const flags = p.readUInt16BE(o + 8);
    const count = p.readUInt16BE(o + 10);
    o += ENTRY_BYTES;
    if ((flags & ~KNOWN_FLAGS) !== 0) return { reason: `unknown flags 0x${flags.toString(16)}`, read: n, id };
    if ((flags & FLAG_CANCEL) !== 0 && count !== 0) return { reason: 'a cancel with a body', read: n, id };
    if (count > maxFrames) return { reason: `an entry of ${count} frames (at most ${maxFrames})`, read: n, id };
    // Each frame takes at least its length word: a count the pack cannot hold is refused before anything is allocated.
    if (o + count * FRAME_BYTES > end) return { reason: 'an entry claims more frames than the pack holds', read: n, id };
    const body: Buffer[] = new Array<Buffer>(count);
    for (let i = 0; i < count; i++) {
      // Inline bodies before it may have used the room the count check saw.
      if (o + FRAME_BYTES > end) return { reason: 'a pack cut short in a frame length', read: n, id };
      const len = p.readUInt32BE(o);
      o += FRAME_BYTES;
      if (len === EXTRA) {
        const f = frames[extra];
        if (f === undefined) return { reason: 'an extra frame is missing', read: n, id };
        body[i] = f;
        extra++;
      } else if (len > INLINE_MAX || o + len > end) {
        return {
          reason: len > INLINE_MAX ? `an inline frame of ${len} bytes (at most ${INLINE_MAX})` : 'a frame longer than the pack',
          read: n,
          id,
        };
      } else {
        body[i] = p.subarray(o, o + len);
        o += len;
      }
    }
    onEntry(id, budget, flags, body);
    n++;
  }
  if (extra !== frames.length) return { reason: `${frames.length - extra} extra frames left over`, read: n, id: undefined };
  return n;
}
