/**
 * The --metrics HTTP server: Prometheus `/metrics` (src/operate/registry.ts)
 * and the probes (src/operate/probes.ts). Read-only; it binds where it is
 * told, loopback unless told otherwise (src/endpoints.ts, parseListenAddress).
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { ErrorCode, ZqueueError } from '../errors.js';
import type { ListenAddress } from '../endpoints.js';
import { readiness } from './probes.js';
import { defineMetrics } from './registry.js';
import { snapshot, type Snapshot, type Target } from './target.js';

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
    defineMetrics(this.registry, () => this.current);
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
      res
        .writeHead(known.includes(path) ? 405 : 404, { 'content-type': 'text/plain' })
        .end('zqueue serves GET /metrics, /healthz and /readyz\n');
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
