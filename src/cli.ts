#!/usr/bin/env node
/**
 * zqueue's command line: `zqueue device | server | client | serve`.
 * Defaults reproduce the pyzmq tutorial's queue device (ports 5559/5560).
 * A user error prints one line on stderr and exits 2 (usage) or 1 (run time).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { randomInt } from 'node:crypto';
import { ZqueueError, ErrorCode } from './errors.js';
import { Device } from './device.js';
import { Server, loadHandler, seedHandler } from './server.js';
import { resolve as resolvePath } from 'node:path';
import { Client } from './client.js';
import { ENGINES, POLICIES, deviceDefaults, type Engine, type Policy } from './options.js';
import { Broker, brokerDefaults } from './broker.js';
import { MetricsServer, StatsLine, deviceOf, isLoopback, parseListenAddress, type Target } from './metrics.js';
import { ControlServer, handlePauseSignals, sendControl, CONTROL_COMMANDS } from './control.js';
import { LOG_FORMATS, Logger, logLifecycle, type LogFormat } from './log.js';
import { formatTapped } from './tap.js';
import * as zmq from 'zeromq';
import { loadAllowList, loadKeyPair, loadPublicKey, writeKeyPair } from './keys.js';

class UsageError extends Error {}

const HELP: Record<string, string> = {
  main: `Usage: zqueue <command> [options]

Commands:
  device   run a queue device (ROUTER frontend, backend for servers), as the seed's queue_device.py
  server   run a server that answers "World from server <id>", as the seed's queue_server.py
  client   send requests and print the replies, as the seed's queue_client.py
  serve    run a device and server workers on worker threads, with a handler module
  keygen   write a CURVE key pair (NAME.key, NAME.key_secret), as pyzmq's create_certificates
  tap      print the requests and replies a device publishes with --tap
  ctl      pause, resume, stop or query a device through its --control socket

Run "zqueue <command> --help" for a command's options.`,
  device: `Usage: zqueue device [options]

  --frontend ENDPOINT   bind the clients' side here        (default tcp://*:5559)
  --backend ENDPOINT    bind the servers' side here        (default tcp://*:5560)
  --engine native|js    libzmq's proxy, or the counting JS loop (default js)
  --policy round-robin|least-busy   how requests are spread (default round-robin; least-busy needs zqueue servers)
  --max-queued N        least-busy: requests that may wait for a server (default 10000)
  --handler-timeout MS  least-busy: answer "timeout" after this long (default 30000)
  --prefetch N          least-busy: requests a quick server may hold beyond its concurrency (default 128)
  --stats-on-exit       print the device's statistics when it stops
  -h, --help
Security (tcp):
  --curve-secret-key FILE   encrypt the frontend with CURVE (FILE: NAME.key_secret from zqueue keygen)
  --allow-keys FILE|DIR     only clients whose public key is listed (a .key file, a folder of them,
                            or bare Z85 keys one per line); re-read on SIGHUP
  --allow-from CIDR,...     only clients from these source addresses
  --backend-curve-secret-key FILE   encrypt the backend too (servers need its .key)
  --allow-server-keys FILE|DIR      only servers whose public key is listed; re-read on SIGHUP
  --ipc-mode OCTAL          permissions of bound ipc socket files (default 600: owner only)
Operating (device and serve):
  --heartbeat MS        least-busy: heartbeat with remote servers; one silent 3 periods is declared dead (default 1000; 0: off)
  --metrics [HOST:]PORT serve Prometheus /metrics here (host default 127.0.0.1)
  --stats-interval S    print one line of rates and latency percentiles to stderr every S seconds
  --tap ENDPOINT        publish every request ("in") and reply ("out") on a PUB socket bound here
  --control ENDPOINT    answer pause|resume|stats|stop on a REP socket (ipc:// or tcp://127.0.0.1:PORT only)
  --log-format text|json  lifecycle log lines on stderr (default text)
  Signals: SIGUSR1 pauses intake, SIGUSR2 resumes it, SIGINT/SIGTERM drain and stop.`,
  server: `Usage: zqueue server [options]

  --connect ENDPOINT    the device's backend                (default tcp://localhost:5560)
  --bind ENDPOINT       bind here instead of connecting
  --delay MS            wait this long before replying      (default 1000, as the seed)
  --concurrency N       requests handled at once            (default 1)
  --quiet               do not print each request
  --handler FILE        answer with this module's default export instead (as zqueue serve)
  --heartbeat MS        heartbeat with a least-busy device; reconnect when it is silent 3 periods (default 1000; 0: off)
  --routing-id ID       this server's identity at the device (default: libzmq's)
  --curve-server-key FILE   the device backend's public key (NAME.key): talk CURVE
  --curve-key FILE      this server's key pair (NAME.key_secret), if the device has a server allow-list
  -h, --help`,
  serve: `Usage: zqueue serve --handler FILE [options]

  --handler FILE        module whose default export is (request: Buffer[]) => reply   (required)
  --threads N           server worker threads               (default: available cores, ${brokerDefaults.threads} here)
  --frontend ENDPOINT   bind the clients' side here         (default tcp://*:5559)
  --backend ipc|inproc|ENDPOINT   how workers join the device (default ipc; inproc: messages of 128 bytes or less only;
                        an endpoint lets remote servers join)
  --policy least-busy|round-robin (default least-busy)
  --concurrency K       requests one worker holds at once    (default 1)
  --max-queued N        requests that may wait; past it clients get "busy" (default 10000)
  --handler-timeout MS  answer "timeout" and replace the worker after this long (default 30000)
  --prefetch N          requests a quick worker may hold beyond its concurrency, in its socket (default 128)
  --on-worker-death retry|fail    what happens to a dead worker's requests (default retry)
  -h, --help
Security (tcp):
  --curve-secret-key FILE   encrypt the frontend with CURVE (FILE: NAME.key_secret from zqueue keygen)
  --allow-keys FILE|DIR     only clients whose public key is listed; re-read on SIGHUP
  --allow-from CIDR,...     only clients from these source addresses
Operating (device and serve):
  --heartbeat MS        least-busy: heartbeat with remote servers; one silent 3 periods is declared dead (default 1000; 0: off)
  --metrics [HOST:]PORT serve Prometheus /metrics here (host default 127.0.0.1)
  --stats-interval S    print one line of rates and latency percentiles to stderr every S seconds
  --tap ENDPOINT        publish every request ("in") and reply ("out") on a PUB socket bound here
  --control ENDPOINT    answer pause|resume|stats|stop on a REP socket (ipc:// or tcp://127.0.0.1:PORT only)
  --log-format text|json  lifecycle log lines on stderr (default text)
  Signals: SIGUSR1 pauses intake, SIGUSR2 resumes it, SIGINT/SIGTERM drain and stop.`,
  tap: `Usage: zqueue tap ENDPOINT [options]

  Subscribes to a device's --tap socket and prints each message on one line:
  "in" (client to device) or "out" (device to client), then its frames.
  --count N             stop after N messages (default: run until Ctrl-C)
  -h, --help`,
  ctl: `Usage: zqueue ctl ENDPOINT pause|resume|stats|stop [options]

  Sends one command to a device's --control socket and prints the answer.
  --timeout MS          wait this long for the answer        (default 2000)
  -h, --help`,
  client: `Usage: zqueue client [options]

  --connect ENDPOINT    the device's frontend               (default tcp://localhost:5559)
  --requests N          how many requests to make           (default 9, as the seed)
  --timeout MS          wait this long for each reply       (default 2500)
  --retries N           resend this many times on a timeout (default 3)
  --message TEXT        the request (default "Hello from <id>")
  --curve-server-key FILE   the device's public key (NAME.key): talk CURVE
  --curve-key FILE      this client's key pair (NAME.key_secret), if the device has an allow-list
  -h, --help`,
  keygen: `Usage: zqueue keygen NAME [--dir DIR]

  Writes DIR/NAME.key (the public key, to hand out) and DIR/NAME.key_secret (the
  key pair, readable by its owner only), in the ZeroMQ certificate format that
  pyzmq and CZMQ read. Prints the public key. Never overwrites a file.
  --dir DIR             where to write (default: the current folder)
  -h, --help`,
};

type Values = Record<string, string | boolean | undefined>;

function parse(command: string, argv: string[], options: ParseArgsConfig['options']): Values {
  return parseWithArgs(command, argv, options, 0)[0];
}

/** Parses options and up to `positionals` plain arguments. */
function parseWithArgs(command: string, argv: string[], options: ParseArgsConfig['options'], positionals: number): [Values, string[]] {
  try {
    const { values, positionals: rest } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: positionals > 0 });
    if (rest.length > positionals) throw new Error(`unexpected argument ${JSON.stringify(rest[positionals])}`);
    return [values, rest];
  } catch (err) {
    throw new UsageError(`zqueue ${command}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0] ?? ''}`);
  }
}

function num(values: Values, name: string, fallback: number, min = 0): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function str(values: Values, name: string, fallback: string): string {
  const raw = values[name];
  return typeof raw === 'string' ? raw : fallback;
}

function choice<T extends string>(values: Values, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(values, name, fallback);
  if (!(allowed as readonly string[]).includes(raw)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

/** Resolves on the first SIGINT or SIGTERM, or `stop()`; then removes its listeners. */
function untilStop(): { stopped: Promise<string>; stop: (why: string) => void } {
  let stop!: (why: string) => void;
  const stopped = new Promise<string>((resolve) => {
    const on = (signal: NodeJS.Signals): void => stop(signal);
    stop = (why) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(why);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
  return { stopped, stop };
}

const OPS_OPTIONS = {
  heartbeat: { type: 'string' },
  metrics: { type: 'string' },
  'stats-interval': { type: 'string' },
  tap: { type: 'string' },
  control: { type: 'string' },
  'log-format': { type: 'string' },
} as const;

const SECURITY_OPTIONS = {
  'curve-secret-key': { type: 'string' },
  'allow-keys': { type: 'string' },
  'allow-from': { type: 'string' },
} as const;

const CURVE_CLIENT_OPTIONS = {
  'curve-server-key': { type: 'string' },
  'curve-key': { type: 'string' },
} as const;

/** The frontend's security options, read from the key files named. */
function frontendSecurity(v: Values): { curveSecretKey: string; allowKeys: string[] | null; allowFrom: string[] | null } {
  const secret = v['curve-secret-key'];
  const allow = v['allow-keys'];
  if (typeof allow === 'string' && typeof secret !== 'string') throw new UsageError('--allow-keys needs --curve-secret-key (keys are checked in the CURVE handshake)');
  const from = v['allow-from'];
  return {
    curveSecretKey: typeof secret === 'string' ? loadKeyPair(secret).secretKey : '',
    allowKeys: typeof allow === 'string' ? loadAllowList(allow) : null,
    allowFrom: typeof from === 'string' ? from.split(',').map((r) => r.trim()).filter((r) => r !== '') : null,
  };
}

/** A CURVE client's keys (for client and server commands), read from the key files named. */
function curveClientKeys(v: Values): { curveServerKey?: string; curvePublicKey?: string; curveSecretKey?: string } {
  const server = v['curve-server-key'];
  const own = v['curve-key'];
  if (typeof own === 'string' && typeof server !== 'string') throw new UsageError('--curve-key needs --curve-server-key');
  if (typeof server !== 'string') return {};
  const pair = typeof own === 'string' ? loadKeyPair(own) : undefined;
  return { curveServerKey: loadPublicKey(server), ...(pair !== undefined ? { curvePublicKey: pair.publicKey, curveSecretKey: pair.secretKey } : {}) };
}

/** On SIGHUP, re-reads the allow-list files into the device; a bad file keeps the old lists. */
function reloadOnHangup(device: Device, v: Values, logger: Logger): () => void {
  const keys = v['allow-keys'];
  const serverKeys = v['allow-server-keys'];
  const onHup = (): void => {
    try {
      const lists = {
        ...(typeof keys === 'string' ? { keys: loadAllowList(keys) } : {}),
        ...(typeof serverKeys === 'string' ? { serverKeys: loadAllowList(serverKeys) } : {}),
      };
      device.setAllowList(lists);
      logger.log('allow-list-reloaded', { keys: lists.keys?.length, serverKeys: lists.serverKeys?.length });
    } catch (err) {
      logger.log('allow-list-reload-failed', { message: err instanceof Error ? err.message : String(err), kept: 'the previous lists' }, 'error');
    }
  };
  if (typeof keys !== 'string' && typeof serverKeys !== 'string') return () => {};
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
}

function logFormat(v: Values): LogFormat {
  return choice<LogFormat>(v, 'log-format', LOG_FORMATS, 'text');
}

/**
 * Runs a started device or broker until a signal or a control "stop", with
 * the operating options on: metrics, the stats line, the control socket,
 * pause/resume signals and lifecycle logs. Then drains and closes it.
 */
async function operate(target: Target, v: Values, logger: Logger, untilStopped: ReturnType<typeof untilStop>): Promise<void> {
  const device = deviceOf(target);
  const unlog = logLifecycle(logger, device, target instanceof Broker ? target : undefined);
  const unpause = handlePauseSignals(target);
  const unhup = reloadOnHangup(device, v, logger);
  let metrics: MetricsServer | undefined;
  let control: ControlServer | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    if (typeof v.metrics === 'string') {
      const address = parseListenAddress('metrics', v.metrics);
      metrics = await MetricsServer.start(target, address);
      logger.log('metrics', { url: metrics.url }, isLoopback(address.host) ? 'info' : 'warn');
    }
    if (typeof v.control === 'string') {
      control = await ControlServer.start(target, v.control, () => untilStopped.stop('control stop'));
      logger.log('control', { endpoint: control.endpoint });
    }
    const every = num(v, 'stats-interval', 0);
    if (every > 0) {
      const line = new StatsLine(target);
      timer = setInterval(() => process.stderr.write(`${line.next()}\n`), every * 1000);
    }
    const why = await untilStopped.stopped;
    logger.log('stopping', { reason: why });
  } finally {
    clearInterval(timer);
    unpause();
    unhup();
    await control?.close();
    await metrics?.close();
    await target.close();
    unlog();
  }
}

async function device(argv: string[]): Promise<void> {
  const v = parse('device', argv, {
    frontend: { type: 'string' },
    backend: { type: 'string' },
    engine: { type: 'string' },
    policy: { type: 'string' },
    'max-queued': { type: 'string' },
    'handler-timeout': { type: 'string' },
    prefetch: { type: 'string' },
    'stats-on-exit': { type: 'boolean' },
    ...OPS_OPTIONS,
    ...SECURITY_OPTIONS,
    'backend-curve-secret-key': { type: 'string' },
    'allow-server-keys': { type: 'string' },
    'ipc-mode': { type: 'string' },
  });
  if (v.help === true) return void console.log(HELP.device);
  const backendSecret = v['backend-curve-secret-key'];
  const serverKeys = v['allow-server-keys'];
  if (typeof serverKeys === 'string' && typeof backendSecret !== 'string') throw new UsageError('--allow-server-keys needs --backend-curve-secret-key');
  const ipcMode = str(v, 'ipc-mode', '600');
  if (!/^[0-7]{3}$/.test(ipcMode)) throw new UsageError(`--ipc-mode must be three octal digits such as 600 or 660, got ${JSON.stringify(ipcMode)}`);
  const logger = new Logger(logFormat(v));
  const dev = new Device({
    frontend: str(v, 'frontend', 'tcp://*:5559'),
    backend: str(v, 'backend', 'tcp://*:5560'),
    engine: choice<Engine>(v, 'engine', ENGINES, 'js'),
    policy: choice<Policy>(v, 'policy', POLICIES, 'round-robin'),
    maxQueued: num(v, 'max-queued', 10_000),
    handlerTimeoutMs: num(v, 'handler-timeout', 30_000),
    heartbeatIntervalMs: num(v, 'heartbeat', 1000),
    prefetch: num(v, 'prefetch', deviceDefaults.prefetch),
    tap: str(v, 'tap', ''),
    ...frontendSecurity(v),
    backendCurveSecretKey: typeof backendSecret === 'string' ? loadKeyPair(backendSecret).secretKey : '',
    allowServerKeys: typeof serverKeys === 'string' ? loadAllowList(serverKeys) : null,
    ipcMode: parseInt(ipcMode, 8),
  });
  const stop = untilStop();
  await dev.start();
  await operate(dev, v, logger, stop);
  if (v['stats-on-exit'] === true) console.error(JSON.stringify(dev.stats()));
}

async function server(argv: string[]): Promise<void> {
  const v = parse('server', argv, {
    connect: { type: 'string' },
    bind: { type: 'string' },
    delay: { type: 'string' },
    concurrency: { type: 'string' },
    quiet: { type: 'boolean' },
    handler: { type: 'string' },
    heartbeat: { type: 'string' },
    'routing-id': { type: 'string' },
    ...CURVE_CLIENT_OPTIONS,
  });
  if (v.help === true) return void console.log(HELP.server);
  if (v.bind !== undefined && v.connect !== undefined) throw new UsageError('--connect and --bind cannot be used together');
  const bind = typeof v.bind === 'string';
  const log = v.quiet === true ? () => {} : (line: string) => console.log(line);
  const handler = typeof v.handler === 'string' ? await loadHandler(resolvePath(v.handler)) : seedHandler(num(v, 'delay', 1000), randomInt(1, 10005), log);
  const routingId = v['routing-id'];
  const srv = new Server(handler, {
    endpoint: bind ? str(v, 'bind', '') : str(v, 'connect', 'tcp://localhost:5560'),
    bind,
    concurrency: num(v, 'concurrency', 1, 1),
    heartbeatIntervalMs: num(v, 'heartbeat', 1000),
    ...(typeof routingId === 'string' ? { routingId } : {}),
    ...curveClientKeys(v),
  });
  srv.onReconnect = (why) => console.error(`zqueue server: reconnecting: ${why}`);
  const { stopped } = untilStop();
  await srv.start();
  await stopped;
  await srv.close();
}

async function client(argv: string[]): Promise<void> {
  const v = parse('client', argv, {
    connect: { type: 'string' },
    requests: { type: 'string' },
    timeout: { type: 'string' },
    retries: { type: 'string' },
    message: { type: 'string' },
    ...CURVE_CLIENT_OPTIONS,
  });
  if (v.help === true) return void console.log(HELP.client);
  const requests = num(v, 'requests', 9);
  const message = str(v, 'message', `Hello from ${randomInt(1, 10005)}`);
  const c = new Client({
    endpoint: str(v, 'connect', 'tcp://localhost:5559'),
    timeoutMs: num(v, 'timeout', 2500, 1),
    retries: num(v, 'retries', 3),
    ...curveClientKeys(v),
  });
  const stop = new AbortController();
  const onSignal = (): void => {
    stop.abort();
    c.close();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    console.log('Connecting to server...');
    for (let i = 1; i <= requests && !stop.signal.aborted; i++) {
      console.log(`Sending request  ${i} ...`);
      const reply = await c.request(message);
      console.log(`Received reply  ${i} [ ${reply.map((f) => f.toString()).join(' ')} ]`);
    }
  } catch (err) {
    if (!(stop.signal.aborted && err instanceof ZqueueError && err.code === ErrorCode.Closed)) throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    c.close();
  }
}

async function serve(argv: string[]): Promise<void> {
  const v = parse('serve', argv, {
    handler: { type: 'string' },
    threads: { type: 'string' },
    frontend: { type: 'string' },
    backend: { type: 'string' },
    policy: { type: 'string' },
    concurrency: { type: 'string' },
    'max-queued': { type: 'string' },
    'handler-timeout': { type: 'string' },
    'on-worker-death': { type: 'string' },
    prefetch: { type: 'string' },
    ...OPS_OPTIONS,
    ...SECURITY_OPTIONS,
  });
  if (v.help === true) return void console.log(HELP.serve);
  if (typeof v.handler !== 'string') throw new UsageError('zqueue serve: --handler FILE is required');
  const logger = new Logger(logFormat(v));
  const stop = untilStop();
  const broker = await Broker.create({
    handler: v.handler,
    threads: num(v, 'threads', brokerDefaults.threads, 1),
    frontend: str(v, 'frontend', brokerDefaults.frontend),
    backend: str(v, 'backend', brokerDefaults.backend),
    policy: choice<Policy>(v, 'policy', POLICIES, 'least-busy'),
    concurrency: num(v, 'concurrency', 1, 1),
    maxQueued: num(v, 'max-queued', brokerDefaults.maxQueued),
    handlerTimeoutMs: num(v, 'handler-timeout', brokerDefaults.handlerTimeoutMs),
    onWorkerDeath: choice(v, 'on-worker-death', ['retry', 'fail'] as const, 'retry'),
    heartbeatIntervalMs: num(v, 'heartbeat', 1000),
    prefetch: num(v, 'prefetch', brokerDefaults.prefetch),
    tap: str(v, 'tap', ''),
    ...frontendSecurity(v),
  });
  const o = broker.options;
  logger.log('workers', { threads: o.threads, policy: o.policy, handler: o.handler });
  await operate(broker, v, logger, stop);
}

function keygen(argv: string[]): void {
  const [v, args] = parseWithArgs('keygen', argv, { dir: { type: 'string' } }, 1);
  if (v.help === true) return void console.log(HELP.keygen);
  const name = args[0];
  if (name === undefined) throw new UsageError('zqueue keygen: NAME is required (the files are NAME.key and NAME.key_secret)');
  const { publicFile, secretFile, keys } = writeKeyPair(str(v, 'dir', '.'), name);
  console.log(keys.publicKey);
  console.error(`zqueue keygen: wrote ${publicFile} (public) and ${secretFile} (secret, mode 600)`);
}

async function tap(argv: string[]): Promise<void> {
  const [v, args] = parseWithArgs('tap', argv, { count: { type: 'string' } }, 1);
  if (v.help === true) return void console.log(HELP.tap);
  const endpoint = args[0];
  if (endpoint === undefined) throw new UsageError('zqueue tap: ENDPOINT is required (the device\'s --tap endpoint)');
  const count = num(v, 'count', 0);
  const sub = new zmq.Subscriber({ linger: 0 });
  const onSignal = (): void => sub.close();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    sub.connect(endpoint);
    sub.subscribe();
    let seen = 0;
    for await (const frames of sub) {
      console.log(formatTapped(frames));
      if (count > 0 && ++seen >= count) break;
    }
  } catch (err) {
    if (!sub.closed) throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!sub.closed) sub.close();
  }
}

async function ctl(argv: string[]): Promise<void> {
  const [v, args] = parseWithArgs('ctl', argv, { timeout: { type: 'string' } }, 2);
  if (v.help === true) return void console.log(HELP.ctl);
  const [endpoint, command] = args;
  if (endpoint === undefined || command === undefined) throw new UsageError(`zqueue ctl: ENDPOINT and a command (${CONTROL_COMMANDS.join('|')}) are required`);
  console.log(await sendControl(endpoint, command, num(v, 'timeout', 2000, 1)));
}

const commands: Record<string, (argv: string[]) => Promise<void> | void> = { device, server, client, serve, keygen, tap, ctl };

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    console.log(HELP.main);
    return command === undefined ? 2 : 0;
  }
  const run = commands[command];
  try {
    if (run === undefined) throw new UsageError(`zqueue: unknown command "${command}" (try zqueue --help)`);
    await run(rest);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(err.message);
      return 2;
    }
    if (err instanceof ZqueueError) {
      console.error(`zqueue ${command}: ${err.message}`);
      return err.code === ErrorCode.InvalidOption || err.code === ErrorCode.InvalidEndpoint ? 2 : 1;
    }
    console.error(`zqueue ${command}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
