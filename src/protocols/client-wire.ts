/**
 * The batched client wire: between zqueue's Client and a least-busy zqueue
 * device, the requests a client issues in one turn of its event loop travel
 * as one message, and the replies the device has for that client in one turn
 * come back as one message. Everything else speaks the plain wire, the one
 * any REQ, DEALER or the seed's scripts speak.
 *
 * It is negotiated, so that a zqueue Client works against any device:
 *
 * 1. A new connection's first request goes on the plain wire with one more
 *    envelope frame, OFFER, before its deadline frame (protocol.ts):
 *
 *        [OFFER, ZQDL, "", body...]
 *
 *    Any REP server, and so any device in front of one (the seed's, a
 *    round-robin or native zqueue device), echoes the envelope untouched.
 * 2. A device that speaks the batched wire answers the offer at once, before
 *    the request's reply, with
 *
 *        [HELLO, limits]      limits: u32 version, u32 most entries a batch,
 *                             u32 most bytes a batch message
 *
 *    From then on the client sends batches. A reply to the offering request
 *    that comes back with no HELLO before it means the device does not speak
 *    it: the client stays on the plain wire, one request a message.
 * 3. Batches, both ways, are a tag frame and a packed batch (pack.ts):
 *
 *        client -> device:  [BATCH, pack, extras...]   entries: id, budget, flags
 *        device -> client:  [BATCH, pack, extras...]   entries: id, reply body
 *
 *    A request's id is the client's own (the low 32 bits of its request id);
 *    its budget the milliseconds it has left; FLAG_RETRY marks a resend,
 *    which replaces a copy still queued; FLAG_CANCEL withdraws a request.
 *    Error replies are the plain wire's error frame (protocol.ts) as the body.
 *
 * The tags start with a zero byte and are never sent by anything else; a
 * request's envelope from a REQ or DEALER starts with its own frames, and a
 * control message from the device with the tag itself.
 */
import { FLAG_CANCEL, FLAG_RETRY, unpack, type OnEntry, type PackFault } from './pack.js';

/** The batched wire's version. */
export const CLIENT_WIRE_VERSION = 1;
/** An offer, in a plain request's envelope just before its deadline frame. */
export const OFFER = Buffer.from([0, 0x5a, 0x51, 0x4d, 0x58, CLIENT_WIRE_VERSION]); // "\0ZQMX" 1
/** The device's answer to an offer. */
export const HELLO = Buffer.from([0, 0x5a, 0x51, 0x4d, 0x48]); // "\0ZQMH"
/** A batch's tag frame, both ways. */
export const BATCH = Buffer.from([0, 0x5a, 0x51, 0x4d, 0x42]); // "\0ZQMB"

export { FLAG_CANCEL, FLAG_RETRY };

/** What a device accepts in one batch. */
export interface BatchLimits {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/** A client's own bounds on a batch: it closes a batch at this many entries or bytes, whichever comes first. */
export const CLIENT_BATCH: BatchLimits = Object.freeze({ maxEntries: 1024, maxBytes: 64 * 1024 });

function is(frame: Buffer | undefined, tag: Buffer): boolean {
  return frame !== undefined && frame.length === tag.length && frame[0] === 0 && frame.equals(tag);
}

export const isBatch = (frame: Buffer | undefined): boolean => is(frame, BATCH);
export const isHello = (frame: Buffer | undefined): boolean => is(frame, HELLO);
export const isOffer = (frame: Buffer | undefined): boolean => is(frame, OFFER);

/** The HELLO message's frames, as a device sends them after `[identity]`. */
export function helloFrames(limits: BatchLimits): Buffer[] {
  const l = Buffer.allocUnsafe(12);
  l.writeUInt32BE(CLIENT_WIRE_VERSION, 0);
  l.writeUInt32BE(limits.maxEntries, 4);
  l.writeUInt32BE(limits.maxBytes, 8);
  return [HELLO, l];
}

/** A HELLO's limits, as a client reads them; undefined when it is not one it understands. */
export function readHello(frames: readonly Buffer[]): BatchLimits | undefined {
  const l = frames[1];
  if (!isHello(frames[0]) || l === undefined || l.length < 12 || l.readUInt32BE(0) < 1) return undefined;
  const maxEntries = l.readUInt32BE(4);
  const maxBytes = l.readUInt32BE(8);
  if (maxEntries < 1 || maxBytes < 64) return undefined;
  return { maxEntries, maxBytes };
}

/**
 * Whether a plain request whose body starts at `bodyAt` carries an offer
 * (`[identity, ..., OFFER, ZQDL, ""]`): cheap for every other request.
 */
export function offersBatches(frames: readonly Buffer[], bodyAt: number): boolean {
  return bodyAt >= 4 && is(frames[bodyAt - 3], OFFER);
}

/** Reads a batch message `[identity?, BATCH, pack, extras...]` whose pack is `frames[at]`. */
export function readBatch(
  frames: readonly Buffer[],
  at: number,
  onEntry: OnEntry,
  maxEntries: number,
  maxFrames?: number,
): number | PackFault {
  return unpack(frames, at, onEntry, maxEntries, maxFrames);
}
