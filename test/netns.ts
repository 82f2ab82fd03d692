/**
 * Test hosts in network namespaces that the test makes itself: one "switch"
 * namespace holding a bridge, and one namespace per host with a veth cable
 * into it and an address of its own on 10.213.0.0/24. Nothing touches the
 * machine's own namespace: its interfaces, routes and addresses stay as they
 * are. Cutting a host's link sets its cable's switch end down, so the host's
 * connections go silent (no FIN, no RST) as when a cable is pulled.
 *
 * Needs root and iproute2; `netnsMissing()` says why not, for a skip.
 */
import { spawnSync } from 'node:child_process';
import { CLI, run, type Spawned } from './helpers.js';

const SUBNET = '10.213.0';

function ip(args: readonly string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.error?.message || `exit ${String(r.status)}`).trim()}`);
}

/** Why network-namespace hosts cannot be made here, or false when they can (checked by making one). */
export function netnsMissing(): string | false {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'making network namespaces (ip netns add) needs root';
  const probe = `zqprobe${process.pid}`;
  try {
    ip(['netns', 'add', probe]);
    ip(['-n', probe, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
  } catch (err) {
    return `this machine does not allow network namespaces and veth (${(err as Error).message})`;
  } finally {
    spawnSync('ip', ['netns', 'del', probe]);
  }
  return false;
}

export interface Host {
  readonly name: string;
  readonly ns: string;
  readonly address: string;
  readonly cable: string;
}

export class Lab {
  readonly hosts = new Map<string, Host>();
  private readonly switchNs: string;
  private readonly procs: Spawned[] = [];

  /** Makes the switch and one host per name, all up. */
  constructor(names: readonly string[]) {
    const prefix = `zq${process.pid}`;
    this.switchNs = `${prefix}-switch`;
    try {
      ip(['netns', 'add', this.switchNs]);
      ip(['-n', this.switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
      ip(['-n', this.switchNs, 'link', 'set', 'br0', 'up']);
      names.forEach((name, i) => {
        const host: Host = { name, ns: `${prefix}-${name}`, address: `${SUBNET}.${i + 2}`, cable: `v${i}` };
        ip(['netns', 'add', host.ns]);
        this.hosts.set(name, host);
        ip(['-n', host.ns, 'link', 'set', 'lo', 'up']);
        ip(['-n', this.switchNs, 'link', 'add', host.cable, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns]);
        ip(['-n', this.switchNs, 'link', 'set', host.cable, 'master', 'br0', 'up']);
        ip(['-n', host.ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
        ip(['-n', host.ns, 'link', 'set', 'eth0', 'up']);
      });
    } catch (err) {
      this.removeNamespaces();
      throw err;
    }
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (h === undefined) throw new Error(`no host ${name}`);
    return h;
  }

  /** Runs `node ARGS…` on a host (`ip netns exec` execs it: the child's pid is node's own). */
  node(host: string, args: readonly string[]): Spawned {
    const p = run('ip', ['netns', 'exec', this.host(host).ns, process.execPath, ...args]);
    this.procs.push(p);
    return p;
  }

  /** Runs any program on a host. */
  exec(host: string, command: string, args: readonly string[]): Spawned {
    const p = run('ip', ['netns', 'exec', this.host(host).ns, command, ...args]);
    this.procs.push(p);
    return p;
  }

  /** Runs the zqueue CLI on a host. */
  zqueue(host: string, args: readonly string[]): Spawned {
    return this.node(host, [CLI, ...args]);
  }

  /** Pulls a host's cable: its connections go silent. */
  cut(host: string): void {
    ip(['-n', this.switchNs, 'link', 'set', this.host(host).cable, 'down']);
  }

  /** Plugs it back in. */
  mend(host: string): void {
    ip(['-n', this.switchNs, 'link', 'set', this.host(host).cable, 'up']);
  }

  /** Kills what runs on the hosts, then removes every namespace (and with them the cables and the bridge). Idempotent. */
  async destroy(): Promise<void> {
    for (const p of this.procs) p.kill('SIGKILL');
    await Promise.all(this.procs.splice(0).map((p) => p.exited));
    this.removeNamespaces();
  }

  private removeNamespaces(): void {
    for (const h of this.hosts.values()) spawnSync('ip', ['netns', 'del', h.ns]);
    this.hosts.clear();
    spawnSync('ip', ['netns', 'del', this.switchNs]);
  }
}
