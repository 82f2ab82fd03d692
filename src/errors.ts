/**
 * Every error zqueue raises is a ZqueueError with a stable `code`; callers
 * branch on the code, never on the message. The wire form (an error reply a
 * client receives) carries a short `kind` instead, see protocol.ts.
 */

export const ErrorCode = {
  /** An option has a wrong type, range or value; the message names it. */
  InvalidOption: 'ERR_ZQ_INVALID_OPTION',
  /** An endpoint string is malformed or unusable (`tcp://host`, `foo://x`, ipc folder missing). */
  InvalidEndpoint: 'ERR_ZQ_INVALID_ENDPOINT',
  /** Binding failed because the address is taken. */
  AddressInUse: 'ERR_ZQ_ADDRESS_IN_USE',
  /** Binding or connecting failed for another reason. */
  Bind: 'ERR_ZQ_BIND',
  /** A request got no reply in time (one attempt). */
  Timeout: 'ERR_ZQ_TIMEOUT',
  /** A request got no reply after every retry. */
  RetriesExhausted: 'ERR_ZQ_RETRIES_EXHAUSTED',
  /** The device refused the request: its queue is full. */
  Busy: 'ERR_ZQ_BUSY',
  /** The device or broker is shutting down and will not serve the request. */
  Closing: 'ERR_ZQ_CLOSING',
  /** The object was closed; no more calls are accepted. */
  Closed: 'ERR_ZQ_CLOSED',
  /** The caller's AbortSignal fired: the request was withdrawn (its `cause` is the signal's reason). */
  Aborted: 'ERR_ZQ_ABORTED',
  /** The request handler threw or rejected. */
  Handler: 'ERR_ZQ_HANDLER',
  /** The request handler ran past its timeout. */
  HandlerTimeout: 'ERR_ZQ_HANDLER_TIMEOUT',
  /** The handler module could not be loaded. */
  HandlerLoad: 'ERR_ZQ_HANDLER_LOAD',
  /** The worker serving the request died, and the request could not be retried. */
  WorkerDied: 'ERR_ZQ_WORKER_DIED',
  /** No worker offers the service the request asked for (Majordomo), within serviceWaitMs. */
  NoService: 'ERR_ZQ_NO_SERVICE',
  /** The request was malformed (no envelope delimiter, too large). */
  BadRequest: 'ERR_ZQ_BAD_REQUEST',
  /** A CURVE key or key file is missing, malformed, or of the wrong kind (public where a secret one is needed). */
  InvalidKey: 'ERR_ZQ_INVALID_KEY',
  /** The security handshake with the peer failed (wrong server key, key not allowed, or mechanism mismatch). */
  Handshake: 'ERR_ZQ_HANDSHAKE',
  /** A `dns:` endpoint's name could not be resolved (the last good addresses are kept). */
  Resolve: 'ERR_ZQ_RESOLVE',
  /** Something that should not happen; please report it. */
  Internal: 'ERR_ZQ_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class ZqueueError extends Error {
  override readonly name = 'ZqueueError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function invalidOption(name: string, expected: string, got: unknown): ZqueueError {
  return new ZqueueError(ErrorCode.InvalidOption, `option "${name}" must be ${expected}, got ${describe(got)}`);
}

export function isZqueueError(err: unknown, code?: ErrorCode): err is ZqueueError {
  return err instanceof ZqueueError && (code === undefined || err.code === code);
}

/** The libzmq errno code of an error thrown by zeromq.js, if any. */
export function zmqCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Errors that mean "the socket was closed under us": expected during shutdown. */
export function isSocketClosedError(err: unknown): boolean {
  const code = zmqCode(err);
  return code === 'EBADF' || code === 'ENOTSOCK' || code === 'ETERM' || code === 'ECONTEXT';
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'function' ? 'a function' : 'an object';
}
