/**
 * zqueue's own worker protocol, both ends of it: the device's codec and the
 * server's messages.
 *
 * Worker -> device (control messages start with an empty frame, which no
 * reply envelope does: an envelope starts with a peer identity):
 *
 *     ["", "READY", "<credits>", "<heartbeat ms>", "<version>"]
 *                                  the worker takes up to <credits> requests at once;
 *                                  a period above 0 says it heartbeats; version
 *                                  (optional, 1 when absent): 2 takes batches,
 *                                  3 also takes each request's deadline
 *     ["", "REPLIES", header, body frames...]
 *                                  replies to a REQUESTS batch (see below)
 *     ["", "PACKED", pack, extras...]
 *                                  replies to a PACKED batch (version 4)
 *     ["", "BYE"]                  the worker is leaving; send it nothing more
 *     ["", "HEARTBEAT"]            the worker is alive (every interval)
 *     [<id>, envelope..., "", body...]
 *                                  a version-1 worker's reply: the request as it came, answered
 *
 * Device -> worker:
 *
 *     ["", "HEARTBEAT"]            the device is alive (to workers that heartbeat)
 *     ["", "DISCONNECT"]           the device does not know this worker (it restarted,
 *                                  or declared the worker dead): reconnect, say READY
 *     ["", "REQUESTS", header, body frames...]
 *                                  requests for a version-2 or 3 worker, several in one message
 *     ["", "PACKED", pack, extras...]
 *                                  requests for a version-4 worker: a packed batch
 *                                  (src/protocols/pack.ts), bodies in a few frames
 *     [<id>, envelope..., "", body...]
 *                                  a request for a version-1 worker, which echoes the
 *                                  envelope like any REP server
 *
 * Batches. A least-busy device sends a version-2+ worker the requests it
 * gives it in one turn of the event loop as one message, and the worker
 * answers the replies it has ready in one turn as one message: one socket
 * operation on each side for many requests, where each costs a native call,
 * a promise and a wake-up of libzmq's I/O thread. A header has an entry per
 * request, and the bodies follow in order:
 *
 * - REPLIES, and REQUESTS to a version-2 worker: 8 bytes an entry, the id and
 *   how many body frames follow for it (two u32, big-endian);
 * - REQUESTS to a version-3 worker: 12 bytes an entry, the id, the frame
 *   count and the request's budget: the milliseconds left before its client
 *   stops waiting, when the device sent it (u32; 0: no deadline).
 *
 * A header holds at most 128 bytes (16 or 10 entries); a larger batch is
 * several header-and-bodies groups in a row. The envelope stays at the
 * device, which keeps each request until its reply comes.
 *
 * Version 4 packs a batch (pack.ts): each entry's id, budget and body in one
 * frame, where bodies up to 8 KiB are copied; a frame per body costs a new
 * Buffer and a pass through zeromq.js's frame loop on each side. A worker
 * answers in the form the device asked in: PACKED to PACKED, REPLIES to
 * REQUESTS, so a version-4 worker serves an older device too.
 *
 * A device that does not know these messages (the seed's, or a round-robin
 * zqueue device) passes them to its ROUTER frontend, which drops them as
 * unroutable.
 */
import {
  emptyFrom,
  malformed,
  type BatchEntry,
  type OutgoingRequest,
  type PackedEntry,
  type PeerView,
  type ServerCodec,
  type ServerEvent,
  type WorkerCodec,
  type WorkerEvent,
} from './types.js';
export type { BatchEntry, PackedEntry } from './types.js';
import { EMPTY, budgetIn } from '../protocol.js';
import { pack, packedSize, unpack, type PackItem } from './pack.js';

export const READY = Buffer.from('READY');
export const BYE = Buffer.from('BYE');
export const HEARTBEAT = Buffer.from('HEARTBEAT');
export const DISCONNECT = Buffer.from('DISCONNECT');
export const REQUESTS = Buffer.from('REQUESTS');
export const REPLIES = Buffer.from('REPLIES');
export const PACKED = Buffer.from('PACKED');

/** The worker protocol version this code speaks: 2 takes batches, 3 also deadlines, 4 packed batches. */
export const WORKER_PROTOCOL = 4;
/** The most entries a packed batch holds (a larger one is several messages). */
export const PACKED_MAX = 1024;

/** Bytes per entry in a batch header without deadlines: its id and its body's frame count (u32 each). */
export const BATCH_ENTRY = 8;
/** Bytes per entry with deadlines: id, frame count, budget in ms (u32 each). */
export const BATCH_ENTRY_DEADLINE = 12;
/**
 * The most bytes in one header: 128, the most zeromq.js copies; a larger
 * buffer it sends zero-copy and releases from libzmq's I/O thread. A bench
 * run with unbounded headers once ended in a heap corruption in native code
 * that later runs did not reproduce; bounded, a header takes the path every
 * other small frame takes.
 */
const HEADER_MAX_BYTES = 128;
/** Most requests under one 8-byte-entry header. */
export const BATCH_MAX = HEADER_MAX_BYTES / BATCH_ENTRY;

/** One request or reply to put in a batch: its id, and its frames from `bodyAt` on are its body. */
export interface BatchItem {
  readonly id: number;
  readonly frames: readonly Buffer[];
  readonly bodyAt: number;
  /** Its deadline (ms, performance.now()); 0 or absent: none. Written only with deadline entries. */
  readonly deadline?: number;
}

/** The budget on the wire: what is left of a deadline, at least 1 ms (0 means none). */
export function budgetOf(deadline: number | undefined, now: number): number {
  if (deadline === undefined || deadline === 0) return 0;
  return Math.min(0xffff_ffff, Math.max(1, Math.ceil(deadline - now)));
}

/** Appends `items` to `message` as a batch: groups of headers, each then its bodies. `now` given: entries carry budgets. */
export function appendBatch(message: Buffer[], items: readonly BatchItem[], now?: number): void {
  const entry = now === undefined ? BATCH_ENTRY : BATCH_ENTRY_DEADLINE;
  const max = Math.floor(HEADER_MAX_BYTES / entry);
  for (let g = 0; g < items.length; g += max) {
    const n = Math.min(max, items.length - g);
    const header = Buffer.allocUnsafe(n * entry);
    message.push(header);
    for (let i = 0; i < n; i++) {
      const item = items[g + i] as BatchItem;
      const at = i * entry;
      header.writeUInt32BE(item.id, at);
      header.writeUInt32BE(item.frames.length - item.bodyAt, at + 4);
      if (now !== undefined) header.writeUInt32BE(budgetOf(item.deadline, now), at + 8);
      for (let f = item.bodyAt; f < item.frames.length; f++) message.push(item.frames[f] as Buffer);
    }
  }
}

/**
 * Reads a batch: `frames[at]` is the first header, its bodies follow, then the
 * next group's header, and so on. Undefined when the message does not add up
 * (a header empty or not a multiple of the entry size, a count that runs past
 * the frames): it is then dropped whole.
 */
export function parseBatch(frames: readonly Buffer[], at: number, entry = BATCH_ENTRY): BatchEntry[] | undefined {
  const entries: BatchEntry[] = [];
  let next = at;
  do {
    const header = frames[next];
    if (header === undefined || header.length === 0 || header.length % entry !== 0) return undefined;
    let start = next + 1;
    for (let o = 0; o < header.length; o += entry) {
      const end = start + header.readUInt32BE(o + 4);
      if (end > frames.length) return undefined;
      entries.push({ id: header.readUInt32BE(o), start, end, budgetMs: entry === BATCH_ENTRY_DEADLINE ? header.readUInt32BE(o + 8) : 0 });
      start = end;
    }
    next = start;
  } while (next < frames.length);
  return entries;
}

/** The size of a REQUESTS header's entries for a worker that speaks `version`. */
export function entrySize(version: number): number {
  return version >= 3 ? BATCH_ENTRY_DEADLINE : BATCH_ENTRY;
}

function verbIs(frames: readonly Buffer[], verb: Buffer): boolean {
  const f = frames[2];
  return f !== undefined && f.length === verb.length && f.equals(verb);
}

// ---------------------------------------------------------------- the device's side

export const zqueueCodec: WorkerCodec = {
  name: 'zqueue',

  // The fallback: asked last, it takes whatever the others did not.
  claims: () => true,

  decode(frames: readonly Buffer[], peer: PeerView): WorkerEvent {
    const second = frames[1] as Buffer;
    if (second.length === 0) {
      if (verbIs(frames, PACKED)) {
        const replies: { id: number; from: number; to: number; body: Buffer[] }[] = [];
        const r = unpack(frames, 3, (id, _budget, _flags, body) => replies.push({ id, from: 0, to: 0, body }), 0xffff_ffff);
        // Not from a zqueue worker that works: what it read before the fault is answered, the rest times out or is retried when it goes.
        if (typeof r !== 'number') return malformed(`a PACKED batch that does not add up (${r.reason})`);
        return { kind: 'replies', replies, disconnect: !peer.known };
      }
      if (verbIs(frames, REPLIES)) {
        const entries = parseBatch(frames, 3);
        // Not from a zqueue worker that works: its requests time out, or are retried when it goes.
        if (entries === undefined) return malformed('a REPLIES batch that does not add up');
        return { kind: 'replies', replies: entries.map((e) => ({ id: e.id, from: e.start, to: e.end })), disconnect: !peer.known };
      }
      if (verbIs(frames, HEARTBEAT)) return { kind: 'heartbeat', disconnectUnknown: true };
      if (verbIs(frames, READY)) {
        const credits = Number(frames[3]?.toString() ?? '1');
        // READY's optional 4th frame: the worker heartbeats; its optional 5th: the protocol version.
        const version = Number(frames[5]?.toString() ?? '1');
        const heartbeats = Number(frames[4]?.toString() ?? '0') > 0;
        return {
          kind: 'ready',
          service: '',
          joining: {
            credits: Number.isInteger(credits) && credits > 0 ? credits : 1,
            heartbeats,
            batches: version >= 2,
            deadlines: version >= 3,
            packed: version >= 4,
            prefetch: true,
            protocol: 'zqueue',
          },
          greet: heartbeats,
          reset: false,
        };
      }
      if (verbIs(frames, BYE)) return { kind: 'bye' };
      return malformed('an unknown command', true);
    }
    if (second.length === 4) {
      // A version-1 reply, [id, <request id>, envelope echoed..., "", body...]: the body goes back along the request's envelope.
      // From a worker the device does not know (declared dead, or from before a restart): it must reconnect and say READY.
      const d = emptyFrom(frames, 3);
      return {
        kind: 'replies',
        replies: [{ id: second.readUInt32BE(0), from: d < 0 ? -1 : d + 1, to: frames.length }],
        disconnect: !peer.known,
      };
    }
    return malformed('neither a command nor a reply');
  },

  request(worker: Buffer, r: OutgoingRequest): Buffer[] {
    const id = Buffer.allocUnsafe(4);
    id.writeUInt32BE(r.id, 0);
    return [worker, id, ...r.frames];
  },

  heartbeat: (worker) => [worker, EMPTY, HEARTBEAT],
  disconnect: (worker) => [worker, EMPTY, DISCONNECT],
};

/** A batch of requests for a version-2+ worker: one message; with deadlines (version 3) when `now` is given. */
export function requestBatch(worker: Buffer, items: readonly BatchItem[], now?: number): Buffer[] {
  const message = [worker, EMPTY, REQUESTS];
  appendBatch(message, items, now);
  return message;
}

/**
 * Packed batches (version 4), `[...head, PACKED, pack, extras...]`: at most PACKED_MAX entries a message; `now` given, entries carry
 * budgets.
 */
export function appendPacked(messages: Buffer[][], head: readonly Buffer[], items: readonly BatchItem[], now: number | undefined): void {
  for (let g = 0; g < items.length; g += PACKED_MAX) {
    const n = Math.min(PACKED_MAX, items.length - g);
    const entries: PackItem[] = new Array<PackItem>(n);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const item = items[g + i] as BatchItem;
      const e: PackItem = {
        id: item.id,
        budgetMs: now === undefined ? 0 : budgetOf(item.deadline, now),
        flags: 0,
        frames: item.frames,
        from: item.bodyAt,
      };
      bytes += packedSize(e);
      entries[i] = e;
    }
    const message = [...head, PACKED];
    pack(message, entries, bytes);
    messages.push(message);
  }
}

/** Requests for a version-4 worker, as packed batches (one message for up to PACKED_MAX). */
export function packedRequests(worker: Buffer, items: readonly BatchItem[], now: number): Buffer[][] {
  const messages: Buffer[][] = [];
  appendPacked(messages, [worker, EMPTY], items, now);
  return messages;
}

/** Whether a message can only be a zqueue worker's command (on a socket shared with clients). */
export function isCommand(frames: readonly Buffer[]): boolean {
  return (
    (frames[1] as Buffer).length === 0 &&
    (verbIs(frames, READY) || verbIs(frames, HEARTBEAT) || verbIs(frames, BYE) || verbIs(frames, REPLIES) || verbIs(frames, PACKED))
  );
}

// ---------------------------------------------------------------- the worker's side

export const workerMessages = {
  ready: (credits: number, heartbeatMs: number): Buffer[] => [
    EMPTY,
    READY,
    Buffer.from(String(credits)),
    Buffer.from(String(heartbeatMs)),
    Buffer.from(String(WORKER_PROTOCOL)),
  ],
  heartbeat: (): Buffer[] => [EMPTY, HEARTBEAT],
  bye: (): Buffer[] => [EMPTY, BYE],
  /** The replies of one turn, as one REPLIES message. */
  replies(items: readonly BatchItem[]): Buffer[] {
    const message = [EMPTY, REPLIES];
    appendBatch(message, items);
    return message;
  },
  /** The replies of one turn to a device that sends PACKED batches: packed the same way. */
  packedReplies(items: readonly BatchItem[]): Buffer[][] {
    const messages: Buffer[][] = [];
    appendPacked(messages, [EMPTY], items, undefined);
    return messages;
  },
};

/** A message from the device, as a zqueue worker (a DEALER) reads it. */
export type DeviceMessage =
  | { readonly kind: 'requests'; readonly entries: readonly BatchEntry[] }
  | { readonly kind: 'packed'; readonly entries: readonly PackedEntry[] }
  | { readonly kind: 'heartbeat' }
  | { readonly kind: 'disconnect' }
  /** A request with its envelope, `frames[0..delimiter]` (a version-1 request, or any device's). */
  | { readonly kind: 'request'; readonly delimiter: number }
  | { readonly kind: 'malformed' }
  | { readonly kind: 'ignored' };

/**
 * Reads a device's message at a worker that speaks `version` (a control message starts with an empty frame; a request with an identity).
 */
export function fromDevice(frames: readonly Buffer[], version = WORKER_PROTOCOL): DeviceMessage {
  if (frames[0]?.length === 0) {
    const verb = frames[1];
    if (verb?.equals(PACKED) === true) {
      const entries: PackedEntry[] = [];
      const r = unpack(frames, 2, (id, budgetMs, _flags, body) => entries.push({ id, body, budgetMs }), 0xffff_ffff);
      return typeof r !== 'number' ? { kind: 'malformed' } : { kind: 'packed', entries };
    }
    if (verb?.equals(REQUESTS) === true) {
      const entries = parseBatch(frames, 2, entrySize(version));
      return entries === undefined ? { kind: 'malformed' } : { kind: 'requests', entries };
    }
    if (verb?.equals(HEARTBEAT) === true) return { kind: 'heartbeat' };
    if (verb?.equals(DISCONNECT) === true) return { kind: 'disconnect' };
    return { kind: 'ignored' };
  }
  const d = emptyFrom(frames, 0);
  return d < 0 ? { kind: 'malformed' } : { kind: 'request', delimiter: d };
}

/**
 * zqueue's worker protocol at the server: READY with credits, heartbeat
 * period and version; batches in, and single requests from any device (a
 * plain request's budget is read from its deadline frame).
 */
export const zqueueServerCodec: ServerCodec = {
  name: 'zqueue',
  ready: (credits, heartbeatMs) => workerMessages.ready(credits, heartbeatMs),
  heartbeat: () => workerMessages.heartbeat(),
  leave: () => workerMessages.bye(),
  decode(frames: Buffer[], announces: boolean): ServerEvent {
    // From a device, a request starts with an identity; an empty first frame is the device's control message.
    // A server that does not announce itself reads every message as a request (version 0: no control messages).
    const m = announces ? fromDevice(frames) : fromDevice(frames, 0);
    switch (m.kind) {
      case 'request': {
        const d = m.delimiter;
        return { kind: 'request', envelope: frames.slice(0, d + 1), body: frames.slice(d + 1), head: [], budgetMs: budgetIn(frames, d) };
      }
      case 'disconnect':
        return { kind: 'disconnect', why: 'the device asked (it did not know this server)' };
      default:
        return m;
    }
  },
};
