/**
 * Every option zqueue takes, written once: its type, its default (the unit is
 * in its name: …Ms, …Bytes; or in its doc), its check, its command-line flag
 * and its help line. The library's `resolve…Options`, the CLI's flags and the
 * `--help` text are all made from these tables (see src/cli/flags.ts).
 *
 * Each `resolveX` returns a complete, frozen options object or throws a
 * ZqueueError (ERR_ZQ_INVALID_OPTION / ERR_ZQ_INVALID_ENDPOINT) naming the option.
 */
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zmq from 'zeromq';
import { ErrorCode, ZqueueError, invalidOption } from './errors.js';
import { parseEndpoint, sameEndpoint, type EndpointRole } from './endpoints.js';
import { isZ85Key, loadAllowList, loadKeyPair, loadPublicKey, publicOf } from './keys.js';
import { checkKeys, parseCidrs } from './auth.js';
import type { Reply } from './protocol.js';
import type * as Doc from './option-types.js';

/** True when A and B are the same type: the generated option interfaces must agree with their tables. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

export type Engine = 'native' | 'js';
export type Policy = 'round-robin' | 'least-busy';
export type OnWorkerDeath = 'retry' | 'fail';
/** What a handler knows of a request beyond its body. */
export interface RequestContext {
  /** When its client stops waiting (ms since the epoch, as Date.now()); undefined when the client did not say (see protocol.ts). */
  readonly deadline: number | undefined;
  /** Aborted when the deadline passes or the handler timeout runs out: work past it reaches nobody. */
  readonly signal: AbortSignal;
}
export type Handler = (request: Buffer[], context: RequestContext) => Reply | Promise<Reply>;

export const ENGINES: readonly Engine[] = ['native', 'js'];
/** least-busy's overload policies (src/device/scheduling/overload.ts says what each does). */
export const OVERLOAD_POLICIES = ['adaptive', 'off'] as const;
export type OverloadPolicy = (typeof OVERLOAD_POLICIES)[number];
export const POLICIES: readonly Policy[] = ['round-robin', 'least-busy'];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

// ---------------------------------------------------------------- the shape of a table

/** How an option appears on the command line. */
export interface CliFlag<T> {
  /** `--flag`. */
  readonly flag: string;
  /** Its value's placeholder in --help (`N`, `MS`, `FILE`); none: a switch that sets true. */
  readonly arg?: string;
  /** The flag's text as the option's value (default: an integer for numbers, the text for strings). */
  parse?(text: string): T;
  /** Other options the flag sets, from its value (`--curve-key FILE` also sets the public key). */
  also?(value: T, text: string): Readonly<Record<string, unknown>>;
  /** What --help gives as the default, where it is not the default value itself ('' for none). */
  readonly shownDefault?: string;
  /** Its help line, where a second flag for the option does something of its own (`--bind` beside `--connect`). */
  readonly doc?: string;
}

export interface OptionSpec<T> {
  readonly default: T;
  /** One line, for --help and the docs. */
  readonly doc: string;
  /** Throws naming `name` when `value` is not a valid value. */
  check(name: string, value: unknown): void;
  /** The default when it follows from other options (resolved after them). */
  derive?(resolved: Readonly<Record<string, unknown>>): T;
  /** Integers: the range `check` allows (the CLI says it in its own words). */
  readonly range?: readonly [min: number, max: number];
  /** Choices: the values `check` allows. */
  readonly choices?: readonly string[];
  readonly cli?: CliFlag<T> | readonly CliFlag<T>[];
}

/** A table of options: one spec per option (methods, not function fields: a spec of T is a spec of unknown). */
export type OptionTable = Readonly<Record<string, OptionSpec<unknown>>>;

/** The options object a table takes (every field optional). */
export type OptionsOf<T extends OptionTable> = { -readonly [K in keyof T]?: T[K] extends OptionSpec<infer V> ? V : never };
/** The resolved options of a table (every field present, frozen). */
export type ResolvedOf<T extends OptionTable> = { readonly [K in keyof T]: T[K] extends OptionSpec<infer V> ? V : never };

export function flagsOf(spec: OptionSpec<unknown>): readonly CliFlag<unknown>[] {
  if (spec.cli === undefined) return [];
  return Array.isArray(spec.cli) ? (spec.cli as readonly CliFlag<unknown>[]) : [spec.cli as CliFlag<unknown>];
}

// ---------------------------------------------------------------- spec builders

type Cli<T> = CliFlag<T> | readonly CliFlag<T>[] | undefined;

export function spec<T>(
  def: T,
  doc: string,
  check: (name: string, value: unknown) => void,
  cli: Cli<T>,
  extra: Partial<OptionSpec<T>> = {},
): OptionSpec<T> {
  return { default: def, doc, check, ...(cli !== undefined ? { cli } : {}), ...extra };
}

export function int(
  def: number,
  min: number,
  max: number,
  doc: string,
  cli?: Cli<number>,
  extra?: Partial<OptionSpec<number>>,
): OptionSpec<number> {
  return spec(def, doc, (n, v) => integer(n, v, min, max), cli, { range: [min, max], ...extra });
}

export function bool(def: boolean, doc: string, cli?: Cli<boolean>): OptionSpec<boolean> {
  return spec(def, doc, boolean, cli);
}

export function pick<T extends string>(def: T, allowed: readonly T[], doc: string, cli?: Cli<T>): OptionSpec<T> {
  return spec(def, doc, (n, v) => oneOf(n, v, allowed), cli, { choices: allowed });
}

function address(def: string, role: EndpointRole, doc: string, cli?: Cli<string>): OptionSpec<string> {
  return spec(def, doc, (n, v) => endpoint(n, v, role), cli);
}

export function text(def: string, doc: string, cli?: Cli<string>): OptionSpec<string> {
  return spec(
    def,
    doc,
    (n, v) => {
      if (typeof v !== 'string') throw invalidOption(n, 'a string', v);
    },
    cli,
  );
}

function key(doc: string, cli?: Cli<string>): OptionSpec<string> {
  return spec('', doc, curveKey, cli);
}

function keyList(doc: string, cli?: Cli<readonly string[] | null>): OptionSpec<readonly string[] | null> {
  return spec<readonly string[] | null>(
    null,
    doc,
    (n, v) => {
      if (v === null) return;
      if (!Array.isArray(v)) throw invalidOption(n, 'a list of Z85 public keys, or null', v);
      checkKeys(n, v as string[]);
    },
    cli,
  );
}

/** A list of connect endpoints (several devices). */
function endpointList(doc: string, cli?: Cli<readonly string[]>): OptionSpec<readonly string[]> {
  return spec<readonly string[]>(
    [],
    doc,
    (n, v) => {
      if (!Array.isArray(v)) throw invalidOption(n, 'a list of endpoints', v);
      for (const e of v) endpoint(n, e, 'connect');
    },
    cli,
  );
}

/** A comma-separated list, blanks dropped. */
const list = (text: string): string[] =>
  text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');

/** `--connect A[,B,...]`: the first is `endpoint`; several also set `endpoints`. */
function connectFlag(): CliFlag<string> {
  return {
    flag: 'connect',
    arg: 'ENDPOINT[,...]',
    parse: (text) => list(text)[0] ?? '',
    also: (_first, text) => (list(text).length > 1 ? { endpoints: list(text) } : {}),
  };
}

const secretKeyFile = (text: string): string => loadKeyPair(text).secretKey;
/** The longest a millisecond option may be: what a Node timer takes. */
export const MAX_MS = 2 ** 31 - 1;

/** A CURVE client's three keys (servers and clients alike): `peer` is what it talks to, `self` what it is. */
export function curveClientKeys(peer: string, self: string, allowList: string) {
  return {
    curveServerKey: key(`${peer}'s CURVE public key (FILE: NAME.key): talk CURVE`, {
      flag: 'curve-server-key',
      arg: 'FILE',
      parse: loadPublicKey,
      shownDefault: 'plain',
    }),
    curvePublicKey: key(`this ${self}'s own CURVE public key (with curveServerKey only, a fresh pair is made)`),
    curveSecretKey: key(`this ${self}'s own CURVE secret key (FILE: NAME.key_secret), for ${allowList}`, {
      flag: 'curve-key',
      arg: 'FILE',
      parse: secretKeyFile,
      also: (secret) => ({ curvePublicKey: publicOf(secret) }),
      shownDefault: 'a fresh pair',
    }),
  };
}

// ---------------------------------------------------------------- device

export const deviceOptions = {
  frontend: address('tcp://*:5559', 'bind', "bind the clients' side (a ROUTER) here", { flag: 'frontend', arg: 'ENDPOINT' }),
  backend: address('tcp://*:5560', 'bind', "bind the servers' side here", { flag: 'backend', arg: 'ENDPOINT' }),
  engine: pick<Engine>('js', ENGINES, "native: libzmq's proxy on a thread of its own; js: the counting loops on the main thread", {
    flag: 'engine',
    arg: 'native|js',
  }),
  policy: pick<Policy>(
    'round-robin',
    POLICIES,
    "round-robin: the seed's DEALER; least-busy: workers announce READY and get requests as they have room",
    {
      flag: 'policy',
      arg: 'round-robin|least-busy',
    },
  ),
  backlog: int(4096, 1, 1_000_000, "listen backlog of tcp/ipc sockets, in connections (libzmq's own is 100)", {
    flag: 'backlog',
    arg: 'N',
  }),
  maxMessageSize: int(
    16 * 1024 * 1024,
    -1,
    2 ** 31 - 1,
    'largest message from a client, in bytes; a peer that sends more is cut off (-1: no limit)',
    {
      flag: 'max-message-size',
      arg: 'BYTES',
    },
  ),
  maxQueued: int(10_000, 0, 10_000_000, 'least-busy: requests that may wait for a free worker; past it clients get "busy"', {
    flag: 'max-queued',
    arg: 'N',
  }),
  maxQueuedPerClient: int(
    2_500,
    0,
    10_000_000,
    'least-busy: requests one client (one routing identity) may have waiting; past it that client gets "busy"',
    {
      flag: 'max-queued-per-client',
      arg: 'N',
      shownDefault: 'a quarter of --max-queued',
    },
    { derive: (o) => Math.max(1, Math.ceil((o.maxQueued as number) / 4)) },
  ),
  queueOrder: pick<'fair' | 'fifo'>(
    'fair',
    ['fair', 'fifo'],
    'least-busy: fair: waiting requests are served a client at a time, in turn; fifo: in arrival order, whoever sent them',
    {
      flag: 'queue-order',
      arg: 'fair|fifo',
    },
  ),
  plainService: text('', "least-busy: the Majordomo service plain requests go to ('' : zqueue's own and Paranoid Pirate workers)", {
    flag: 'plain-service',
    arg: 'NAME',
    shownDefault: "zqueue's workers",
  }),
  serviceWaitMs: int(
    2_000,
    1,
    MAX_MS,
    'least-busy: a request for a service no worker offers waits this long, then gets "no-service" (below a client\'s ' +
      'default 2500 ms timeout, so that it hears why)',
    { flag: 'service-wait', arg: 'MS' },
  ),
  handlerTimeoutMs: int(30_000, 0, MAX_MS, 'least-busy: a request held by a worker longer than this gets "timeout" (0: never)', {
    flag: 'handler-timeout',
    arg: 'MS',
  }),
  onWorkerDeath: pick<OnWorkerDeath>(
    'retry',
    ['retry', 'fail'],
    "least-busy: a dead worker's requests are retried once elsewhere, or fail",
    {
      flag: 'on-worker-death',
      arg: 'retry|fail',
    },
  ),
  highWaterMark: int(10_000, 0, 10_000_000, "send/receive high-water mark of the device's sockets, in messages", { flag: 'hwm', arg: 'N' }),
  closeTimeoutMs: int(2_000, 0, MAX_MS, 'close() waits this long for in-flight requests', { flag: 'close-timeout', arg: 'MS' }),
  tap: text('', 'publish every request ("in") and reply ("out") on a PUB socket bound here (js engine; \'\': off)', {
    flag: 'tap',
    arg: 'ENDPOINT',
    shownDefault: 'off',
  }),
  tapHighWaterMark: int(1_000, 0, 10_000_000, 'messages a tap subscriber may lag by before the tap drops (and counts) them', {
    flag: 'tap-hwm',
    arg: 'N',
  }),
  recordLatency: bool(true, 'time each request at the device for the latency histogram (js engine)'),
  curveSecretKey: key('encrypt the frontend with CURVE: its Z85 secret key (FILE: NAME.key_secret from zqueue keygen)', {
    flag: 'curve-secret-key',
    arg: 'FILE',
    parse: secretKeyFile,
    shownDefault: 'plain',
  }),
  allowKeys: keyList(
    'only clients whose public key is listed (a .key file, a folder of them, or bare Z85 keys one per line; re-read on SIGHUP)',
    {
      flag: 'allow-keys',
      arg: 'FILE|DIR',
      parse: loadAllowList,
      shownDefault: 'any',
    },
  ),
  allowFrom: spec<readonly string[] | null>(
    null,
    'only clients from these source addresses (CIDR ranges, tcp)',
    (n, v) => {
      if (v === null) return;
      if (!Array.isArray(v)) throw invalidOption(n, 'a list of CIDR ranges, or null', v);
      parseCidrs(n, v as string[]);
    },
    { flag: 'allow-from', arg: 'CIDR,...', parse: list, shownDefault: 'any' },
  ),
  backendCurveSecretKey: key('encrypt the backend too: its Z85 secret key (servers need its .key)', {
    flag: 'backend-curve-secret-key',
    arg: 'FILE',
    parse: secretKeyFile,
    shownDefault: 'plain',
  }),
  allowServerKeys: keyList('only servers whose public key is listed (re-read on SIGHUP)', {
    flag: 'allow-server-keys',
    arg: 'FILE|DIR',
    parse: loadAllowList,
    shownDefault: 'any',
  }),
  ipcMode: int(0o600, 0, 0o777, 'permissions of the ipc socket files the device binds (octal; 600: its owner only)', {
    flag: 'ipc-mode',
    arg: 'OCTAL',
    parse: octal,
    shownDefault: '600',
  }),
  heartbeatIntervalMs: int(
    1_000,
    0,
    3_600_000,
    'least-busy: heartbeat with servers that heartbeat; one silent for 3 periods is declared dead (0: off)',
    {
      flag: 'heartbeat',
      arg: 'MS',
    },
  ),
  maxFrames: int(256, 3, 100_000, 'messages with more frames than this (envelope included) are refused as bad requests', {
    flag: 'max-frames',
    arg: 'N',
  }),
  prefetch: int(
    128,
    0,
    100_000,
    'least-busy: requests a quick worker may hold beyond its credits, waiting in its socket (within 10 ms of its work; 0: off)',
    {
      flag: 'prefetch',
      arg: 'N',
    },
  ),
  overloadPolicy: pick<OverloadPolicy>(
    'adaptive',
    OVERLOAD_POLICIES,
    'least-busy: adaptive: drop requests whose client left or whose deadline passed, serve the newest first while a queue ' +
      'stands, and when full drop the oldest for the newest; off: first come, first served ' +
      '(src/device/scheduling/overload.ts)',
    {
      flag: 'overload',
      arg: 'adaptive|off',
    },
  ),
  standingQueueMs: int(
    100,
    1,
    MAX_MS,
    'least-busy, adaptive: a queue that has not emptied for this long stands, and its newest requests go first',
    { flag: 'standing-queue', arg: 'MS' },
  ),
  maxWaitMs: int(0, 0, MAX_MS, 'least-busy: a request that waited this long for a worker is answered "busy" (0: no bound)', {
    flag: 'max-wait',
    arg: 'MS',
  }),
  handshakeTimeoutMs: int(
    1_000,
    0,
    MAX_MS,
    "cut a connection that has not finished its ZMTP (or CURVE) handshake within this (libzmq's handshake_ivl; 0: never)",
    {
      flag: 'handshake-timeout',
      arg: 'MS',
    },
  ),
  countHandshakes: bool(
    false,
    "least-busy, adaptive: observe the frontend with libzmq's monitor, to count its failed handshakes (garbage, bad " +
      "greetings); off, its connections are counted from ROUTER_NOTIFY, because in a connection flood past the process's " +
      "descriptors the monitor's reports stall the device for seconds",
    { flag: 'count-handshakes' },
  ),
} satisfies OptionTable;

/** What `createDevice()` takes (src/option-types.ts: each option's doc and default, from the table above). */
export type DeviceOptions = Doc.DeviceOptions;
const deviceTypesAgree: Same<Doc.DeviceOptions, OptionsOf<typeof deviceOptions>> = true;
export type ResolvedDeviceOptions = ResolvedOf<typeof deviceOptions>;
export const deviceDefaults: ResolvedDeviceOptions = defaultsOf(deviceOptions);

/** Device options this module resolved and checked: handed down (a broker's to its device), they are not resolved again. */
const resolvedDevices = new WeakSet<object>();

export function resolveDeviceOptions(input: DeviceOptions | ResolvedDeviceOptions = {}): ResolvedDeviceOptions {
  if (resolvedDevices.has(input)) return input as ResolvedDeviceOptions;
  const o = resolveTable('device', deviceOptions, input);
  checkDevice(o);
  return resolvedDevice(o);
}

function resolvedDevice(o: ResolvedDeviceOptions): ResolvedDeviceOptions {
  const frozen = Object.freeze(o);
  resolvedDevices.add(frozen);
  return frozen;
}

/** The checks that relate one device option to another. */
function checkDevice(o: ResolvedDeviceOptions): void {
  if (sameEndpoint(o.frontend, o.backend) && o.policy !== 'least-busy') {
    throw invalidOption(
      'backend',
      'another endpoint than frontend, unless policy is "least-busy" (one ROUTER for clients and workers, as Majordomo brokers)',
      o.backend,
    );
  }
  if (o.engine === 'native' && o.policy !== 'round-robin') {
    throw invalidOption('policy', '"round-robin" with engine "native" (libzmq\'s proxy cannot balance by readiness)', o.policy);
  }
  if (o.tap !== '') {
    endpoint('tap', o.tap, 'bind');
    if (o.engine === 'native')
      throw invalidOption('tap', '\'\' with engine "native" (libzmq\'s proxy is not tapped; use engine "js")', o.tap);
  }
  if (o.allowKeys !== null && o.curveSecretKey === '')
    throw invalidOption('allowKeys', 'null unless curveSecretKey is set (keys are checked in the CURVE handshake)', 'a list');
  if (o.allowServerKeys !== null && o.backendCurveSecretKey === '')
    throw invalidOption('allowServerKeys', 'null unless backendCurveSecretKey is set', 'a list');
}

// ---------------------------------------------------------------- server

export const serverOptions = {
  endpoint: address(
    'tcp://localhost:5560',
    'connect',
    "the device's backend (several, comma-separated: one socket each, with its own READY, credits and heartbeats)",
    [
      connectFlag(),
      {
        flag: 'bind',
        arg: 'ENDPOINT',
        also: () => ({ bind: true }),
        shownDefault: '',
        doc: 'bind here instead of connecting (clients then come straight to this server)',
      },
    ],
  ),
  bind: bool(false, 'bind instead of connect: clients then come straight to this server, which does not announce READY'),
  endpoints: endpointList('several devices (ServerGroup): one socket each; a Server itself takes one endpoint'),
  concurrency: int(1, 1, 100_000, 'requests handled at once (for async handlers; 1 as a REP server)', { flag: 'concurrency', arg: 'N' }),
  routingId: spec<string>(
    '',
    "the socket's routing id, so a device can name this server ('': libzmq's)",
    (n, v) => {
      if (typeof v !== 'string' || v.length > 255) throw invalidOption(n, 'a string of up to 255 characters', v);
    },
    { flag: 'routing-id', arg: 'ID', shownDefault: "libzmq's" },
  ),
  handlerTimeoutMs: int(0, 0, MAX_MS, 'a handler still running after this long gets a "timeout" reply and is abandoned (0: never)'),
  closeTimeoutMs: int(2_000, 0, MAX_MS, 'close() waits this long for running handlers'),
  ...curveClientKeys('the device backend', 'server', 'a device with a server allow-list'),
  service: text('', "register as a Majordomo worker (RFC 7) of this service, one request at a time ('' : zqueue's worker protocol)", {
    flag: 'service',
    arg: 'NAME',
    shownDefault: "zqueue's protocol",
  }),
  heartbeatIntervalMs: int(
    1_000,
    0,
    3_600_000,
    'heartbeat with a least-busy device; reconnect when it is silent 3 periods, backing off up to 32 (0: off)',
    {
      flag: 'heartbeat',
      arg: 'MS',
    },
  ),
} satisfies OptionTable;

/** What `createServer()` takes (src/option-types.ts). */
export type ServerOptions = Doc.ServerOptions;
const serverTypesAgree: Same<Doc.ServerOptions, OptionsOf<typeof serverOptions>> = true;
export type ResolvedServerOptions = ResolvedOf<typeof serverOptions>;
export const serverDefaults: ResolvedServerOptions = defaultsOf(serverOptions);

export function resolveServerOptions(input: ServerOptions = {}): ResolvedServerOptions {
  const o = resolveTable('server', serverOptions, input, { endpoint: (r) => (r.bind === true ? 'bind' : 'connect') });
  return Object.freeze(curveClient(o));
}

// ---------------------------------------------------------------- close(), for every object that has one

/** What close() takes, on a Device, Server, ServerGroup, Broker and Client alike. */
export interface CloseOptions {
  /**
   * How long close() lets work in flight finish before it ends it (ms).
   * @default the object's `closeTimeoutMs` option
   */
  readonly timeoutMs?: number | undefined;
}

// ---------------------------------------------------------------- client

export const clientOptions = {
  endpoint: address(
    'tcp://localhost:5559',
    'connect',
    "the device's frontend (several, comma-separated: requests are spread over them and fail over)",
    connectFlag(),
  ),
  endpoints: endpointList(
    "several devices' frontends: requests spread over the healthy ones, a timed-out one fails over to the next ([] : endpoint alone)",
  ),
  timeoutMs: int(2_500, 1, MAX_MS, "how long one attempt waits for its reply (the zguide's Lazy Pirate)", { flag: 'timeout', arg: 'MS' }),
  retries: int(3, 0, 1_000, 'attempts after the first (a connection silent for two timeouts in a row is replaced)', {
    flag: 'retries',
    arg: 'N',
  }),
  maxInFlight: int(
    4_096,
    1,
    1_000_000,
    'requests in flight at once on this client; past it request() calls wait their turn, in order (Majordomo: 1)',
  ),
  batching: bool(
    true,
    'offer the batched wire to each device (a least-busy zqueue device takes the requests of one turn as one message); ' +
      'off: one request a message',
  ),
  closeTimeoutMs: int(2_000, 0, MAX_MS, 'close() waits this long for requests in flight, then rejects them'),
  service: text('', "speak Majordomo (RFC 7) and ask for this service ('' : plain requests)", {
    flag: 'service',
    arg: 'NAME',
    shownDefault: 'plain',
  }),
  ...curveClientKeys('the device', 'client', 'a device with an allow-list'),
} satisfies OptionTable;

/** What `createClient()` takes (src/option-types.ts). */
export type ClientOptions = Doc.ClientOptions;
const clientTypesAgree: Same<Doc.ClientOptions, OptionsOf<typeof clientOptions>> = true;
export type ResolvedClientOptions = ResolvedOf<typeof clientOptions>;
export const clientDefaults: ResolvedClientOptions = defaultsOf(clientOptions);

export function resolveClientOptions(input: ClientOptions = {}): ResolvedClientOptions {
  return Object.freeze(curveClient(resolveTable('client', clientOptions, input)));
}

// ---------------------------------------------------------------- broker: the device's options, the pool's, and the handler

export const poolOptions = {
  handler: spec<string | URL>(
    '',
    'module whose default export is (request: Buffer[]) => reply: a path (relative ones from the working directory), a ' +
      "file: URL, or a URL object such as new URL('./handler.js', import.meta.url)",
    (n, v) => {
      handlerPath(n, v);
    },
    { flag: 'handler', arg: 'FILE', shownDefault: '' },
  ),
  threads: int(availableParallelism(), 1, 1024, 'server worker threads', {
    flag: 'threads',
    arg: 'N',
    shownDefault: `available cores, ${availableParallelism()} here`,
  }),
  concurrency: { ...serverOptions.concurrency, doc: 'requests one worker handles at once (for async handlers)' },
  service: {
    ...serverOptions.service,
    doc: "the worker threads register as Majordomo workers (RFC 7) of this service ('' : zqueue's worker protocol)",
  },
  stopGraceMs: int(1_000, 0, MAX_MS, 'a retired worker gets this long to stop before its thread is terminated'),
  join: endpointList("other devices' backends the worker threads serve too (one socket each, heartbeating)", {
    flag: 'join',
    arg: 'ENDPOINT,...',
    parse: list,
    shownDefault: 'none',
  }),
} satisfies OptionTable;

export const brokerOptions = {
  ...deviceOptions,
  backend: spec(
    'inproc',
    'how workers join the device: inproc (fastest up to about 1 KiB; frames over 128 bytes as strings, src/inproc.ts), ' +
      'ipc (a private socket file; fastest for large messages), or an endpoint to bind (remote servers may join it)',
    (n, v) => {
      if (v !== 'ipc' && v !== 'inproc') endpoint(n, v, 'bind');
    },
    { flag: 'backend', arg: 'ipc|inproc|ENDPOINT' },
  ),
  policy: { ...deviceOptions.policy, default: 'least-busy' },
  ...poolOptions,
} satisfies OptionTable;

/** What `createBroker()` takes (src/option-types.ts). */
export type BrokerOptions = Doc.BrokerOptions;
const brokerTypesAgree: Same<Doc.BrokerOptions, Omit<OptionsOf<typeof brokerOptions>, 'handler'> & { handler: string | URL }> = true;
/** Resolved: `handler` is the module's absolute path. */
export type ResolvedBrokerOptions = Omit<ResolvedOf<typeof brokerOptions>, 'handler'> & { readonly handler: string };

/** Where a relative handler path was looked for, and how to name a module beside the caller's. */
function relativeHint(): string {
  return (
    ` (a relative path is taken from the working directory, ${process.cwd()}; ` +
    "new URL('./handler.js', import.meta.url) names a file beside your module)"
  );
}

/**
 * A handler module's absolute path, from a path (relative to the working
 * directory, as Node's own APIs take it), a `file:` URL string or a URL
 * object. Throws ERR_ZQ_INVALID_OPTION naming what is wrong, a missing file
 * included: before anything binds or any thread starts.
 */
export function handlerPath(name: string, value: unknown): string {
  let path: string;
  if (value instanceof URL || (typeof value === 'string' && value.startsWith('file:'))) {
    const url = value instanceof URL ? value : URL.canParse(value) ? new URL(value) : undefined;
    if (url?.protocol !== 'file:') throw invalidOption(name, 'a path or a file: URL of a handler module', String(value));
    path = fileURLToPath(url);
  } else if (typeof value === 'string' && value.length > 0) {
    path = resolvePath(value);
  } else {
    throw invalidOption(name, 'the path (or file: URL) of a handler module', value);
  }
  if (!existsSync(path)) {
    const relative = typeof value === 'string' && !isAbsolute(value) && !value.startsWith('file:');
    throw new ZqueueError(ErrorCode.InvalidOption, `option "${name}": no handler module at ${path}${relative ? relativeHint() : ''}`);
  }
  return path;
}
export const brokerDefaults: Omit<ResolvedBrokerOptions, 'handler'> = (() => {
  const { handler: _handler, ...rest } = defaultsOf(brokerOptions);
  return Object.freeze(rest);
})();

export function resolveBrokerOptions(input: BrokerOptions): ResolvedBrokerOptions {
  const o = resolveTable('broker', brokerOptions, input);
  // The device's own cross-checks, with the backend as the device will bind it.
  checkDevice({ ...o, policy: o.policy as Policy, backend: deviceDefaults.backend });
  return Object.freeze({ ...o, handler: handlerPath('handler', o.handler) });
}

/** The device's share of a broker's resolved options (the pool's go to the workers), resolved: the device takes it as it is. */
export function deviceShare(o: ResolvedBrokerOptions, backend: string): ResolvedDeviceOptions {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(deviceOptions)) out[k] = (o as Record<string, unknown>)[k];
  out.backend = endpointChecked('backend', backend);
  const share = out as ResolvedDeviceOptions;
  // Checked once more with the backend the device will bind (resolveBrokerOptions checked it with the default's).
  checkDevice({ ...share, policy: o.policy as Policy });
  return resolvedDevice(share);
}

function endpointChecked(name: string, value: string): string {
  endpoint(name, value, 'bind');
  return value;
}

// The generated interfaces agree with their tables (each `= true` above compiles only then).
void [deviceTypesAgree, serverTypesAgree, clientTypesAgree, brokerTypesAgree];

// ---------------------------------------------------------------- resolving a table

/** The table's defaults, derived ones included, frozen. */
export function defaultsOf<T extends OptionTable>(table: T): ResolvedOf<T> {
  return Object.freeze(resolveTable('', table, {}, {}, false)) as ResolvedOf<T>;
}

/**
 * Fills in defaults and checks every field. `roles` picks an endpoint's role
 * from other options (a server's endpoint is bound with `bind: true`).
 */
export function resolveTable<T extends OptionTable>(
  what: string,
  table: T,
  input: object,
  roles: Readonly<Record<string, (o: Record<string, unknown>) => EndpointRole>> = {},
  check = true,
): ResolvedOf<T> & Record<string, unknown> {
  if (check) checkKnown(what, input, table);
  const given = defined(input) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(table)) if (s.derive === undefined) out[k] = k in given ? given[k] : s.default;
  for (const [k, s] of Object.entries(table)) if (s.derive !== undefined) out[k] = k in given ? given[k] : s.derive(out);
  if (check) {
    for (const [k, s] of Object.entries(table)) {
      const role = roles[k];
      if (role !== undefined) endpoint(k, out[k], role(out));
      else s.check(k, out[k]);
    }
  }
  return out as ResolvedOf<T> & Record<string, unknown>;
}

/** Checks a CURVE client's keys, and makes it a fresh key pair when it has a server key but none of its own. */
function curveClient<T extends { curveServerKey: string; curvePublicKey: string; curveSecretKey: string }>(o: T): T {
  if ((o.curvePublicKey === '') !== (o.curveSecretKey === ''))
    throw invalidOption('curveSecretKey', 'given together with curvePublicKey (a key pair)', o.curveSecretKey === '' ? '' : 'a key');
  if (o.curveServerKey === '' && o.curveSecretKey !== '')
    throw invalidOption('curveServerKey', "the server's public key when a key pair is given", '');
  if (o.curveServerKey !== '' && o.curveSecretKey === '') {
    const pair = zmq.curveKeyPair();
    return { ...o, curvePublicKey: pair.publicKey, curveSecretKey: pair.secretKey };
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
  if (typeof value !== 'string' || (value !== '' && !isZ85Key(value)))
    throw invalidOption(
      name,
      'a 40-character Z85 key (see zqueue keygen)',
      typeof value === 'string' ? `${value.length} characters` : value,
    );
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

/** Three octal digits, as chmod takes them. */
function octal(text: string): number {
  if (!/^[0-7]{3}$/.test(text)) throw invalidOption('ipcMode', 'three octal digits such as 600 or 660', text);
  return parseInt(text, 8);
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
