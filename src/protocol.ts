/**
 * What travels on the wire beyond the seed's plain request/reply.
 *
 * Requests and replies keep the REQ/REP envelope: `[identity..., "", body...]`.
 *
 * Error replies are a single frame of UTF-8 text, so that a plain REQ client
 * (the seed's Python one) can read them as it reads any reply:
 *
 *     ZQ-ERROR <kind>: <message>
 *
 * `kind` is one of ErrorKind. Replies that start with `ZQ-ERROR ` are reserved
 * for zqueue; the zqueue client turns them into a ZqueueError.
 *
 * Worker control messages (worker -> device) start with an empty frame, which
 * no reply envelope does (an envelope starts with a peer identity):
 *
 *     ["", "READY", "<credits>", "<heartbeat ms>", "<version>"]
 *                                  the worker takes up to <credits> requests at once;
 *                                  a period above 0 says it heartbeats; version 2
 *                                  (optional, 1 when absent) says it takes batches
 *     ["", "REPLIES", header, body frames...]
 *                                  replies to a REQUESTS batch (see below)
 *     ["", "BYE"]                  the worker is leaving; send it nothing more
 *     ["", "HEARTBEAT"]            the worker is alive (remote servers, every interval)
 *
 * and device -> worker (least-busy devices only):
 *
 *     ["", "HEARTBEAT"]            the device is alive (to workers that heartbeat)
 *     ["", "DISCONNECT"]           the device does not know this worker (it restarted,
 *                                  or declared the worker dead): reconnect, say READY
 *     ["", "REQUESTS", header, body frames...]
 *                                  requests for a version-2 worker, several in one message
 *
 * Batches. A least-busy device sends a version-2 worker the requests it gives
 * it in one turn of the event loop as one message, and the worker answers the
 * replies it has ready in one turn as one message: one socket operation on each
 * side for many requests, where each costs a native call, a promise and a
 * wake-up of libzmq's I/O thread. A header has 8 bytes per request, its id
 * and how many body frames follow for it (two u32, big-endian), and the bodies
 * follow in order; a batch of more than 16 is several such groups in a row. The envelope stays at the device, which keeps each request
 * until its reply comes. A version-1 worker (one that says nothing) gets each
 * request alone as `[<id>, identity..., "", body...]`, an envelope it echoes
 * like any REP server.
 * A device that does not know them (the seed's, or a round-robin zqueue
 * device) passes them to its ROUTER frontend, which drops them as unroutable.
 */
import { ErrorCode } from './errors.js';

export const ERROR_PREFIX = 'ZQ-ERROR ';
const ERROR_PREFIX_BYTES = Buffer.from(ERROR_PREFIX);

export const ErrorKind = {
  busy: ErrorCode.Busy,
  closing: ErrorCode.Closing,
  handler: ErrorCode.Handler,
  timeout: ErrorCode.HandlerTimeout,
  'worker-died': ErrorCode.WorkerDied,
  'bad-request': ErrorCode.BadRequest,
} as const;
export type ErrorKind = keyof typeof ErrorKind;

export const EMPTY = Buffer.alloc(0);
export const READY = Buffer.from('READY');
export const BYE = Buffer.from('BYE');
export const HEARTBEAT = Buffer.from('HEARTBEAT');
export const DISCONNECT = Buffer.from('DISCONNECT');
export const REQUESTS = Buffer.from('REQUESTS');
export const REPLIES = Buffer.from('REPLIES');
/**
 * The Paranoid Pirate Protocol (RFC 6): a worker's READY and either side's
 * HEARTBEAT are one frame of one byte; requests and replies are
 * `[address..., "", body...]`, as a REP socket sees them.
 */
export const PPP_READY = Buffer.from([0x01]);
export const PPP_HEARTBEAT = Buffer.from([0x02]);

/**
 * Majordomo (RFC 7, MDP 0.1). Clients: `["", "MDPC01", service, body...]`
 * both ways. Workers: `["", "MDPW01", command, ...]`, commands READY
 * (+ service), REQUEST and REPLY (+ one client address frame, "", body...),
 * HEARTBEAT and DISCONNECT. MMI (RFC 8): services named `mmi.*` are the
 * broker's own.
 */
export const MDP_CLIENT = Buffer.from('MDPC01');
export const MDP_WORKER = Buffer.from('MDPW01');
export const MDP = Object.freeze({
  READY: Buffer.from([0x01]),
  REQUEST: Buffer.from([0x02]),
  REPLY: Buffer.from([0x03]),
  HEARTBEAT: Buffer.from([0x04]),
  DISCONNECT: Buffer.from([0x05]),
});

/** The worker protocol version this code speaks: 2 takes batches (REQUESTS/REPLIES). */
export const WORKER_PROTOCOL = 2;

/** Bytes per request in a batch header: its id and its body's frame count (u32 each). */
export const BATCH_ENTRY = 8;
/**
 * Most requests under one header: 16 keeps a header at 128 bytes, the most
 * zeromq.js copies; a larger buffer it sends zero-copy and releases from
 * libzmq's I/O thread. A bench run with unbounded headers once ended in a heap
 * corruption in native code that later runs did not reproduce; bounded, a
 * header takes the path every other small frame takes. A message holds as
 * many header-and-bodies groups as it needs.
 */
export const BATCH_MAX = 16;

/** One request or reply in a received batch: its id, and where its body frames are in the message. */
export interface BatchEntry {
  readonly id: number;
  readonly start: number;
  readonly end: number;
}

/** One request or reply to put in a batch: its id, and its frames from `bodyAt` on are its body. */
export interface BatchItem {
  readonly id: number;
  readonly frames: readonly Buffer[];
  readonly bodyAt: number;
}

/** Appends `items` to `message` as a batch: groups of up to BATCH_MAX, each a header then the bodies. */
export function appendBatch(message: Buffer[], items: readonly BatchItem[]): void {
  for (let g = 0; g < items.length; g += BATCH_MAX) {
    const n = Math.min(BATCH_MAX, items.length - g);
    const header = Buffer.allocUnsafe(n * BATCH_ENTRY);
    message.push(header);
    for (let i = 0; i < n; i++) {
      const item = items[g + i] as BatchItem;
      header.writeUInt32BE(item.id, i * BATCH_ENTRY);
      header.writeUInt32BE(item.frames.length - item.bodyAt, i * BATCH_ENTRY + 4);
      for (let f = item.bodyAt; f < item.frames.length; f++) message.push(item.frames[f] as Buffer);
    }
  }
}

/**
 * Reads a batch: `frames[at]` is the first header, its bodies follow, then the
 * next group's header, and so on. Undefined when the message does not add up
 * (a header empty or not a multiple of 8 bytes, a count that runs past the
 * frames): it is then dropped whole.
 */
export function parseBatch(frames: readonly Buffer[], at: number): BatchEntry[] | undefined {
  const entries: BatchEntry[] = [];
  let next = at;
  do {
    const header = frames[next];
    if (header === undefined || header.length === 0 || header.length % BATCH_ENTRY !== 0) return undefined;
    let start = next + 1;
    for (let o = 0; o < header.length; o += BATCH_ENTRY) {
      const end = start + header.readUInt32BE(o + 4);
      if (end > frames.length) return undefined;
      entries.push({ id: header.readUInt32BE(o), start, end });
      start = end;
    }
    next = start;
  } while (next < frames.length);
  return entries;
}

export function errorFrame(kind: ErrorKind, message: string): Buffer {
  return Buffer.from(`${ERROR_PREFIX}${kind}: ${message}`);
}

export interface WireError {
  readonly kind: ErrorKind;
  readonly code: ErrorCode;
  readonly message: string;
}

/** Parses an error reply; undefined when the frames are an ordinary reply. */
export function parseErrorReply(frames: readonly Buffer[]): WireError | undefined {
  const first = frames[0];
  if (frames.length !== 1 || first === undefined || first.length < ERROR_PREFIX_BYTES.length) return undefined;
  if (first.compare(ERROR_PREFIX_BYTES, 0, ERROR_PREFIX_BYTES.length, 0, ERROR_PREFIX_BYTES.length) !== 0) {
    return undefined;
  }
  const text = first.toString('utf8', ERROR_PREFIX_BYTES.length);
  const colon = text.indexOf(':');
  const kind = (colon < 0 ? text : text.slice(0, colon)) as ErrorKind;
  if (!Object.hasOwn(ErrorKind, kind)) return undefined;
  return { kind, code: ErrorKind[kind], message: colon < 0 ? '' : text.slice(colon + 1).trimStart() };
}

/**
 * The kind of an error reply's body frame, or undefined for an ordinary one.
 * Cheap for ordinary replies (a length and a byte compared), so the device can
 * count failures by kind on its hot path.
 */
export function errorKindOf(frame: Buffer | undefined): ErrorKind | 'other' | undefined {
  if (frame === undefined || frame.length < ERROR_PREFIX_BYTES.length || frame[0] !== 0x5a) return undefined;
  if (frame.compare(ERROR_PREFIX_BYTES, 0, ERROR_PREFIX_BYTES.length, 0, ERROR_PREFIX_BYTES.length) !== 0) return undefined;
  const colon = frame.indexOf(0x3a, ERROR_PREFIX_BYTES.length);
  const kind = frame.toString('latin1', ERROR_PREFIX_BYTES.length, colon < 0 ? frame.length : colon);
  return Object.hasOwn(ErrorKind, kind) ? (kind as ErrorKind) : 'other';
}

/**
 * Index of the empty delimiter that ends the envelope, or -1 when there is
 * none (a malformed request). At a ROUTER the envelope holds at least one
 * identity (`minIdentities` 1, the default); a server reached straight from a
 * REQ client sees the delimiter first (`minIdentities` 0).
 */
export function delimiterIndex(frames: readonly Buffer[], minIdentities = 1): number {
  for (let i = minIdentities; i < frames.length; i++) {
    if (frames[i]?.length === 0) return i;
  }
  return -1;
}

/** A routing id for people: as is when printable ASCII, else `0x` and its bytes in hex (libzmq's own ids are binary). */
export function displayId(id: string | Buffer): string {
  const b = typeof id === 'string' ? Buffer.from(id, 'latin1') : id;
  return b.length > 0 && b.every((c) => c >= 0x21 && c < 0x7f) ? b.toString('latin1') : `0x${b.toString('hex')}`;
}

export type Reply = string | Buffer | readonly (string | Buffer)[];

export function replyFrames(reply: Reply): Buffer[] {
  if (typeof reply === 'string') return [Buffer.from(reply)];
  if (Buffer.isBuffer(reply)) return [reply];
  if (Array.isArray(reply)) {
    return reply.map((part: string | Buffer) => (typeof part === 'string' ? Buffer.from(part) : part));
  }
  throw new TypeError('a reply must be a string, a Buffer or an array of them');
}
