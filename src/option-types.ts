/**
 * The library's option types, each field with its doc line and default. Written by
 * `npm run options` from the option tables in src/options.ts: do not edit; change the tables.
 */

/**
 * A device: `createDevice(options)`, `zqueue device`.
 */
export interface DeviceOptions {
  /**
   * Bind the clients' side (a ROUTER) here.
   * Command line: --frontend.
   * @default 'tcp://*:5559'
   */
  frontend?: string;
  /**
   * Bind the servers' side here.
   * Command line: --backend.
   * @default 'tcp://*:5560'
   */
  backend?: string;
  /**
   * Native: libzmq's proxy on a thread of its own; js: the counting loops on the main thread.
   * Command line: --engine.
   * @default 'js'
   */
  engine?: 'native' | 'js';
  /**
   * Round-robin: the seed's DEALER; least-busy: workers announce READY and get requests as they have room.
   * Command line: --policy.
   * @default 'round-robin'
   */
  policy?: 'round-robin' | 'least-busy';
  /**
   * Listen backlog of tcp/ipc sockets, in connections (libzmq's own is 100).
   * Command line: --backlog.
   * @default 4096
   */
  backlog?: number;
  /**
   * Largest message from a client, in bytes; a peer that sends more is cut off (-1: no limit).
   * Command line: --max-message-size.
   * @default 16777216
   */
  maxMessageSize?: number;
  /**
   * Least-busy: requests that may wait for a free worker; past it clients get "busy".
   * Command line: --max-queued.
   * @default 10000
   */
  maxQueued?: number;
  /**
   * Least-busy: requests one client (one routing identity) may have waiting; past it that client gets "busy".
   * Command line: --max-queued-per-client.
   * @default a quarter of --max-queued
   */
  maxQueuedPerClient?: number;
  /**
   * Least-busy: fair: waiting requests are served a client at a time, in turn; fifo: in arrival order, whoever
   * sent them.
   * Command line: --queue-order.
   * @default 'fair'
   */
  queueOrder?: 'fair' | 'fifo';
  /**
   * Least-busy: the Majordomo service plain requests go to ('' : zqueue's own and Paranoid Pirate workers).
   * Command line: --plain-service.
   * @default zqueue's workers
   */
  plainService?: string;
  /**
   * Least-busy: a request for a service no worker offers waits this long, then gets "no-service" (below a client's
   * default 2500 ms timeout, so that it hears why).
   * Command line: --service-wait.
   * @default 2000
   */
  serviceWaitMs?: number;
  /**
   * Least-busy: a request held by a worker longer than this gets "timeout" (0: never).
   * Command line: --handler-timeout.
   * @default 30000
   */
  handlerTimeoutMs?: number;
  /**
   * Least-busy: a dead worker's requests are retried once elsewhere, or fail.
   * Command line: --on-worker-death.
   * @default 'retry'
   */
  onWorkerDeath?: 'retry' | 'fail';
  /**
   * Send/receive high-water mark of the device's sockets, in messages.
   * Command line: --hwm.
   * @default 10000
   */
  highWaterMark?: number;
  /**
   * Close() waits this long for in-flight requests.
   * Command line: --close-timeout.
   * @default 2000
   */
  closeTimeoutMs?: number;
  /**
   * Publish every request ("in") and reply ("out") on a PUB socket bound here (js engine; '': off).
   * Command line: --tap.
   * @default off
   */
  tap?: string;
  /**
   * Messages a tap subscriber may lag by before the tap drops (and counts) them.
   * Command line: --tap-hwm.
   * @default 1000
   */
  tapHighWaterMark?: number;
  /**
   * Time each request at the device for the latency histogram (js engine).
   * @default true
   */
  recordLatency?: boolean;
  /**
   * Encrypt the frontend with CURVE: its Z85 secret key (FILE: NAME.key_secret from zqueue keygen).
   * Command line: --curve-secret-key.
   * @default plain
   */
  curveSecretKey?: string;
  /**
   * Only clients whose public key is listed (a .key file, a folder of them, or bare Z85 keys one per line; re-read
   * on SIGHUP).
   * Command line: --allow-keys.
   * @default any
   */
  allowKeys?: readonly string[] | null;
  /**
   * Only clients from these source addresses (CIDR ranges, tcp).
   * Command line: --allow-from.
   * @default any
   */
  allowFrom?: readonly string[] | null;
  /**
   * Encrypt the backend too: its Z85 secret key (servers need its .key).
   * Command line: --backend-curve-secret-key.
   * @default plain
   */
  backendCurveSecretKey?: string;
  /**
   * Only servers whose public key is listed (re-read on SIGHUP).
   * Command line: --allow-server-keys.
   * @default any
   */
  allowServerKeys?: readonly string[] | null;
  /**
   * Permissions of the ipc socket files the device binds (octal; 600: its owner only).
   * Command line: --ipc-mode.
   * @default 600
   */
  ipcMode?: number;
  /**
   * Least-busy: heartbeat with servers that heartbeat; one silent for 3 periods is declared dead (0: off).
   * Command line: --heartbeat.
   * @default 1000
   */
  heartbeatIntervalMs?: number;
  /**
   * Messages with more frames than this (envelope included) are refused as bad requests.
   * Command line: --max-frames.
   * @default 256
   */
  maxFrames?: number;
  /**
   * Least-busy: requests a quick worker may hold beyond its credits, waiting in its socket (within 10 ms of its
   * work; 0: off).
   * Command line: --prefetch.
   * @default 128
   */
  prefetch?: number;
  /**
   * Least-busy: adaptive: drop requests whose client left or whose deadline passed, serve the newest first while a
   * queue stands, and when full drop the oldest for the newest; off: first come, first served
   * (src/device/scheduling/overload.ts).
   * Command line: --overload.
   * @default 'adaptive'
   */
  overloadPolicy?: 'off' | 'adaptive';
  /**
   * Least-busy, adaptive: a queue that has not emptied for this long stands, and its newest requests go first.
   * Command line: --standing-queue.
   * @default 100
   */
  standingQueueMs?: number;
  /**
   * Least-busy: a request that waited this long for a worker is answered "busy" (0: no bound).
   * Command line: --max-wait.
   * @default 0
   */
  maxWaitMs?: number;
  /**
   * Cut a connection that has not finished its ZMTP (or CURVE) handshake within this (libzmq's handshake_ivl; 0:
   * never).
   * Command line: --handshake-timeout.
   * @default 1000
   */
  handshakeTimeoutMs?: number;
  /**
   * Least-busy, adaptive: observe the frontend with libzmq's monitor, to count its failed handshakes (garbage, bad
   * greetings); off, its connections are counted from ROUTER_NOTIFY, because in a connection flood past the
   * process's descriptors the monitor's reports stall the device for seconds.
   * Command line: --count-handshakes.
   * @default false
   */
  countHandshakes?: boolean;
}

/**
 * A server: `createServer(handler, options)`, `ServerGroup`, `zqueue server`.
 */
export interface ServerOptions {
  /**
   * The device's backend (several, comma-separated: one socket each, with its own READY, credits and heartbeats).
   * Command line: --connect, --bind.
   * @default 'tcp://localhost:5560'
   */
  endpoint?: string;
  /**
   * Bind instead of connect: clients then come straight to this server, which does not announce READY.
   * @default false
   */
  bind?: boolean;
  /**
   * Several devices (ServerGroup): one socket each; a Server itself takes one endpoint.
   * @default []
   */
  endpoints?: readonly string[];
  /**
   * Requests handled at once (for async handlers; 1 as a REP server).
   * Command line: --concurrency.
   * @default 1
   */
  concurrency?: number;
  /**
   * The socket's routing id, so a device can name this server ('': libzmq's).
   * Command line: --routing-id.
   * @default libzmq's
   */
  routingId?: string;
  /**
   * A handler still running after this long gets a "timeout" reply and is abandoned (0: never).
   * @default 0
   */
  handlerTimeoutMs?: number;
  /**
   * Close() waits this long for running handlers.
   * @default 2000
   */
  closeTimeoutMs?: number;
  /**
   * The device backend's CURVE public key (FILE: NAME.key): talk CURVE.
   * Command line: --curve-server-key.
   * @default plain
   */
  curveServerKey?: string;
  /**
   * This server's own CURVE public key (with curveServerKey only, a fresh pair is made).
   * @default '' (none)
   */
  curvePublicKey?: string;
  /**
   * This server's own CURVE secret key (FILE: NAME.key_secret), for a device with a server allow-list.
   * Command line: --curve-key.
   * @default a fresh pair
   */
  curveSecretKey?: string;
  /**
   * Register as a Majordomo worker (RFC 7) of this service, one request at a time ('' : zqueue's worker protocol).
   * Command line: --service.
   * @default zqueue's protocol
   */
  service?: string;
  /**
   * Heartbeat with a least-busy device; reconnect when it is silent 3 periods, backing off up to 32 (0: off).
   * Command line: --heartbeat.
   * @default 1000
   */
  heartbeatIntervalMs?: number;
}

/**
 * A client: `createClient(options)`, `zqueue client`.
 */
export interface ClientOptions {
  /**
   * The device's frontend (several, comma-separated: requests are spread over them and fail over).
   * Command line: --connect.
   * @default 'tcp://localhost:5559'
   */
  endpoint?: string;
  /**
   * Several devices' frontends: requests spread over the healthy ones, a timed-out one fails over to the next ([]
   * : endpoint alone).
   * @default []
   */
  endpoints?: readonly string[];
  /**
   * How long one attempt waits for its reply (the zguide's Lazy Pirate).
   * Command line: --timeout.
   * @default 2500
   */
  timeoutMs?: number;
  /**
   * Attempts after the first (a connection silent for two timeouts in a row is replaced).
   * Command line: --retries.
   * @default 3
   */
  retries?: number;
  /**
   * Requests in flight at once on this client; past it request() calls wait their turn, in order (Majordomo: 1).
   * @default 4096
   */
  maxInFlight?: number;
  /**
   * Offer the batched wire to each device (a least-busy zqueue device takes the requests of one turn as one
   * message); off: one request a message.
   * @default true
   */
  batching?: boolean;
  /**
   * Close() waits this long for requests in flight, then rejects them.
   * @default 2000
   */
  closeTimeoutMs?: number;
  /**
   * Speak Majordomo (RFC 7) and ask for this service ('' : plain requests).
   * Command line: --service.
   * @default plain
   */
  service?: string;
  /**
   * The device's CURVE public key (FILE: NAME.key): talk CURVE.
   * Command line: --curve-server-key.
   * @default plain
   */
  curveServerKey?: string;
  /**
   * This client's own CURVE public key (with curveServerKey only, a fresh pair is made).
   * @default '' (none)
   */
  curvePublicKey?: string;
  /**
   * This client's own CURVE secret key (FILE: NAME.key_secret), for a device with an allow-list.
   * Command line: --curve-key.
   * @default a fresh pair
   */
  curveSecretKey?: string;
}

/**
 * `zqueue serve` as a library: `createBroker(options)`. Every device option, the pool's, and the handler.
 */
export interface BrokerOptions {
  /**
   * Bind the clients' side (a ROUTER) here.
   * Command line: --frontend.
   * @default 'tcp://*:5559'
   */
  frontend?: string;
  /**
   * How workers join the device: inproc (fastest up to about 1 KiB; frames over 128 bytes as strings,
   * src/inproc.ts), ipc (a private socket file; fastest for large messages), or an endpoint to bind (remote
   * servers may join it).
   * Command line: --backend.
   * @default 'inproc'
   */
  backend?: string;
  /**
   * Native: libzmq's proxy on a thread of its own; js: the counting loops on the main thread.
   * Command line: --engine.
   * @default 'js'
   */
  engine?: 'native' | 'js';
  /**
   * Round-robin: the seed's DEALER; least-busy: workers announce READY and get requests as they have room.
   * Command line: --policy.
   * @default 'least-busy'
   */
  policy?: string;
  /**
   * Listen backlog of tcp/ipc sockets, in connections (libzmq's own is 100).
   * Command line: --backlog.
   * @default 4096
   */
  backlog?: number;
  /**
   * Largest message from a client, in bytes; a peer that sends more is cut off (-1: no limit).
   * Command line: --max-message-size.
   * @default 16777216
   */
  maxMessageSize?: number;
  /**
   * Least-busy: requests that may wait for a free worker; past it clients get "busy".
   * Command line: --max-queued.
   * @default 10000
   */
  maxQueued?: number;
  /**
   * Least-busy: requests one client (one routing identity) may have waiting; past it that client gets "busy".
   * Command line: --max-queued-per-client.
   * @default a quarter of --max-queued
   */
  maxQueuedPerClient?: number;
  /**
   * Least-busy: fair: waiting requests are served a client at a time, in turn; fifo: in arrival order, whoever
   * sent them.
   * Command line: --queue-order.
   * @default 'fair'
   */
  queueOrder?: 'fair' | 'fifo';
  /**
   * Least-busy: the Majordomo service plain requests go to ('' : zqueue's own and Paranoid Pirate workers).
   * Command line: --plain-service.
   * @default zqueue's workers
   */
  plainService?: string;
  /**
   * Least-busy: a request for a service no worker offers waits this long, then gets "no-service" (below a client's
   * default 2500 ms timeout, so that it hears why).
   * Command line: --service-wait.
   * @default 2000
   */
  serviceWaitMs?: number;
  /**
   * Least-busy: a request held by a worker longer than this gets "timeout" (0: never).
   * Command line: --handler-timeout.
   * @default 30000
   */
  handlerTimeoutMs?: number;
  /**
   * Least-busy: a dead worker's requests are retried once elsewhere, or fail.
   * Command line: --on-worker-death.
   * @default 'retry'
   */
  onWorkerDeath?: 'retry' | 'fail';
  /**
   * Send/receive high-water mark of the device's sockets, in messages.
   * Command line: --hwm.
   * @default 10000
   */
  highWaterMark?: number;
  /**
   * Close() waits this long for in-flight requests.
   * Command line: --close-timeout.
   * @default 2000
   */
  closeTimeoutMs?: number;
  /**
   * Publish every request ("in") and reply ("out") on a PUB socket bound here (js engine; '': off).
   * Command line: --tap.
   * @default off
   */
  tap?: string;
  /**
   * Messages a tap subscriber may lag by before the tap drops (and counts) them.
   * Command line: --tap-hwm.
   * @default 1000
   */
  tapHighWaterMark?: number;
  /**
   * Time each request at the device for the latency histogram (js engine).
   * @default true
   */
  recordLatency?: boolean;
  /**
   * Encrypt the frontend with CURVE: its Z85 secret key (FILE: NAME.key_secret from zqueue keygen).
   * Command line: --curve-secret-key.
   * @default plain
   */
  curveSecretKey?: string;
  /**
   * Only clients whose public key is listed (a .key file, a folder of them, or bare Z85 keys one per line; re-read
   * on SIGHUP).
   * Command line: --allow-keys.
   * @default any
   */
  allowKeys?: readonly string[] | null;
  /**
   * Only clients from these source addresses (CIDR ranges, tcp).
   * Command line: --allow-from.
   * @default any
   */
  allowFrom?: readonly string[] | null;
  /**
   * Encrypt the backend too: its Z85 secret key (servers need its .key).
   * Command line: --backend-curve-secret-key.
   * @default plain
   */
  backendCurveSecretKey?: string;
  /**
   * Only servers whose public key is listed (re-read on SIGHUP).
   * Command line: --allow-server-keys.
   * @default any
   */
  allowServerKeys?: readonly string[] | null;
  /**
   * Permissions of the ipc socket files the device binds (octal; 600: its owner only).
   * Command line: --ipc-mode.
   * @default 600
   */
  ipcMode?: number;
  /**
   * Least-busy: heartbeat with servers that heartbeat; one silent for 3 periods is declared dead (0: off).
   * Command line: --heartbeat.
   * @default 1000
   */
  heartbeatIntervalMs?: number;
  /**
   * Messages with more frames than this (envelope included) are refused as bad requests.
   * Command line: --max-frames.
   * @default 256
   */
  maxFrames?: number;
  /**
   * Least-busy: requests a quick worker may hold beyond its credits, waiting in its socket (within 10 ms of its
   * work; 0: off).
   * Command line: --prefetch.
   * @default 128
   */
  prefetch?: number;
  /**
   * Least-busy: adaptive: drop requests whose client left or whose deadline passed, serve the newest first while a
   * queue stands, and when full drop the oldest for the newest; off: first come, first served
   * (src/device/scheduling/overload.ts).
   * Command line: --overload.
   * @default 'adaptive'
   */
  overloadPolicy?: 'off' | 'adaptive';
  /**
   * Least-busy, adaptive: a queue that has not emptied for this long stands, and its newest requests go first.
   * Command line: --standing-queue.
   * @default 100
   */
  standingQueueMs?: number;
  /**
   * Least-busy: a request that waited this long for a worker is answered "busy" (0: no bound).
   * Command line: --max-wait.
   * @default 0
   */
  maxWaitMs?: number;
  /**
   * Cut a connection that has not finished its ZMTP (or CURVE) handshake within this (libzmq's handshake_ivl; 0:
   * never).
   * Command line: --handshake-timeout.
   * @default 1000
   */
  handshakeTimeoutMs?: number;
  /**
   * Least-busy, adaptive: observe the frontend with libzmq's monitor, to count its failed handshakes (garbage, bad
   * greetings); off, its connections are counted from ROUTER_NOTIFY, because in a connection flood past the
   * process's descriptors the monitor's reports stall the device for seconds.
   * Command line: --count-handshakes.
   * @default false
   */
  countHandshakes?: boolean;
  /**
   * Server worker threads.
   * Command line: --threads.
   * @default available cores, 2 here
   */
  threads?: number;
  /**
   * Requests one worker handles at once (for async handlers).
   * Command line: --concurrency.
   * @default 1
   */
  concurrency?: number;
  /**
   * The worker threads register as Majordomo workers (RFC 7) of this service ('' : zqueue's worker protocol).
   * Command line: --service.
   * @default zqueue's protocol
   */
  service?: string;
  /**
   * A retired worker gets this long to stop before its thread is terminated.
   * @default 1000
   */
  stopGraceMs?: number;
  /**
   * Other devices' backends the worker threads serve too (one socket each, heartbeating).
   * Command line: --join.
   * @default none
   */
  join?: readonly string[];
  /**
   * The handler module: a path (relative ones from the working directory), a file: URL, or a URL object.
   */
  handler: string | URL;
}
