/**
 * Watching a running device: a Prometheus `/metrics` endpoint and a periodic
 * one-line summary for stderr.
 *
 * Nothing here touches the hot path. The device keeps plain number counters
 * and one latency histogram whatever happens; a scrape takes one `stats()`
 * snapshot and prom-client renders it (its collect callbacks copy the
 * snapshot's figures), so a scrape costs the device one snapshot and a
 * request costs it nothing extra.
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { Broker } from './broker.js';
import type { Device, DeviceStats } from './device/device.js';
import { ErrorCode, ZqueueError } from './errors.js';
import type { ListenAddress } from './endpoints.js';
import type { SlotStats } from './pool.js';

/** What the operating tools watch and steer: a device, or a broker (its device and its worker threads). */
export type Target = Device | Broker;

export function deviceOf(target: Target): Device {
  return target instanceof Broker ? target.device : target;
}

interface Snapshot {
  readonly device: DeviceStats;
  readonly threads: readonly SlotStats[] | undefined;
}

function snapshot(target: Target): Snapshot {
  if (target instanceof Broker) {
    const s = target.stats();
    return { device: s.device, threads: s.workers };
  }
  return { device: target.stats(), threads: undefined };
}

export { isLoopback, parseListenAddress, type ListenAddress } from './endpoints.js';

/** Whether a device or a serve process should get traffic, and why not (for /readyz). */
export function readiness(target: Target, draining: boolean): { ready: boolean; why: string } {
  const device = deviceOf(target);
  const state = device.stats().state;
  if (draining || state === 'closing' || state === 'closed') return { ready: false, why: 'draining' };
  if (state !== 'running') return { ready: false, why: `the device is ${state}` };
  if (target instanceof Broker && !target.stats().workers.some((w) => w.state === 'ready')) return { ready: false, why: 'no worker thread is ready' };
  return { ready: true, why: 'ready' };
}

/**
 * Serves `/metrics` in the Prometheus text format, and the probes a
 * Kubernetes pod needs: `/healthz` (the process answers: alive) and
 * `/readyz` (200 once the device is bound and, for zqueue serve, a worker
 * is ready; 503 while starting, paused or draining).
 */
export class MetricsServer {
  readonly registry = new Registry();
  private current: Snapshot;
  private closed?: Promise<void>;
  /** Set when the process starts to drain: /readyz answers 503 from then on. */
  draining = false;

  private constructor(
    private readonly target: Target,
    private readonly http: HttpServer,
  ) {
    this.current = snapshot(target);
    this.define();
  }

  static async start(target: Target, address: ListenAddress): Promise<MetricsServer> {
    const http = createServer();
    const server = new MetricsServer(target, http);
    http.on('request', (req, res) => void server.respond(req, res));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          new ZqueueError(
            err.code === 'EADDRINUSE' ? ErrorCode.AddressInUse : ErrorCode.Bind,
            `cannot serve metrics on ${address.host}:${address.port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`,
            { cause: err },
          ),
        );
      };
      http.once('error', onError);
      http.listen(address.port, address.host, () => {
        http.off('error', onError);
        resolve();
      });
    });
    return server;
  }

  /** `http://host:port/metrics`, the port resolved. */
  get url(): string {
    const a = this.http.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/metrics`;
  }

  /** The exposition text, as a scrape gets it. */
  async render(): Promise<string> {
    this.current = snapshot(this.target);
    return this.registry.metrics();
  }

  /** Stops listening and ends open connections. Idempotent. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
    return this.closed;
  }

  private async respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const known = ['/metrics', '/healthz', '/readyz'];
    if (req.method !== 'GET' || !known.includes(path)) {
      res.writeHead(known.includes(path) ? 405 : 404, { 'content-type': 'text/plain' }).end('zqueue serves GET /metrics, /healthz and /readyz\n');
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const r = readiness(this.target, this.draining);
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(`${r.why}\n`);
      return;
    }
    try {
      const body = await this.render();
      res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err instanceof Error ? err.message : String(err)}\n`);
    }
  }

  private define(): void {
    const registers = [this.registry];
    const js = (): Extract<DeviceStats, { counted: true }> | undefined => (this.current.device.counted ? this.current.device : undefined);
    const now = (): Snapshot => this.current;

    new Gauge({
      name: 'zqueue_info',
      help: 'The device: engine, policy and state (value 1).',
      labelNames: ['engine', 'policy', 'state'] as const,
      registers,
      collect() {
        const d = now().device;
        this.reset();
        this.set({ engine: d.engine, policy: d.policy, state: d.state }, 1);
      },
    });
    new Gauge({
      name: 'zqueue_uptime_seconds',
      help: 'Time since the device started.',
      registers,
      collect() {
        this.set(now().device.uptimeMs / 1000);
      },
    });
    new Gauge({
      name: 'zqueue_peers',
      help: 'tcp/ipc peers connected to each side (inproc peers are not reported by libzmq).',
      labelNames: ['side'] as const,
      registers,
      collect() {
        const p = now().device.peers;
        this.set({ side: 'frontend' }, p.frontend);
        this.set({ side: 'backend' }, p.backend);
      },
    });
    counter('zqueue_messages_total', 'Messages through each side of the device, by direction.', ['side', 'direction'], (set) => {
      const s = js();
      if (s === undefined) return;
      set({ side: 'frontend', direction: 'in' }, s.frontendTraffic.messagesIn);
      set({ side: 'frontend', direction: 'out' }, s.frontendTraffic.messagesOut);
      set({ side: 'backend', direction: 'in' }, s.backendTraffic.messagesIn);
      set({ side: 'backend', direction: 'out' }, s.backendTraffic.messagesOut);
    });
    counter('zqueue_bytes_total', 'Payload bytes through each side of the device (all frames), by direction.', ['side', 'direction'], (set) => {
      const s = js();
      if (s === undefined) return;
      set({ side: 'frontend', direction: 'in' }, s.frontendTraffic.bytesIn);
      set({ side: 'frontend', direction: 'out' }, s.frontendTraffic.bytesOut);
      set({ side: 'backend', direction: 'in' }, s.backendTraffic.bytesIn);
      set({ side: 'backend', direction: 'out' }, s.backendTraffic.bytesOut);
    });
    counter('zqueue_requests_answered_total', 'Replies relayed from servers to clients.', [], (set) => {
      const s = js();
      if (s !== undefined) set({}, s.answered);
    });
    counter('zqueue_requests_failed_total', 'Requests answered with an error, by kind.', ['kind'], (set) => {
      const s = js();
      if (s === undefined) return;
      for (const [kind, n] of Object.entries(s.failed)) set({ kind }, n);
    });
    counter('zqueue_requests_shed_total', 'Requests dropped before a worker (src/overload.ts): their client left (abandoned), their deadline passed (expired), a retry replaced them (replaced), or the policy answered them busy (policy).', ['reason'], (set) => {
      const s = js();
      if (s === undefined) return;
      for (const [reason, n] of Object.entries(s.shed)) set({ reason }, n);
    });
    counter('zqueue_replies_dropped_total', 'Replies the frontend could not deliver: the client was gone (unroutable) or at its high-water mark (full).', ['reason'], (set) => {
      const s = js();
      if (s === undefined) return;
      for (const [reason, n] of Object.entries(s.dropped)) set({ reason }, n);
    });
    counter('zqueue_accept_failures_total', 'Connections libzmq could not accept, by side (EMFILE: out of descriptors).', ['side'], (set) => {
      const f = now().device.acceptFailures;
      set({ side: 'frontend' }, f.frontend);
      set({ side: 'backend' }, f.backend);
    });
    counter('zqueue_requests_retried_total', 'Requests sent again after their worker died.', [], (set) => {
      const s = js();
      if (s !== undefined) set({}, s.retried);
    });
    counter('zqueue_messages_malformed_total', 'Client messages dropped for having no envelope.', [], (set) => {
      const s = js();
      if (s !== undefined) set({}, s.malformed);
    });
    counter('zqueue_tap_messages_total', 'Messages the tap published, or dropped for a slow subscriber.', ['result'], (set) => {
      const t = js()?.tap;
      if (t === undefined) return;
      set({ result: 'published' }, t.published);
      set({ result: 'dropped' }, t.dropped);
    });
    new Gauge({
      name: 'zqueue_requests_in_flight',
      help: 'Requests relayed to servers and not yet answered.',
      registers,
      collect() {
        const s = js();
        if (s !== undefined) this.set(s.inFlight);
      },
    });
    new Gauge({
      name: 'zqueue_requests_queued',
      help: 'Requests waiting for a free worker (least-busy).',
      registers,
      collect() {
        const s = js();
        if (s !== undefined) this.set(s.queued);
      },
    });
    new Gauge({
      name: 'zqueue_service_workers',
      help: "Workers per service (least-busy; service=\"\" is the default pool of zqueue's and Paranoid Pirate workers).",
      labelNames: ['service'] as const,
      registers,
      collect() {
        const s = js();
        this.reset();
        for (const [service, v] of Object.entries(s?.services ?? {})) this.set({ service }, v.workers);
      },
    });
    new Gauge({
      name: 'zqueue_service_queued',
      help: 'Requests waiting per service (least-busy).',
      labelNames: ['service'] as const,
      registers,
      collect() {
        const s = js();
        this.reset();
        for (const [service, v] of Object.entries(s?.services ?? {})) this.set({ service }, v.queued);
      },
    });
    new Gauge({
      name: 'zqueue_queue_clients_waiting',
      help: 'Clients (routing identities) with requests waiting in the fair queue (least-busy).',
      registers,
      collect() {
        const s = js();
        if (s !== undefined) this.set(s.queue.clientsWaiting);
      },
    });
    new Gauge({
      name: 'zqueue_queue_deepest_client',
      help: 'The most requests one client has waiting (least-busy).',
      registers,
      collect() {
        const s = js();
        if (s !== undefined) this.set(s.queue.deepestClient);
      },
    });
    counter('zqueue_busy_per_client_total', 'Busy replies to a client past its maxQueuedPerClient share (the rest of failed{kind="busy"}: the whole queue was full).', [], (set) => {
      const s = js();
      if (s !== undefined) set({}, s.queue.busyPerClient);
    });
    new Gauge({
      name: 'zqueue_request_latency_seconds',
      help: 'Time from a request reaching the device to its reply leaving it, by quantile, since the device started.',
      labelNames: ['quantile'] as const,
      registers,
      collect() {
        const s = js();
        if (s === undefined) return;
        const l = s.latency;
        this.set({ quantile: '0.5' }, l.p50_us / 1e6);
        this.set({ quantile: '0.9' }, l.p90_us / 1e6);
        this.set({ quantile: '0.99' }, l.p99_us / 1e6);
        this.set({ quantile: '0.999' }, l.p99_9_us / 1e6);
        this.set({ quantile: '1' }, l.max_us / 1e6);
      },
    });
    new Gauge({
      name: 'zqueue_workers',
      help: 'Workers known to the device (least-busy), by state.',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const s = js();
        if (s === undefined) return;
        const by = { ready: 0, full: 0, retired: 0 };
        for (const w of s.workers) by[w.state]++;
        for (const [state, n] of Object.entries(by)) this.set({ state }, n);
      },
    });
    counter('zqueue_worker_restarts_total', 'Worker threads replaced after dying or timing out (zqueue serve).', [], (set) => {
      const t = this.current.threads;
      if (t !== undefined) set({}, t.reduce((n, w) => n + w.restarts, 0));
    });
    collectDefaultMetrics({ register: this.registry });

    function counter<L extends string>(name: string, help: string, labelNames: readonly L[], fill: (set: (labels: Partial<Record<L, string>>, value: number) => void) => void): void {
      new Counter<L>({
        name,
        help,
        labelNames,
        registers,
        collect() {
          // The device's counters are the truth: copy them in.
          this.reset();
          fill((labels, value) => this.inc(labels, value));
        },
      });
    }
  }
}

// ---------------------------------------------------------------- the periodic line

/** One compact line of rates and percentiles since the previous line. */
export class StatsLine {
  private last: { at: number; stats: DeviceStats };

  constructor(private readonly target: Target) {
    const device = deviceOf(target);
    device.latencyWindow(); // opens the first window
    this.last = { at: performance.now(), stats: device.stats() };
  }

  next(): string {
    const device = deviceOf(this.target);
    const now = performance.now();
    const s = device.stats();
    const window = device.latencyWindow();
    const prev = this.last;
    this.last = { at: now, stats: s };
    const secs = (now - prev.at) / 1000;
    const parts = [`zqueue ${s.state}`, `peers ${s.peers.frontend}/${s.peers.backend}`];
    if (s.counted && prev.stats.counted && secs > 0) {
      const p = prev.stats;
      const rate = (a: number, b: number): string => `${Math.round((a - b) / secs)}/s`;
      const failed = (x: typeof s.failed): number => Object.values(x).reduce((n, v) => n + v, 0);
      parts.push(
        `in ${rate(s.frontendTraffic.messagesIn, p.frontendTraffic.messagesIn)}`,
        `answered ${rate(s.answered, p.answered)}`,
        `failed ${rate(failed(s.failed), failed(p.failed))}`,
        `busy ${s.failed.busy - p.failed.busy}`,
        `in-flight ${s.inFlight}`,
        `queued ${s.queued}`,
        `p50 ${us(window.p50_us)} p99 ${us(window.p99_us)} p99.9 ${us(window.p99_9_us)}`,
      );
      if (s.workers.length > 0) parts.push(`workers ${s.workers.filter((w) => w.state !== 'retired').length}`);
    }
    return parts.join(' | ');
  }
}

function us(v: number): string {
  if (v >= 1_000_000) return `${(v / 1e6).toFixed(2)}s`;
  if (v >= 1_000) return `${(v / 1e3).toFixed(v >= 100_000 ? 0 : 1)}ms`;
  return `${v}µs`;
}
