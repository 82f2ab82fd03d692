/**
 * Devices found through DNS, as gRPC names its targets:
 * - `dns:///NAME:PORT`: every A and AAAA record of NAME, through the
 *   system's resolver (its /etc/resolv.conf servers; a name only
 *   /etc/hosts knows is looked up through getaddrinfo instead);
 * - `dns://HOST[:PORT]/NAME:PORT`: the same, asking the DNS server HOST.
 *
 * libzmq connects to the first address a name resolves to (libzmq issue
 * 2297), so a headless Service's name reaches one pod. Here each address
 * becomes an endpoint of its own, `tcp://ADDRESS:PORT`, and the set follows
 * the records: resolved again when their shortest TTL runs out (no more often
 * than once a second, at least every 30 s). An `Endpoints` set says which
 * appeared and which went; a failed resolution keeps the last good set and
 * is reported, and tried again sooner.
 */
import { EventEmitter } from 'node:events';
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { ErrorCode, ZqueueError } from './errors.js';

export interface DnsTarget {
  /** The DNS server to ask, `HOST` or `HOST:PORT` (undefined: the system's). */
  readonly server: string | undefined;
  readonly name: string;
  readonly port: number;
}

/** Re-resolution bounds (ms). */
export const REFRESH = Object.freeze({ minMs: 1_000, maxMs: 30_000, retryMs: 1_000 });

/** When to ask again: when the shortest TTL runs out, but not sooner than 1 s nor later than 30 s. */
export function refreshDelayMs(ttlS: number): number {
  return Math.min(REFRESH.maxMs, Math.max(REFRESH.minMs, ttlS * 1000));
}

export function isDnsEndpoint(endpoint: string): boolean {
  return endpoint.startsWith('dns://');
}

function bad(endpoint: string, why: string): ZqueueError {
  return new ZqueueError(ErrorCode.InvalidEndpoint, `invalid endpoint ${JSON.stringify(endpoint)}: ${why}`);
}

const FORM = 'dns:///NAME:PORT or dns://DNS-SERVER[:PORT]/NAME:PORT';

/** Parses `dns:///NAME:PORT` or `dns://SERVER[:PORT]/NAME:PORT`; throws ERR_ZQ_INVALID_ENDPOINT naming what is wrong. */
export function parseDnsEndpoint(endpoint: string): DnsTarget {
  if (!isDnsEndpoint(endpoint)) throw bad(endpoint, `expected ${FORM}`);
  const rest = endpoint.slice('dns://'.length);
  const slash = rest.indexOf('/');
  if (slash < 0) throw bad(endpoint, `expected ${FORM} (the name comes after a third slash)`);
  const authority = rest.slice(0, slash);
  const target = rest.slice(slash + 1);
  const m = /^([A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?):(\d+)$/.exec(target);
  if (m === null) throw bad(endpoint, `expected ${FORM}: NAME is a host name and PORT a number`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw bad(endpoint, 'the port must be between 1 and 65535');
  let server: string | undefined;
  if (authority !== '') {
    const s = /^(\[[0-9A-Fa-f:.]+\]|[^:/[\]]+)(?::(\d+))?$/.exec(authority);
    if (s === null) throw bad(endpoint, 'the DNS server is HOST or HOST:PORT');
    const host = (s[1] ?? '').replace(/^\[|\]$/g, '');
    if (isIP(host) === 0) throw bad(endpoint, 'the DNS server must be an IP address (it cannot itself be looked up)');
    const sport = s[2] !== undefined ? Number(s[2]) : 53;
    if (sport < 1 || sport > 65535) throw bad(endpoint, "the DNS server's port must be between 1 and 65535");
    server = isIP(host) === 6 ? `[${host}]:${sport}` : `${host}:${sport}`;
  }
  return { server, name: m[1] ?? '', port };
}

/** An address and port as a tcp endpoint (IPv6 in brackets). */
export function tcpEndpoint(address: string, port: number): string {
  return isIP(address) === 6 ? `tcp://[${address}]:${port}` : `tcp://${address}:${port}`;
}

export interface Resolution {
  readonly addresses: readonly string[];
  /** Seconds until the records should be asked for again. */
  readonly ttlS: number;
}

/** Every A and AAAA record of a target, with the shortest TTL; throws when there is none. */
export async function resolveTarget(t: DnsTarget, timeoutMs = 2_000): Promise<Resolution> {
  const resolver = new dns.Resolver({ timeout: timeoutMs, tries: 2 });
  if (t.server !== undefined) resolver.setServers([t.server]);
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(t.name, { ttl: true }), resolver.resolve6(t.name, { ttl: true })]);
  const records = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (records.length > 0) return { addresses: records.map((r) => r.address), ttlS: Math.min(...records.map((r) => r.ttl)) };
  const why =
    v4.status === 'rejected' ? (v4.reason as Error) : v6.status === 'rejected' ? (v6.reason as Error) : new Error('no A or AAAA records');
  if (t.server === undefined) {
    // The system's resolver: a name in /etc/hosts has no DNS records and no TTL.
    try {
      const found = await dns.lookup(t.name, { all: true });
      if (found.length > 0) return { addresses: found.map((a) => a.address), ttlS: REFRESH.maxMs / 1000 };
    } catch {
      // the DNS error says more
    }
  }
  throw new ZqueueError(ErrorCode.Resolve, `cannot resolve ${t.name}${t.server !== undefined ? ` at ${t.server}` : ''}: ${why.message}`, {
    cause: why,
  });
}

export interface EndpointsEvents {
  /** An endpoint joined the set. */
  added: [endpoint: string];
  /** An endpoint left the set. */
  removed: [endpoint: string];
  /** A resolution failed; the set is kept as it was. */
  error: [err: Error];
  /** A resolution succeeded (whether or not the set changed). */
  resolved: [spec: string, endpoints: readonly string[]];
}

/**
 * A set of device endpoints from a list that may hold `dns:` endpoints:
 * plain ones are members from the start; each dns: one contributes the
 * addresses its name resolves to, kept up to date until close().
 */
export class Endpoints extends EventEmitter<EndpointsEvents> {
  private readonly fixed: readonly string[];
  private readonly targets: readonly { spec: string; target: DnsTarget }[];
  private readonly found = new Map<string, readonly string[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private members: string[] = [];
  private closed = false;
  private started: Promise<void> | undefined;

  constructor(
    specs: readonly string[],
    private readonly resolve: (t: DnsTarget) => Promise<Resolution> = resolveTarget,
  ) {
    super();
    this.fixed = specs.filter((s) => !isDnsEndpoint(s));
    this.targets = specs.filter(isDnsEndpoint).map((spec) => ({ spec, target: parseDnsEndpoint(spec) }));
    this.members = [...new Set(this.fixed)];
  }

  /** Whether any endpoint is found through DNS (else the set never changes). */
  get dynamic(): boolean {
    return this.targets.length > 0;
  }

  get current(): readonly string[] {
    return this.members;
  }

  /** Resolves every name once (a failure is reported, not thrown), then keeps them up to date. */
  start(): Promise<void> {
    this.started ??= Promise.all(this.targets.map((t) => this.refresh(t.spec, t.target))).then(() => undefined);
    return this.started;
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private async refresh(spec: string, target: DnsTarget): Promise<void> {
    if (this.closed) return;
    let nextMs: number;
    try {
      const r = await this.resolve(target);
      if (this.closed) return;
      const endpoints = [...new Set(r.addresses.map((a) => tcpEndpoint(a, target.port)))].sort();
      this.found.set(spec, endpoints);
      this.update();
      this.emit('resolved', spec, endpoints);
      nextMs = refreshDelayMs(r.ttlS);
    } catch (err) {
      if (this.closed) return;
      this.emit('error', err instanceof Error ? err : new Error(String(err)));
      nextMs = REFRESH.retryMs;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.refresh(spec, target);
    }, nextMs);
    timer.unref();
    this.timers.add(timer);
  }

  private update(): void {
    const next = [...new Set([...this.fixed, ...[...this.found.values()].flat()])];
    const before = new Set(this.members);
    const after = new Set(next);
    this.members = next;
    for (const e of next) if (!before.has(e)) this.emit('added', e);
    for (const e of before) if (!after.has(e)) this.emit('removed', e);
  }
}
