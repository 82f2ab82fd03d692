/**
 * The --metrics HTTP server: Prometheus `/metrics` (src/operate/registry.ts),
 * the probes (src/operate/probes.ts), and the live page (`/`, its data at
 * `/stats.json`: src/operate/page.ts, sampler.ts). Read-only; it binds where
 * it is told, loopback unless told otherwise (src/endpoints.ts, parseListenAddress).
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { Registry } from 'prom-client';
import { ErrorCode, ZqueueError } from '../errors.js';
import type { ListenAddress } from '../endpoints.js';
import { PAGE_HTML } from './page.js';
import { readiness } from './probes.js';
import { Sampler } from './sampler.js';
import { defineMetrics } from './registry.js';
import { deviceOf, snapshot, type Snapshot, type Target } from './target.js';
import type { LatencyWindow } from '../device/device.js';

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
  /** The live page's samples, taken only while someone watches. */
  readonly sampler: Sampler;
  private recent: LatencyWindow | undefined;

  private constructor(
    private readonly target: Target,
    private readonly http: HttpServer,
  ) {
    this.current = snapshot(target);
    defineMetrics(this.registry, () => this.current);
    this.sampler = new Sampler(target, () => this.draining);
  }

  static async start(target: Target, address: ListenAddress): Promise<MetricsServer> {
    const http = createServer();
    const server = new MetricsServer(target, http);
    http.on('request', (req, res) => void server.respond(req, res));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const inUse = err.code === 'EADDRINUSE';
        reject(
          new ZqueueError(
            inUse ? ErrorCode.AddressInUse : ErrorCode.Bind,
            `cannot serve metrics on ${address.host}:${address.port}: ${inUse ? 'address already in use' : err.message}`,
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
    // The recent latency gauge covers the requests answered since the previous scrape; its window opens at the first.
    this.recent ??= deviceOf(this.target).openLatencyWindow();
    this.current = { ...snapshot(this.target), recent: this.recent.take() };
    return this.registry.metrics();
  }

  /** Stops listening and ends open connections. Idempotent. */
  close(): Promise<void> {
    this.sampler.stop();
    this.recent?.close();
    this.closed ??= new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
    return this.closed;
  }

  private async respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://zqueue');
    const path = url.pathname;
    const known = ['/metrics', '/healthz', '/readyz', '/', '/stats.json', ...Object.keys(ASSETS)];
    if (req.method !== 'GET' || !known.includes(path)) {
      res
        .writeHead(known.includes(path) ? 405 : 404, { 'content-type': 'text/plain' })
        .end('zqueue serves GET / (the live page), /stats.json, /metrics, /healthz and /readyz\n');
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(PAGE_HTML);
      return;
    }
    if (path === '/stats.json') {
      const since = Number(url.searchParams.get('since') ?? 0);
      const view = this.sampler.view(Number.isFinite(since) ? since : 0);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(view));
      return;
    }
    const asset = ASSETS[path];
    if (asset !== undefined) {
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'max-age=3600' }).end(asset.body());
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
}

/** uPlot's files, from this package's own dependency, read once when first asked for. */
const uplotDir = (): string => dirname(createRequire(import.meta.url).resolve('uplot/package.json'));
const once = (read: () => string): (() => string) => {
  let text: string | undefined;
  return () => (text ??= read());
};
const ASSETS: Record<string, { readonly type: string; readonly body: () => string }> = {
  '/assets/uplot.js': {
    type: 'text/javascript; charset=utf-8',
    body: once(() => readFileSync(join(uplotDir(), 'dist', 'uPlot.iife.min.js'), 'utf8')),
  },
  '/assets/uplot.css': {
    type: 'text/css; charset=utf-8',
    body: once(() => readFileSync(join(uplotDir(), 'dist', 'uPlot.min.css'), 'utf8')),
  },
};
