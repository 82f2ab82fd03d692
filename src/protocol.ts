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
 * What workers and the device say to each other is the worker protocols'
 * (src/protocols/).
 */
import { ErrorCode, ZqueueError } from './errors.js';

export const ERROR_PREFIX = 'ZQ-ERROR ';
const ERROR_PREFIX_BYTES = Buffer.from(ERROR_PREFIX);

export const ErrorKind = {
  busy: ErrorCode.Busy,
  closing: ErrorCode.Closing,
  handler: ErrorCode.Handler,
  timeout: ErrorCode.HandlerTimeout,
  'worker-died': ErrorCode.WorkerDied,
  'bad-request': ErrorCode.BadRequest,
  'no-service': ErrorCode.NoService,
} as const;
export type ErrorKind = keyof typeof ErrorKind;

export const EMPTY = Buffer.alloc(0);
/**
 * An error reply's frame. The same few (busy, closing, …) go out thousands of
 * times in a burst: the frames of the last ERROR_FRAMES kinds and messages are
 * kept and reused (a frame is never written to once made).
 */
export function errorFrame(kind: ErrorKind, message: string): Buffer {
  const key = `${kind}\0${message}`;
  let frame = errorFrames.get(key);
  if (frame === undefined) {
    if (errorFrames.size >= ERROR_FRAMES) errorFrames.clear();
    frame = Buffer.from(`${ERROR_PREFIX}${kind}: ${message}`);
    errorFrames.set(key, frame);
  }
  return frame;
}
const ERROR_FRAMES = 64;
const errorFrames = new Map<string, Buffer>();

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
export type RequestBody = Reply;

/**
 * A message body as frames: a string or Buffer is one frame, an array one frame each. Throws ERR_ZQ_INVALID_OPTION naming `what` otherwise.
 */
export function toFrames(body: Reply, what = 'a reply', allowEmpty = true): Buffer[] {
  if (typeof body === 'string') return [Buffer.from(body)];
  if (Buffer.isBuffer(body)) return [body];
  if (Array.isArray(body) && (allowEmpty || body.length > 0)) {
    return body.map((part: string | Buffer) => (typeof part === 'string' ? Buffer.from(part) : part));
  }
  throw new ZqueueError(
    ErrorCode.InvalidOption,
    `${what} must be a string, a Buffer or ${allowEmpty ? 'an' : 'a non-empty'} array of them`,
  );
}

export function replyFrames(reply: Reply): Buffer[] {
  return toFrames(reply);
}

/**
 * A request's deadline and identity, as the zqueue client sends them: one
 * envelope frame just before the delimiter, 16 bytes: `"ZQDL"`, the
 * milliseconds its attempt has left when it was sent (u32, big-endian), and
 * the request's id (8 bytes, the same on every attempt). The budget is a
 * budget, not a time, so clocks need not agree. In the envelope every REP
 * server (the seed's, any device's) echoes it back untouched, and the zqueue
 * client skips it in the reply. A least-busy device reads it: it drops the
 * request once its deadline has passed, gives the worker what is left of
 * it, and lets a retry replace a copy of the same request still queued.
 */
export const DEADLINE_TAG = Buffer.from('ZQDL');
const DEADLINE_FRAME_BYTES = 16;

export function deadlineFrame(budgetMs: number, requestId: Buffer): Buffer {
  const f = Buffer.allocUnsafe(DEADLINE_FRAME_BYTES);
  DEADLINE_TAG.copy(f, 0);
  f.writeUInt32BE(Math.max(1, Math.min(0xffff_ffff, Math.ceil(budgetMs))), 4);
  requestId.copy(f, 8, 0, 8);
  return f;
}

/** The deadline frame in a request's envelope whose delimiter is at `d`, if it has one. */
function deadlineAt(frames: readonly Buffer[], d: number): Buffer | undefined {
  const f = frames[d - 1];
  if (f === undefined || f.length !== DEADLINE_FRAME_BYTES || f[0] !== 0x5a || f.compare(DEADLINE_TAG, 0, 4, 0, 4) !== 0) return undefined;
  return f;
}

/** The budget (ms) in a request's envelope whose delimiter is at `d`, or 0 when it carries none. */
export function budgetIn(frames: readonly Buffer[], d: number): number {
  return deadlineAt(frames, d)?.readUInt32BE(4) ?? 0;
}

/** The request id in a request's envelope whose delimiter is at `d` (as a map key), or undefined. */
export function requestIdIn(frames: readonly Buffer[], d: number): string | undefined {
  return deadlineAt(frames, d)?.toString('latin1', 8, 16);
}
