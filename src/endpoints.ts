/**
 * Endpoint strings, checked before they reach libzmq so that a typo gets a
 * clear message instead of a bare EINVAL.
 */
import { chmodSync, existsSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { isIP } from 'node:net';
import type * as zmq from 'zeromq';
import { ErrorCode, ZqueueError, invalidOption, zmqCode } from './errors.js';
import { isDnsEndpoint, parseDnsEndpoint } from './discovery.js';

export type Transport = 'tcp' | 'ipc' | 'inproc';
export type EndpointRole = 'bind' | 'connect';

export interface Endpoint {
  readonly transport: Transport;
  /** The endpoint as libzmq takes it. */
  readonly url: string;
  /** tcp only. */
  readonly host?: string;
  /** tcp only; `*` (bind to any free port) is kept as 0. */
  readonly port?: number;
  /** ipc only: the socket file's path. */
  readonly path?: string;
  /** inproc only. */
  readonly name?: string;
}

const TCP = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.*-]+):(\d+|\*)$/;

function bad(endpoint: string, why: string): ZqueueError {
  return new ZqueueError(ErrorCode.InvalidEndpoint, `invalid endpoint ${JSON.stringify(endpoint)}: ${why}`);
}

/**
 * Parses and checks an endpoint for binding or connecting. Throws a
 * ZqueueError with code ERR_ZQ_INVALID_ENDPOINT naming what is wrong.
 */
export function parseEndpoint(endpoint: string, role: EndpointRole): Endpoint {
  if (typeof endpoint !== 'string' || endpoint.length === 0) {
    throw bad(String(endpoint), 'expected tcp://HOST:PORT, ipc://PATH or inproc://NAME');
  }
  const sep = endpoint.indexOf('://');
  if (sep < 0) throw bad(endpoint, 'expected tcp://HOST:PORT, ipc://PATH or inproc://NAME');
  const scheme = endpoint.slice(0, sep);
  const rest = endpoint.slice(sep + 3);
  switch (scheme) {
    case 'tcp': {
      const m = TCP.exec(endpoint);
      if (!m) throw bad(endpoint, 'tcp endpoints are tcp://HOST:PORT (HOST may be * to bind on all interfaces)');
      const host = m[1] ?? '';
      const portText = m[2] ?? '';
      if (role === 'connect' && (host === '*' || portText === '*')) {
        throw bad(endpoint, 'a connect endpoint needs a real host and port, not *');
      }
      const port = portText === '*' ? 0 : Number(portText);
      if (portText !== '*' && (!Number.isInteger(port) || port < 1 || port > 65535)) {
        throw bad(endpoint, 'the port must be between 1 and 65535');
      }
      return { transport: 'tcp', url: endpoint, host, port };
    }
    case 'ipc': {
      if (rest.length === 0) throw bad(endpoint, 'ipc endpoints are ipc://PATH');
      if (role === 'bind' && !rest.startsWith('@')) {
        const dir = dirname(resolve(rest));
        if (!existsSync(dir) || !statSync(dir).isDirectory()) {
          throw bad(endpoint, `the folder ${dir} does not exist`);
        }
      }
      return { transport: 'ipc', url: endpoint, path: rest };
    }
    case 'inproc': {
      if (rest.length === 0) throw bad(endpoint, 'inproc endpoints are inproc://NAME');
      return { transport: 'inproc', url: endpoint, name: rest };
    }
    case 'dns': {
      // Devices found through DNS (src/discovery.ts): each address it resolves to is a tcp endpoint.
      if (role !== 'connect') throw bad(endpoint, 'a dns: endpoint names devices to connect to; bind tcp, ipc or inproc');
      const t = parseDnsEndpoint(endpoint);
      return { transport: 'tcp', url: endpoint, host: t.name, port: t.port };
    }
    default:
      throw bad(endpoint, `unknown transport "${scheme}" (use tcp, ipc or inproc; dns to find devices)`);
  }
}

/** The endpoint a peer on this host connects to, for an endpoint bound here. */
export function connectUrlFor(bound: string): string {
  const ep = parseEndpoint(bound, 'bind');
  if (ep.transport !== 'tcp') return ep.url;
  const host = ep.host === '*' || ep.host === '0.0.0.0' ? '127.0.0.1' : ep.host === '[::]' ? '[::1]' : ep.host;
  return `tcp://${host ?? '127.0.0.1'}:${ep.port ?? 0}`;
}

let unique = 0;

/**
 * Expands the backend shorthands: `inproc` and `ipc` become a private
 * endpoint for this process; anything else must be a full endpoint.
 */
export function resolveBackend(spec: string): string {
  const n = `${process.pid}-${++unique}-${Date.now().toString(36)}`;
  if (spec === 'inproc') return `inproc://zqueue-backend-${n}`;
  if (spec === 'ipc') return `ipc://${join(tmpdir(), `zqueue-backend-${n}.sock`)}`;
  return spec;
}

/**
 * The largest frame that may cross between threads over inproc. zeromq.js
 * copies frames up to 128 bytes and hands larger ones over as they are (zero
 * copy); between threads that corrupts the heap and aborts the process within
 * seconds under load (seen at 1 KiB and 64 KiB, in both directions; copying
 * in JavaScript first does not help). tcp and ipc copy through the kernel and
 * are safe. Over inproc (the default backend) every zqueue socket sends
 * larger frames as strings instead: see src/inproc.ts.
 */
export const INPROC_MAX_FRAME = 128;

/** Who may use a bound ipc socket file, unless told otherwise: its owner only. */
export const IPC_MODE = 0o600;

/**
 * Sets a bound ipc socket file's permissions (libzmq leaves them to the
 * umask, usually world-connectable). Abstract sockets (`ipc://@name`) have no file.
 */
export function restrictIpc(endpoint: string, mode: number): void {
  if (!endpoint.startsWith('ipc://') || endpoint.startsWith('ipc://@')) return;
  try {
    chmodSync(endpoint.slice('ipc://'.length), mode);
  } catch (err) {
    throw new ZqueueError(ErrorCode.Bind, `cannot set the permissions of ${endpoint}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * For a bound ipc endpoint: a function that removes its socket file, to call
 * once the socket is closed (libzmq leaves the file behind when the process
 * ends before its I/O thread has closed the listener, which is the usual case).
 * It removes only the file this bind made: one replaced since (another
 * process bound the path) is left alone. A no-op for other transports.
 */
export function ipcFileRemover(endpoint: string): () => void {
  if (!endpoint.startsWith('ipc://') || endpoint.startsWith('ipc://@')) return () => {};
  const path = endpoint.slice('ipc://'.length);
  let ino: number;
  try {
    ino = statSync(path).ino;
  } catch {
    return () => {};
  }
  return () => {
    try {
      if (statSync(path).ino === ino) unlinkSync(path);
    } catch {
      // Gone already.
    }
  };
}

/**
 * Binds, turning libzmq's errno into a ZqueueError that names the socket and
 * endpoint; ipc files get `ipcMode`. Returns what removes the ipc file after
 * the socket closes (see ipcFileRemover).
 */
/**
 * Whether a tcp endpoint's host is an IPv6 address (`tcp://[::1]:5559`):
 * libzmq then needs ZMQ_IPV6 on the socket, or it refuses the bind ("No such
 * device") and never connects.
 */
export function isIpv6Endpoint(endpoint: string): boolean {
  return endpoint.startsWith('tcp://[');
}

export async function bindOrExplain(socket: zmq.Socket, endpoint: string, what: string, ipcMode = IPC_MODE): Promise<() => void> {
  try {
    if (isIpv6Endpoint(endpoint)) socket.ipv6 = true;
    await socket.bind(endpoint);
    restrictIpc(endpoint, ipcMode);
    return ipcFileRemover(socket.lastEndpoint ?? endpoint);
  } catch (err) {
    if (err instanceof ZqueueError) throw err;
    const code = zmqCode(err);
    if (code === 'EADDRINUSE') {
      throw new ZqueueError(ErrorCode.AddressInUse, `cannot bind ${what} to ${endpoint}: address already in use`, { cause: err });
    }
    const host = /^tcp:\/\/(.*):[^:]*$/.exec(endpoint)?.[1];
    // libzmq's words (ENODEV, or EAGAIN from some sockets) for a host that is neither a local address nor an interface's name.
    if (host !== undefined && (code === 'ENODEV' || (code === 'EAGAIN' && host !== '*' && isIP(host.replace(/^\[|\]$/g, '')) === 0))) {
      throw new ZqueueError(
        ErrorCode.Bind,
        `cannot bind ${what} to ${endpoint}: ${host} is not an address or interface of this host (give ` +
          `an IP address, an interface name such as lo, or * for all)`,
        { cause: err },
      );
    }
    const reason = err instanceof Error ? err.message : String(err);
    throw new ZqueueError(ErrorCode.Bind, `cannot bind ${what} to ${endpoint}: ${reason}`, { cause: err });
  }
}

/**
 * Whether a device's two sides are one socket (Majordomo style): the same
 * endpoint, one that names a single address (a tcp port `*` or 0 binds two
 * ports, so two sockets).
 */
export function sameEndpoint(frontend: string, backend: string): boolean {
  return frontend === backend && !/:(\*|0)$/.test(frontend);
}

/**
 * `socket.connect(endpoint)`, again when a signal interrupted it: zmq_connect
 * first runs the socket's pending commands, and a signal (a profiler's
 * SIGPROF, say) there fails it with EINTR before it has done anything.
 */
export function connectTo(socket: { connect(endpoint: string): void; ipv6: boolean }, endpoint: string): void {
  // A dns: endpoint is a set of addresses that its owner (Client, ServerGroup) resolves and connects one by one.
  if (isDnsEndpoint(endpoint))
    throw bad(endpoint, 'a dns: endpoint names several devices: give it to a Client or a ServerGroup (createServer), which resolve it');
  if (isIpv6Endpoint(endpoint)) socket.ipv6 = true;
  for (let tries = 1; ; tries++) {
    try {
      socket.connect(endpoint);
      return;
    } catch (err) {
      if (zmqCode(err) !== 'EINTR' || tries >= 100) throw err;
    }
  }
}

// ---------------------------------------------------------------- listening addresses (metrics, control)

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * Parses `--metrics`: `PORT` or `HOST:PORT` (`[v6]:PORT`). The host defaults
 * to 127.0.0.1; another host must be named on purpose. Port 0 only with
 * `anyPort` (tests, which read the bound port back).
 */
export function parseListenAddress(name: string, value: string, options: { anyPort?: boolean } = {}): ListenAddress {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):)?(\d{1,5})$/.exec(value);
  const port = m === null ? NaN : Number(m[2]);
  const min = options.anyPort === true ? 0 : 1;
  // Port 0 (any free port) only where the caller reads the port back: a scraper could not find it.
  if (m === null || port < min || port > 65535) throw invalidOption(name, `PORT or HOST:PORT (port ${min} to 65535)`, value);
  const host = m[1] === undefined ? '127.0.0.1' : m[1].replace(/^\[|\]$/g, '');
  return { host, port };
}

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host);
}

/** The control socket's endpoint: ipc, or tcp on loopback (it has no authentication); inproc cannot be reached by zqueue ctl. */
export function checkControlEndpoint(endpoint: string): void {
  const e = parseEndpoint(endpoint, 'bind');
  if (e.transport === 'inproc')
    throw invalidOption('control', 'an ipc:// or tcp://127.0.0.1:PORT endpoint (inproc cannot be reached by zqueue ctl)', endpoint);
  if (e.transport === 'tcp' && !isLoopback((e.host ?? '').replace(/^\[|\]$/g, ''))) {
    throw invalidOption(
      'control',
      'an ipc:// endpoint or a tcp endpoint on 127.0.0.1, localhost or [::1] (the control socket has no authentication)',
      endpoint,
    );
  }
}
