/**
 * Several devices on hosts of their own: network namespaces that the test
 * makes (test/netns.ts), two device hosts, a server host and a client host on
 * one bridge. Two servers serve both devices; ten clients that know both make
 * 400 requests, and device A's cable is pulled under load, not its process
 * killed: its connections go silent, with no FIN or RST to say so. Every
 * request is answered, the survivor answers the rest, and when the cable is
 * plugged back in both servers rejoin A by themselves.
 *
 * Then devices found through DNS on such hosts: a DNS server (dnsmasq) on
 * a host of its own, three device hosts, servers and clients that know only
 * `dns://DNS-HOST/devices.test:PORT`. A third device added to the records
 * under load is joined by both servers and serves; the first is killed
 * (SIGKILL) and removed from the records: every request is answered.
 *
 * Needs root (ip netns), and dnsmasq for the second; elsewhere they are
 * skipped with the reason.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chmodSync, writeFileSync } from 'node:fs';
import { DNSMASQ, EXAMPLES, FIXTURES, cli, dnsmasqArgs, dnsmasqMissing, removeTempDirs, tempDir, within } from './helpers.js';
import { Lab, netnsMissing } from './netns.js';

const missing = netnsMissing();

interface Counted {
  answered: number;
  workers: unknown[];
}

/** A device's stats through its control socket (ipc: a path, which network namespaces do not separate). */
async function stats(control: string): Promise<Counted | undefined> {
  const c = cli(['ctl', control, 'stats', '--timeout', '2000']);
  if ((await c.exited) !== 0) return undefined;
  return JSON.parse(c.stdout()) as Counted;
}

async function untilWorkers(control: string, n: number, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  for (;;) {
    if ((await stats(control))?.workers.length === n) return;
    if (performance.now() > deadline) throw new Error(`${control}: the device did not have ${n} workers within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('several devices on hosts of their own (network namespaces)', { skip: missing === false ? undefined : missing }, () => {
  let lab: Lab | undefined;
  before(() => {
    lab = new Lab(['a', 'b', 'servers', 'clients']);
  });
  after(async () => {
    await lab?.destroy();
    removeTempDirs();
  });

  it("400 requests while device A's link is cut: all answered, the survivor answers; mended, both servers rejoin A", async () => {
    const l = lab as Lab;
    const dir = tempDir();
    const at = (h: string, port: number): string => `tcp://${l.host(h).address}:${port}`;
    const control = (d: string): string => `ipc://${join(dir, `${d}.ctl`)}`;
    for (const d of ['a', 'b']) {
      l.zqueue(d, [
        'device',
        '--policy',
        'least-busy',
        '--frontend',
        at(d, 5559),
        '--backend',
        at(d, 5560),
        '--heartbeat',
        '200',
        '--control',
        control(d),
      ]);
    }
    const a = control('a');
    const b = control('b');
    for (let i = 0; i < 2; i++)
      l.zqueue('servers', [
        'server',
        '--connect',
        `${at('a', 5560)},${at('b', 5560)}`,
        '--handler',
        join(EXAMPLES, 'echo.js'),
        '--heartbeat',
        '200',
      ]);
    await untilWorkers(a, 2, 20_000);
    await untilWorkers(b, 2, 20_000);

    const client = l.node('clients', [join(FIXTURES, 'failover-client.js'), `${at('a', 5559)},${at('b', 5559)}`, '400', '10']);
    await within(60_000, '150 answers', client.waitFor('answered 150\n'));
    l.cut('a');
    const atCut = Number(/answered (\d+)\n(?!.*answered)/s.exec(client.stdout())?.[1] ?? 0);
    const code = await within(90_000, 'the client', client.exited);
    const report = JSON.parse(client.stdout().trim().split('\n').at(-1) ?? '{}') as {
      answered: number;
      wrong: number;
      errors: string[];
      failovers: number;
    };
    assert.deepEqual(report.errors, [], 'no request ended in an error');
    assert.equal(report.answered, 400, 'every request was answered');
    assert.equal(report.wrong, 0, 'each with its own reply');
    assert.equal(code, 0);
    assert.ok(report.failovers >= 1, `requests sent to A failed over to B (${report.failovers})`);
    // Cut off, A relayed nothing more: at most the replies in flight at the cut (one a client), which never arrived.
    const aAnswered = (await stats(a))?.answered ?? -1;
    const bAnswered = (await stats(b))?.answered ?? -1;
    assert.ok(aAnswered >= 0 && aAnswered <= atCut + 10, `A answered ${aAnswered}; ${atCut} answers had arrived at the cut`);
    assert.ok(bAnswered >= 400 - atCut, `B answered the rest (${bAnswered}; ${400 - atCut} came after the cut)`);

    // A, cut off, declares its silent servers dead; plugged back in, both rejoin it by themselves, and A serves.
    await untilWorkers(a, 0, 30_000);
    l.mend('a');
    await untilWorkers(a, 2, 30_000);
    const only = l.node('clients', [join(FIXTURES, 'failover-client.js'), at('a', 5559), '20', '2']);
    assert.equal(await within(30_000, 'a client of A alone', only.exited), 0, only.stdout());
  });
});

const noDns = missing !== false ? missing : dnsmasqMissing();

describe(
  'devices found through DNS, on hosts of their own (network namespaces, dnsmasq)',
  { skip: noDns === false ? undefined : noDns },
  () => {
    let lab: Lab | undefined;
    before(() => {
      lab = new Lab(['dns', 'd1', 'd2', 'd3', 'servers', 'clients']);
    });
    after(async () => {
      await lab?.destroy();
      removeTempDirs();
    });

    it('2 devices, then a third added to the records under load is joined and serves; the first killed and removed: every request answered', async () => {
      const l = lab as Lab;
      const dir = tempDir();
      chmodSync(dir, 0o755);
      const hosts = join(dir, 'hosts');
      const records = (names: readonly string[]): void =>
        writeFileSync(hosts, names.map((h) => `${l.host(h).address} devices.test\n`).join(''), { mode: 0o644 });
      records(['d1', 'd2']);
      const dnsAt = l.host('dns').address;
      const dns = l.exec('dns', DNSMASQ, dnsmasqArgs(dnsAt, 53, hosts));
      await within(10_000, 'dnsmasq read its records', dns.waitFor(`read ${hosts}`));
      const reload = async (names: readonly string[]): Promise<void> => {
        const before = (dns.stderr().match(/read .*hosts - \d+ names?/g) ?? []).length;
        records(names);
        dns.kill('SIGHUP');
        await within(
          10_000,
          'dnsmasq re-read its records',
          (async () => {
            while ((dns.stderr().match(/read .*hosts - \d+ names?/g) ?? []).length <= before) await new Promise((r) => setTimeout(r, 20));
          })(),
        );
      };
      const control = (d: string): string => `ipc://${join(dir, `${d}.ctl`)}`;
      const devices = new Map(
        ['d1', 'd2', 'd3'].map((d) => [
          d,
          l.zqueue(d, [
            'device',
            '--policy',
            'least-busy',
            '--frontend',
            `tcp://${l.host(d).address}:5559`,
            '--backend',
            `tcp://${l.host(d).address}:5560`,
            '--heartbeat',
            '200',
            '--control',
            control(d),
          ]),
        ]),
      );
      for (let i = 0; i < 2; i++)
        l.zqueue('servers', [
          'server',
          '--connect',
          `dns://${dnsAt}/devices.test:5560`,
          '--handler',
          join(EXAMPLES, 'echo.js'),
          '--heartbeat',
          '200',
        ]);
      await untilWorkers(control('d1'), 2, 20_000);
      await untilWorkers(control('d2'), 2, 20_000);

      const client = l.node('clients', [join(FIXTURES, 'failover-client.js'), `dns://${dnsAt}/devices.test:5559`, '6000', '10']);
      await within(60_000, '100 answers', client.waitFor('answered 100\n'));
      await reload(['d1', 'd2', 'd3']);
      await untilWorkers(control('d3'), 2, 20_000);
      // The clients find it when they next ask (the records live 1 s).
      const deadline = performance.now() + 20_000;
      while (((await stats(control('d3')))?.answered ?? 0) < 20) {
        assert.ok(
          performance.now() < deadline && client.child.exitCode === null,
          `the clients reach the device added to the records (client: ${client.stdout().trim().split('\n').at(-1) ?? ''} ${client.stderr()})`,
        );
        await new Promise((r) => setTimeout(r, 100));
      }
      devices.get('d1')?.kill('SIGKILL');
      await reload(['d2', 'd3']);
      const code = await within(120_000, 'the client', client.exited);
      const report = JSON.parse(client.stdout().trim().split('\n').at(-1) ?? '{}') as { answered: number; wrong: number; errors: string[] };
      assert.deepEqual(report.errors, [], 'no request ended in an error');
      assert.equal(report.answered, 6000, 'every request was answered');
      assert.equal(report.wrong, 0, 'each with its own reply');
      assert.equal(code, 0);
      const third = (await stats(control('d3')))?.answered ?? 0;
      assert.ok(third >= 20, `the device added to the records served (${third} answered)`);
    });
  },
);
