/**
 * Several devices served by one process's handler: one Server per device,
 * each with its own socket, READY, credits and heartbeats, and `dns:`
 * endpoints followed as their records change (src/discovery.ts).
 */
import { EventEmitter } from 'node:events';
import { Endpoints } from '../discovery.js';
import { resolveServerOptions, type Handler, type ServerOptions, type CloseOptions } from '../options.js';
import { Server, type ServerEvents, type ServerInternals, type ServerStats } from './server.js';

export interface ServerGroupEvents extends ServerEvents {
  /** A device endpoint joined (found through DNS): a server for it is starting. */
  joined: [endpoint: string];
  /** A device endpoint left the records: its server drains, says BYE and closes. */
  left: [endpoint: string];
  /** A `dns:` name could not be resolved; the last good set is kept. */
  'resolve-error': [err: Error];
}

/**
 * One server per device, sharing a handler: `zqueue server --connect A,B`.
 * Each has its own socket, READY, credits and heartbeats, so a busy or dead
 * device never starves the others, and each rejoins its device by itself.
 * A `dns:` endpoint (src/discovery.ts) stands for every address its name
 * resolves to, followed as the records change: a device that appears is
 * joined, one that disappears is left once its work drained.
 */
export class ServerGroup extends EventEmitter<ServerGroupEvents> {
  private readonly byEndpoint = new Map<string, Server>();
  private readonly members: Endpoints;
  private readonly leaving = new Set<Promise<void>>();
  private readonly draining = new Set<Server>();
  private state: 'new' | 'running' | 'closed' = 'new';
  /**
   * Holds the event loop while the group runs. A `dns:` name with no records
   * yet (devices not up) leaves no socket open, and the re-resolution timer is
   * unref'd: without this, the process would end at once, silently.
   */
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(
    private readonly handler: Handler,
    private readonly options: ServerOptions = {},
    private readonly internals: ServerInternals = {},
  ) {
    super();
    const specs =
      options.endpoints !== undefined && options.endpoints.length > 0
        ? options.endpoints
        : [options.endpoint ?? resolveServerOptions(options).endpoint];
    this.members = new Endpoints(specs);
    for (const endpoint of this.members.current) this.add(endpoint);
    this.members.on('added', (endpoint) => {
      const server = this.add(endpoint);
      this.emit('joined', endpoint);
      if (this.state === 'running')
        server.start().catch((err: unknown) => this.emit('error', err instanceof Error ? err : new Error(String(err))));
    });
    this.members.on('removed', (endpoint) => this.remove(endpoint));
    this.members.on('error', (err) => this.emit('resolve-error', err));
  }

  /** The servers of the devices known now. */
  get servers(): readonly Server[] {
    return [...this.byEndpoint.values()];
  }

  /** The device endpoints served now (a `dns:` endpoint's addresses as tcp endpoints). */
  get endpoints(): readonly string[] {
    return [...this.byEndpoint.keys()];
  }

  private add(endpoint: string): Server {
    const s = new Server(this.handler, { ...this.options, endpoint, endpoints: [] }, this.internals);
    s.on('error', (err) => this.emit('error', err));
    s.on('reconnect', (why) => this.emit('reconnect', `${endpoint}: ${why}`));
    s.on('handler-timeout', () => this.emit('handler-timeout'));
    this.byEndpoint.set(endpoint, s);
    return s;
  }

  /** A device left: its server finishes what it runs, says BYE, and closes. */
  private remove(endpoint: string): void {
    const s = this.byEndpoint.get(endpoint);
    if (s === undefined) return;
    this.byEndpoint.delete(endpoint);
    this.emit('left', endpoint);
    this.draining.add(s);
    const done = s.close().finally(() => {
      s.destroy();
      this.draining.delete(s);
      this.leaving.delete(done);
    });
    this.leaving.add(done);
  }

  /** Starts the servers of the endpoints given, then resolves the `dns:` ones once (their servers start as they are found). */
  async start(): Promise<this> {
    if (this.state !== 'new') return this;
    this.state = 'running';
    this.keepAlive = setInterval(() => {}, 1 << 30);
    await Promise.all(this.servers.map((s) => s.start()));
    await this.members.start();
    return this;
  }

  stats(): ServerStats[] {
    return this.servers.map((s) => s.stats());
  }

  /** Stops following DNS, then closes every server (each drains and says BYE). Idempotent. */
  async close(options: CloseOptions = {}): Promise<void> {
    this.state = 'closed';
    clearInterval(this.keepAlive);
    this.members.close();
    await Promise.all([...this.servers.map((s) => s.close(options)), ...this.leaving]);
  }

  /** Closes every socket at once. */
  destroy(): void {
    this.state = 'closed';
    clearInterval(this.keepAlive);
    this.members.close();
    for (const s of [...this.servers, ...this.draining]) s.destroy();
  }
}
