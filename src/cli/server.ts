/** `zqueue server`: the seed's queue_server.py, or any handler module, against a device's backend. */
import { randomInt } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import { ServerGroup } from '../server/group.js';
import { HealthServer } from '../server/health.js';
import { parseListenAddress } from '../endpoints.js';
import { loadHandler, seedHandler } from '../server/handler.js';
import { resolveTable, serverOptions, type ServerOptions } from '../options.js';
import { seedServerOptions } from './options.js';
import type { CommandSpec, Parsed } from './flags.js';
import { untilStop } from './operate.js';

export const spec: CommandSpec = {
  name: 'server',
  summary: 'run a server that answers "World from server <id>", as the seed\'s queue_server.py',
  usage: '[options]',
  sections: [
    { table: serverOptions, keys: ['endpoint', 'concurrency', 'heartbeatIntervalMs', 'routingId', 'service'] },
    { table: seedServerOptions, keys: ['delayMs', 'quiet', 'handler', 'health'] },
    { title: 'Security (tcp)', table: serverOptions, keys: ['curveServerKey', 'curveSecretKey'] },
  ],
};

export function options(parsed: Parsed): ServerOptions {
  return parsed.of(serverOptions);
}

export async function run(parsed: Parsed): Promise<void> {
  const seed = resolveTable('server', seedServerOptions, parsed.of(seedServerOptions));
  const log = seed.quiet ? () => {} : (line: string) => console.log(line);
  const handler = seed.handler !== '' ? await loadHandler(resolvePath(seed.handler)) : seedHandler(seed.delayMs, randomInt(1, 10005), log);
  // Several devices: one server each (ServerGroup).
  const srv = new ServerGroup(handler, options(parsed));
  srv.on('reconnect', (why) => console.error(`zqueue server: reconnecting: ${why}`));
  srv.on('error', (err) => console.error(`zqueue server: ${err.message}`));
  followDevices(srv, 'zqueue server');
  const { stopped } = untilStop();
  await srv.start();
  const health = seed.health !== '' ? await HealthServer.start(srv, parseListenAddress('health', seed.health)) : undefined;
  await stopped;
  // Draining: /readyz says so at once, /healthz answers until the servers closed.
  if (health !== undefined) health.draining = true;
  await srv.close();
  await health?.close();
}

/**
 * Says which devices a group joins and leaves, and why it has none: a name
 * that does not resolve (no records yet, NXDOMAIN, a refusing server) is said
 * once, not at every retry, and again only when the reason changes or after
 * it resolved.
 */
export function followDevices(group: ServerGroup, who: string): void {
  let said: string | undefined;
  group.on('resolve-error', (err) => {
    if (err.message === said) return;
    said = err.message;
    console.error(`${who}: ${err.message}; waiting for devices (the name is looked up again every second)`);
  });
  group.on('joined', (endpoint) => {
    said = undefined;
    console.error(`${who}: joined the device at ${endpoint}`);
  });
  group.on('left', (endpoint) => console.error(`${who}: left the device at ${endpoint} (no longer in its name's records)`));
}
