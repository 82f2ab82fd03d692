/**
 * Devices found through DNS, against a real DNS server (Debian's dnsmasq on
 * loopback, records with a 1 s TTL): three devices on 127.0.0.2-4 with the
 * same ports, servers (two ServerGroups) and clients that know only
 * `dns://127.0.0.1:PORT/devices.test:PORT`. Under load:
 * - scaling 2 → 3 → 2 by changing the records: every server joins the new
 *   device and clients reach it; the one removed is left and closed; nothing
 *   is lost;
 * - a rolling restart of every device, one at a time: 0 lost, 0 errors, every
 *   reply is its own request's;
 * - the DNS server stops: service goes on with the last known set.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '../src/client.js';
import { createDevice, type Device } from '../src/device/device.js';
import { ServerGroup } from '../src/server/group.js';
import { DnsServer, dnsmasqMissing, freePort, until, within } from './helpers.js';

const NAME = 'devices.test';
const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'] as const;

/** Closed-loop clients that check every reply is their own request's, until stopped. */
class Load {
  sent = 0;
  answered = 0;
  readonly errors: string[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly clients: Client[] = [];

  constructor(endpoint: string, n: number) {
    for (let i = 0; i < n; i++) {
      const c = new Client({ endpoint, timeoutMs: 1000, retries: 20 });
      this.clients.push(c);
      this.loops.push(this.loop(c, i));
    }
  }

  private async loop(c: Client, who: number): Promise<void> {
    for (let k = 0; this.running; k++) {
      const body = `${who}:${k}`;
      this.sent++;
      try {
        const reply = await c.request(body);
        if (reply.map((f) => f.toString()).join(' ') !== `echo ${body}`) this.errors.push(`${body} got ${reply.join(' ')}`);
        else this.answered++;
      } catch (err) {
        this.errors.push(`${body}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** Waits until `n` more requests have been answered. */
  async more(n: number, what: string, ms = 30_000): Promise<void> {
    const target = this.answered + n;
    await until(ms, what, () => this.answered >= target || this.errors.length > 0);
    assert.deepEqual(this.errors, []);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    await Promise.all(this.clients.map((c) => c.close()));
  }
}

describe('devices found through DNS (dnsmasq on loopback)', () => {
  const skip = dnsmasqMissing();
  const dns = new DnsServer(NAME);
  const devices = new Map<string, Device>();
  const groups: ServerGroup[] = [];
  let front = 0;
  let back = 0;

  async function startDevice(host: string): Promise<Device> {
    const d = await createDevice({
      policy: 'least-busy',
      frontend: `tcp://${host}:${front}`,
      backend: `tcp://${host}:${back}`,
      heartbeatIntervalMs: 250,
      closeTimeoutMs: 2000,
    });
    devices.set(host, d);
    return d;
  }

  /** Resolves once every server group has `event`ed for `host`'s backend. */
  function allGroups(event: 'joined' | 'left', host: string): Promise<void> {
    const endpoint = `tcp://${host}:${back}`;
    return within(
      15_000,
      `every server group ${event} ${endpoint}`,
      Promise.all(
        groups.map(
          (g) =>
            new Promise<void>((resolve) => {
              const on = (e: string): void => {
                if (e !== endpoint) return;
                g.off(event, on);
                resolve();
              };
              g.on(event, on);
            }),
        ),
      ).then(() => undefined),
    );
  }

  before(async () => {
    if (skip !== false) return;
    front = await freePort();
    back = await freePort();
    for (const h of HOSTS) await startDevice(h);
    await dns.start(HOSTS.slice(0, 2));
    for (let i = 0; i < 2; i++) {
      const g = new ServerGroup((req) => ['echo', ...req], {
        endpoint: `dns://127.0.0.1:${dns.port}/${NAME}:${back}`,
        heartbeatIntervalMs: 250,
      });
      groups.push(g);
      await g.start();
    }
  });

  after(async () => {
    await Promise.all(groups.map((g) => g.close({ timeoutMs: 1000 })));
    await Promise.all([...devices.values()].map((d) => d.close()));
    await dns.remove();
  });

  it('resolves the name to every device: each server group serves both, and both get READY from each', { skip }, async () => {
    for (const g of groups) assert.deepEqual([...g.endpoints].sort(), [`tcp://127.0.0.2:${back}`, `tcp://127.0.0.3:${back}`]);
    for (const h of HOSTS.slice(0, 2))
      await within(10_000, `${h} has both servers`, devices.get(h)?.waitForWorkers(2) ?? Promise.reject(new Error('no device')));
  });

  it(
    'scales 2 → 3 → 2 by changing the records under load: the new device joins and serves, the removed one is left, nothing is lost',
    { skip },
    async () => {
      const load = new Load(`dns://127.0.0.1:${dns.port}/${NAME}:${front}`, 8);
      try {
        await load.more(200, 'load through two devices');
        const joined = allGroups('joined', '127.0.0.4');
        dns.set(HOSTS);
        await joined;
        const third = devices.get('127.0.0.4');
        assert.ok(third !== undefined);
        await within(10_000, 'the third device has both servers', third.waitForWorkers(2));
        const received = (): number => {
          const st = third.stats();
          return st.engine === 'js' ? st.frontendTraffic.messagesIn : 0;
        };
        const before3 = received();
        await until(20_000, 'clients reach the third device', () => received() >= before3 + 50);
        await load.more(200, 'load through three devices');

        const left = allGroups('left', '127.0.0.4');
        dns.set(HOSTS.slice(0, 2));
        await left;
        await third.close();
        devices.delete('127.0.0.4');
        await load.more(200, 'load after the third device left and closed');
      } finally {
        await load.stop();
      }
      assert.deepEqual(load.errors, []);
      assert.equal(load.answered, load.sent, 'every request answered');
      await startDevice('127.0.0.4');
    },
  );

  it("a rolling restart of every device under load: 0 lost, 0 errors, each reply its own request's", { skip }, async () => {
    const joined = allGroups('joined', '127.0.0.4');
    dns.set(HOSTS);
    await joined;
    const load = new Load(`dns://127.0.0.1:${dns.port}/${NAME}:${front}`, 8);
    try {
      await load.more(200, 'load before the restart');
      for (const host of HOSTS) {
        // As Kubernetes does: the pod leaves the endpoints, gets SIGTERM and drains, and a new one comes back.
        const left = allGroups('left', host);
        dns.set(HOSTS.filter((h) => h !== host));
        await left;
        await devices.get(host)?.close();
        const again = await startDevice(host);
        const back2 = allGroups('joined', host);
        dns.set(HOSTS);
        await back2;
        await within(10_000, `${host} has both servers again`, again.waitForWorkers(2));
        await load.more(100, `load after restarting ${host}`);
      }
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.errors, []);
    assert.equal(load.answered, load.sent, 'every request answered');
  });

  it('when the DNS server stops answering, service goes on with the last known set', { skip }, async () => {
    const load = new Load(`dns://127.0.0.1:${dns.port}/${NAME}:${front}`, 4);
    try {
      await load.more(100, 'load before the DNS server stops');
      const failed = within(15_000, 'a resolution failed', new Promise<Error>((resolve) => groups[0]?.once('resolve-error', resolve)));
      await dns.stop();
      const err = await failed;
      assert.match(err.message, /cannot resolve devices\.test at 127\.0\.0\.1:\d+/);
      await load.more(200, 'load with the DNS server gone');
      for (const g of groups) assert.equal(g.endpoints.length, 3, 'the last known set is kept');
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.errors, []);
    assert.equal(load.answered, load.sent);
  });
});
