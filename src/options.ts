/**
 * Every option zqueue takes: its type, its default and its check, in one
 * place. Each `resolveX` returns a complete, frozen options object or throws a
 * ZqueueError (ERR_ZQ_INVALID_OPTION / ERR_ZQ_INVALID_ENDPOINT) naming the option.
 */
import * as zmq from 'zeromq';
import { invalidOption } from './errors.js';
import { parseEndpoint, type EndpointRole } from './endpoints.js';
import { isZ85Key } from './keys.js';
import { checkKeys, parseCidrs } from './auth.js';
import type { Reply } from './protocol.js';

export type Engine = 'native' | 'js';
export type Policy = 'round-robin' | 'least-busy';
export type OnWorkerDeath = 'retry' | 'fail';
export type Handler = (request: Buffer[]) => Reply | Promise<Reply>;

export const ENGINES: readonly Engine[] = ['native', 'js'];
export const POLICIES: readonly Policy[] = ['round-robin', 'least-busy'];

// ---------------------------------------------------------------- device

export interface DeviceOptions {
  /** ROUTER endpoint facing clients; bound. Default `tcp://*:5559`, as the seed. */
  frontend?: string;
  /** Endpoint facing servers; bound. Default `tcp://*:5560`, as the seed. */
  backend?: string;
  /** `native`: libzmq's proxy on a thread of its own; `js`: a counting loop on the main thread. Default `js`. */
  engine?: Engine;
  /** `round-robin` (a DEALER backend, the seed's) or `least-busy` (workers announce READY). Default `round-robin`. */
  policy?: Policy;
  /** Listen backlog of tcp/ipc sockets (libzmq's default is 100). Default 4096. */
  backlog?: number;
  /** Largest inbound message from a client, in bytes; a peer that sends more is disconnected. -1: no limit. Default 16 MiB. */
  maxMessageSize?: number;
  /** least-busy: requests that may wait for a free worker; past it clients get a `busy` error. Default 10000. */
  maxQueued?: number;
  /** least-busy: a request held by a worker longer than this gets a `timeout` error. 0: never. Default 30000. */
  handlerTimeoutMs?: number;
  /** least-busy: what happens to the requests a dead worker held: `retry` once elsewhere, or `fail`. Default `retry`. */
  onWorkerDeath?: OnWorkerDeath;
  /** Send/receive high-water mark of the device's sockets, in messages. Default 10000. */
  highWaterMark?: number;
  /** `close()` waits this long for in-flight requests before dropping them. Default 2000. */
  closeTimeoutMs?: number;
  /** Publish a copy of every request (`in`) and reply (`out`) on a PUB socket bound here (js engine). Default '' (off). */
  tap?: string;
  /** How many messages a tap subscriber may lag by before the tap drops (and counts) messages. Default 1000. */
  tapHighWaterMark?: number;
  /** Time each request at the device for the latency histogram in `stats()` (js engine). Default true. */
  recordLatency?: boolean;
  /** Z85 secret key: the frontend becomes a CURVE server (clients need its public key). Default '' (no encryption). */
  curveSecretKey?: string;
  /** Z85 public keys of the clients allowed (needs curveSecretKey). null: any client that completes the handshake. Default null. */
  allowKeys?: readonly string[] | null;
  /** Source addresses allowed on the frontend, as CIDR ranges (tcp). null: any. Default null. */
  allowFrom?: readonly string[] | null;
  /** Z85 secret key: the backend becomes a CURVE server (servers need its public key). Default ''. */
  backendCurveSecretKey?: string;
  /** Z85 public keys of the servers allowed on the backend (needs backendCurveSecretKey). Default null (any). */
  allowServerKeys?: readonly string[] | null;
  /** Permissions of the ipc socket files the device binds. Default 0o600 (its owner only). */
  ipcMode?: number;
  /**
   * least-busy: heartbeat period with servers that heartbeat (remote zqueue
   * servers); one silent for 3 periods is declared dead and its requests are
   * retried. 0: off. Default 1000.
   */
  heartbeatIntervalMs?: number;
  /** Messages with more frames than this (envelope included) are refused as bad requests. Default 256. */
  maxFrames?: number;
  /**
   * least-busy: requests a worker may hold beyond the credits it announced,
   * waiting in its socket, so it never idles for a round trip to the device,
   * and its requests and replies go in larger batches. Given only to workers
   * that answer in under 5 ms and within twice the fastest worker's time
   * (measured as they reply), and at most 10 ms of a worker's work, so a slow
   * worker never holds a queue. Higher: more throughput over tcp/ipc. 0: off. Default 128.
   */
  prefetch?: number;
}

export type ResolvedDeviceOptions = Readonly<Required<DeviceOptions>>;

export const deviceDefaults: ResolvedDeviceOptions = Object.freeze({
  frontend: 'tcp://*:5559',
  backend: 'tcp://*:5560',
  engine: 'js',
  policy: 'round-robin',
  backlog: 4096,
  maxMessageSize: 16 * 1024 * 1024,
  maxQueued: 10_000,
  handlerTimeoutMs: 30_000,
  onWorkerDeath: 'retry',
  highWaterMark: 10_000,
  closeTimeoutMs: 2_000,
  tap: '',
  tapHighWaterMark: 1_000,
  recordLatency: true,
  curveSecretKey: '',
  allowKeys: null,
  allowFrom: null,
  backendCurveSecretKey: '',
  allowServerKeys: null,
  ipcMode: 0o600,
  heartbeatIntervalMs: 1_000,
  maxFrames: 256,
  prefetch: 128,
});

export function resolveDeviceOptions(input: DeviceOptions = {}): ResolvedDeviceOptions {
  checkKnown('device', input, deviceDefaults);
  const o = { ...deviceDefaults, ...defined(input) };
  endpoint('frontend', o.frontend, 'bind');
  endpoint('backend', o.backend, 'bind');
  oneOf('engine', o.engine, ENGINES);
  oneOf('policy', o.policy, POLICIES);
  if (o.engine === 'native' && o.policy !== 'round-robin') {
    throw invalidOption('policy', '"round-robin" with engine "native" (libzmq\'s proxy cannot balance by readiness)', o.policy);
  }
  integer('backlog', o.backlog, 1, 1_000_000);
  integer('maxMessageSize', o.maxMessageSize, -1, 2 ** 31 - 1);
  integer('maxQueued', o.maxQueued, 0, 10_000_000);
  integer('handlerTimeoutMs', o.handlerTimeoutMs, 0, 2 ** 31 - 1);
  oneOf('onWorkerDeath', o.onWorkerDeath, ['retry', 'fail'] as const);
  integer('highWaterMark', o.highWaterMark, 0, 10_000_000);
  integer('closeTimeoutMs', o.closeTimeoutMs, 0, 2 ** 31 - 1);
  if (o.tap !== '') {
    endpoint('tap', o.tap, 'bind');
    if (o.engine === 'native') throw invalidOption('tap', "'' with engine \"native\" (libzmq's proxy is not tapped; use engine \"js\")", o.tap);
  }
  integer('tapHighWaterMark', o.tapHighWaterMark, 0, 10_000_000);
  boolean('recordLatency', o.recordLatency);
  curveKey('curveSecretKey', o.curveSecretKey);
  curveKey('backendCurveSecretKey', o.backendCurveSecretKey);
  if (o.allowKeys !== null) {
    if (!Array.isArray(o.allowKeys)) throw invalidOption('allowKeys', 'a list of Z85 public keys, or null', o.allowKeys);
    checkKeys('allowKeys', o.allowKeys);
    if (o.curveSecretKey === '') throw invalidOption('allowKeys', 'null unless curveSecretKey is set (keys are checked in the CURVE handshake)', 'a list');
  }
  if (o.allowServerKeys !== null) {
    if (!Array.isArray(o.allowServerKeys)) throw invalidOption('allowServerKeys', 'a list of Z85 public keys, or null', o.allowServerKeys);
    checkKeys('allowServerKeys', o.allowServerKeys);
    if (o.backendCurveSecretKey === '') throw invalidOption('allowServerKeys', 'null unless backendCurveSecretKey is set', 'a list');
  }
  if (o.allowFrom !== null) {
    if (!Array.isArray(o.allowFrom)) throw invalidOption('allowFrom', 'a list of CIDR ranges, or null', o.allowFrom);
    parseCidrs('allowFrom', o.allowFrom);
  }
  integer('ipcMode', o.ipcMode, 0, 0o777);
  integer('heartbeatIntervalMs', o.heartbeatIntervalMs, 0, 3_600_000);
  integer('maxFrames', o.maxFrames, 3, 100_000);
  integer('prefetch', o.prefetch, 0, 100_000);
  return Object.freeze(o);
}

// ---------------------------------------------------------------- server

export interface ServerOptions {
  /** Where the server's socket goes. Default `tcp://localhost:5560`, the seed's device backend. */
  endpoint?: string;
  /** Bind instead of connect (clients then come straight to this server; it does not announce READY). Default false. */
  bind?: boolean;
  /** Requests handled at once (for async handlers). Default 1, as a REP server. */
  concurrency?: number;
  /** Tell a least-busy device when this server is ready (harmless to other devices). Default true. */
  announce?: boolean;
  /** The socket's routing id, so a device can name this server. Default: libzmq's. */
  routingId?: string;
  /** A handler still running after this long gets a `timeout` error reply (the handler is abandoned). 0: never. Default 0. */
  handlerTimeoutMs?: number;
  /**
   * Watch the socket's connection events (for `connected()`). Default true.
   * Worker threads turn it off: libzmq's observer is a socket of its own that
   * closes some time after the server's, and a thread that ends (a handler's
   * `process.exit()`) with it still open aborts the whole process.
   */
  observe?: boolean;
  /** `close()` waits this long for running handlers. Default 2000. */
  closeTimeoutMs?: number;
  /** The device backend's CURVE public key (Z85): talk to it encrypted. Default '' (plain). */
  curveServerKey?: string;
  /** This server's own CURVE key pair (Z85); with curveServerKey only, a fresh pair is made. */
  curvePublicKey?: string;
  curveSecretKey?: string;
  /**
   * Heartbeat with the device every this many ms (connecting servers). Once
   * the device has heartbeated back, 3 silent periods mean it is gone: the
   * server reconnects on a fresh socket, backing off up to 32 periods. 0: off. Default 1000.
   */
  heartbeatIntervalMs?: number;
}

export type ResolvedServerOptions = Readonly<Required<Omit<ServerOptions, 'routingId'>>> & { readonly routingId?: string };

export const serverDefaults = Object.freeze({
  endpoint: 'tcp://localhost:5560',
  bind: false,
  concurrency: 1,
  announce: true,
  handlerTimeoutMs: 0,
  observe: true,
  closeTimeoutMs: 2_000,
  curveServerKey: '',
  curvePublicKey: '',
  curveSecretKey: '',
  heartbeatIntervalMs: 1_000,
});

export function resolveServerOptions(input: ServerOptions = {}): ResolvedServerOptions {
  checkKnown('server', input, { ...serverDefaults, routingId: '' });
  const o = { ...serverDefaults, ...defined(input) };
  endpoint('endpoint', o.endpoint, o.bind ? 'bind' : 'connect');
  boolean('bind', o.bind);
  integer('concurrency', o.concurrency, 1, 100_000);
  boolean('announce', o.announce);
  integer('handlerTimeoutMs', o.handlerTimeoutMs, 0, 2 ** 31 - 1);
  boolean('observe', o.observe);
  integer('closeTimeoutMs', o.closeTimeoutMs, 0, 2 ** 31 - 1);
  curveClient(o);
  integer('heartbeatIntervalMs', o.heartbeatIntervalMs, 0, 3_600_000);
  if (o.routingId !== undefined && (typeof o.routingId !== 'string' || o.routingId.length === 0 || o.routingId.length > 255)) {
    throw invalidOption('routingId', 'a string of 1 to 255 characters', o.routingId);
  }
  return Object.freeze(o);
}

// ---------------------------------------------------------------- client

export interface ClientOptions {
  /** The device's frontend. Default `tcp://localhost:5559`, as the seed. */
  endpoint?: string;
  /** How long one attempt waits for its reply, in ms. Default 2500 (the zguide's Lazy Pirate). */
  timeoutMs?: number;
  /** Attempts after the first, each on a fresh socket. Default 3. */
  retries?: number;
  /** The device's CURVE public key (Z85): talk to it encrypted. Default '' (plain). */
  curveServerKey?: string;
  /** This client's own CURVE key pair (Z85), for a device with an allow-list; with curveServerKey only, a fresh pair is made. */
  curvePublicKey?: string;
  curveSecretKey?: string;
}

export type ResolvedClientOptions = Readonly<Required<ClientOptions>>;

export const clientDefaults: ResolvedClientOptions = Object.freeze({
  endpoint: 'tcp://localhost:5559',
  timeoutMs: 2_500,
  retries: 3,
  curveServerKey: '',
  curvePublicKey: '',
  curveSecretKey: '',
});

export function resolveClientOptions(input: ClientOptions = {}): ResolvedClientOptions {
  checkKnown('client', input, clientDefaults);
  const o = { ...clientDefaults, ...defined(input) };
  endpoint('endpoint', o.endpoint, 'connect');
  integer('timeoutMs', o.timeoutMs, 1, 2 ** 31 - 1);
  integer('retries', o.retries, 0, 1_000);
  return Object.freeze(curveClient(o));
}

/** Checks a CURVE client's keys, and makes it a fresh key pair when it has a server key but none of its own. */
function curveClient<T extends { curveServerKey: string; curvePublicKey: string; curveSecretKey: string }>(o: T): T {
  curveKey('curveServerKey', o.curveServerKey);
  curveKey('curvePublicKey', o.curvePublicKey);
  curveKey('curveSecretKey', o.curveSecretKey);
  if ((o.curvePublicKey === '') !== (o.curveSecretKey === '')) throw invalidOption('curveSecretKey', 'given together with curvePublicKey (a key pair)', o.curveSecretKey === '' ? '' : 'a key');
  if (o.curveServerKey === '' && o.curveSecretKey !== '') throw invalidOption('curveServerKey', "the server's public key when a key pair is given", '');
  if (o.curveServerKey !== '' && o.curveSecretKey === '') {
    const pair = zmq.curveKeyPair();
    o.curvePublicKey = pair.publicKey;
    o.curveSecretKey = pair.secretKey;
  }
  return o;
}

// ---------------------------------------------------------------- validators

export function integer(name: string, value: unknown, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(name, `an integer from ${min} to ${max}`, value);
  }
}

/** '' (off) or a 40-character Z85 key. */
export function curveKey(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || (value !== '' && !isZ85Key(value))) throw invalidOption(name, 'a 40-character Z85 key (see zqueue keygen)', typeof value === 'string' ? `${value.length} characters` : value);
}

export function boolean(name: string, value: unknown): asserts value is boolean {
  if (typeof value !== 'boolean') throw invalidOption(name, 'true or false', value);
}

export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): asserts value is T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidOption(name, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
  }
}

export function endpoint(name: string, value: unknown, role: EndpointRole): asserts value is string {
  if (typeof value !== 'string') throw invalidOption(name, 'an endpoint string', value);
  parseEndpoint(value, role);
}

/** Rejects option names that are not known: a typo must not pass silently. */
export function checkKnown(what: string, input: object, known: object): void {
  if (typeof input !== 'object' || input === null) throw invalidOption(what, 'an options object', input);
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(known, key)) throw invalidOption(key, `a known ${what} option (${Object.keys(known).join(', ')})`, key);
  }
}

/** Drops undefined fields so that they fall back to the defaults. */
export function defined<T extends object>(input: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(input)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}
