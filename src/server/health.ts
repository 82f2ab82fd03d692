/**
 * Probes for a server process (`zqueue server --health [HOST:]PORT`), as a
 * Kubernetes pod needs them: `/healthz` answers 200 while the process runs;
 * `/readyz` answers 200 while at least one of its servers serves a device
 * (connected, or heard from), 503 before that (a cold start: no device found
 * yet) and from SIGTERM on, while it drains.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, ZqueueError } from '../errors.js';
import type { ListenAddress } from '../endpoints.js';
import type { ServerGroup } from './group.js';

export class HealthServer {
  /** Set on SIGTERM: /readyz turns 503 at once. */
  draining = false;
  /** `http://host:port`, the port resolved. */
  url = '';
  private readonly http: HttpServer;

  private constructor(private readonly group: ServerGroup) {
    this.http = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      }
      if (path === '/readyz') {
        const serving = this.group.servers.filter((s) => s.ready).length;
        const why = this.draining
          ? 'draining'
          : serving > 0
            ? `serving ${serving} device${serving > 1 ? 's' : ''}`
            : 'no device served yet';
        res.writeHead(!this.draining && serving > 0 ? 200 : 503, { 'content-type': 'text/plain' }).end(`${why}\n`);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /healthz, /readyz\n');
    });
  }

  static async start(group: ServerGroup, address: ListenAddress): Promise<HealthServer> {
    const h = new HealthServer(group);
    await new Promise<void>((resolve, reject) => {
      h.http.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new ZqueueError(
            ErrorCode.Bind,
            `cannot serve probes on ${address.host}:${address.port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`,
            { cause: err },
          ),
        ),
      );
      h.http.listen(address.port, address.host, resolve);
    });
    const bound = h.http.address() as AddressInfo;
    h.url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
    return h;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}
