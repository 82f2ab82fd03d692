/**
 * A connection flood at scale (`npm run flood`): `zqueue serve` on
 * its defaults, held to `--limit` descriptors (20 000), against `--connections`
 * idle tcp connections (24 000) that never send a ZMTP greeting, opened by two
 * generator processes. Each connection the device cuts is opened again at
 * once, so the flood lasts as long as the run. Meanwhile one client connected
 * before the flood sends requests back to back, a new client comes as the
 * flood starts and another near its end, and one more after it.
 *
 * Prints what each saw (timeouts, the slowest request, how long the newcomers
 * waited) as markdown, and exits 1 when these bounds do not hold: the
 * connected client never times out and its slowest request takes ≤ 1 s; a
 * newcomer is served within 5 s, and after the flood at once (≤ 1 s).
 *
 * `test/device-flood.test.ts` is the same at a small scale (256 descriptors),
 * for every test run; this is the check at scale, by hand.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '../src/client.js';

const HERE = fileURLToPath(import.meta.url);
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const ECHO = fileURLToPath(new URL('../../examples/echo.js', import.meta.url));

/** Holds `n` idle connections to `port`; one that is cut is opened again at once. Prints "opened cut" each second. */
function generate(port: number, n: number): void {
  let opened = 0;
  let cut = 0;
  const one = (): void => {
    const s = connect({ port, host: '127.0.0.1' });
    s.on('connect', () => opened++);
    s.resume(); // read, so that the device's close is seen
    s.on('error', () => undefined);
    s.on('close', () => {
      cut++;
      setImmediate(one);
    });
  };
  for (let i = 0; i < n; i++) one();
  setInterval(() => process.stdout.write(`${opened} ${cut}\n`), 1000);
  process.on('SIGTERM', () => process.exit(0));
}

interface Timed {
  readonly ms: number;
  readonly ok: boolean;
}

async function timedRequest(endpoint: string, body: string): Promise<Timed> {
  const c = new Client({ endpoint, timeoutMs: 5000, retries: 0 });
  const t0 = performance.now();
  try {
    await c.request(body);
    return { ms: performance.now() - t0, ok: true };
  } catch {
    return { ms: performance.now() - t0, ok: false };
  } finally {
    await c.close();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '24000' },
      limit: { type: 'string', default: '20000' },
      seconds: { type: 'string', default: '30' },
      port: { type: 'string', default: '47555' },
    },
  });
  const connections = Number(values.connections);
  const limit = Number(values.limit);
  const seconds = Number(values.seconds);
  const port = Number(values.port);
  for (const [name, v] of [
    ['connections', connections],
    ['limit', limit],
    ['seconds', seconds],
    ['port', port],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name}: a positive integer, not ${String(v)}`);
  }
  const endpoint = `tcp://127.0.0.1:${port}`;
  const serve = spawn(
    '/bin/sh',
    ['-c', `ulimit -n ${limit} && exec "${process.execPath}" "${CLI}" serve --handler "${ECHO}" --frontend ${endpoint}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  serve.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
  const gens: ChildProcess[] = [];
  const lastLine: string[] = [];
  try {
    while (!log.includes(' bound ')) {
      if (serve.exitCode !== null) throw new Error(`zqueue serve ended: ${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const connected = new Client({ endpoint, timeoutMs: 5000, retries: 0 });
    await connected.request('before');
    // Two generators, each within its own descriptors (`ulimit -n` of the limit).
    const half = Math.ceil(connections / 2);
    for (let i = 0; i < 2; i++) {
      const g = spawn(
        '/bin/sh',
        ['-c', `ulimit -n ${Math.max(limit, half + 100)} && exec "${process.execPath}" "${HERE}" --generate ${port} ${half}`],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      g.stdout?.setEncoding('utf8').on('data', (d: string) => (lastLine[i] = d.trim().split('\n').at(-1) ?? ''));
      gens.push(g);
    }
    const started = performance.now();
    const first = timedRequest(endpoint, 'newcomer');
    let answered = 0;
    let timeouts = 0;
    let slowest = 0;
    let late: Promise<Timed> | undefined;
    while (performance.now() - started < seconds * 1000) {
      const t0 = performance.now();
      try {
        await connected.request('during');
        answered++;
      } catch {
        timeouts++;
      }
      slowest = Math.max(slowest, performance.now() - t0);
      if (late === undefined && performance.now() - started > seconds * 800) late = timedRequest(endpoint, 'late newcomer');
    }
    await connected.close();
    const newcomer = await first;
    const lateNewcomer = await (late ?? timedRequest(endpoint, 'late newcomer'));
    const flood = lastLine.map((l) => l.split(' ').map(Number));
    const opened = flood.reduce((s, [o = 0]) => s + o, 0);
    const cut = flood.reduce((s, [, c = 0]) => s + c, 0);
    for (const g of gens) g.kill('SIGTERM');
    await Promise.all(gens.map(async (g) => (g.exitCode === null ? once(g, 'exit') : undefined)));
    const after = await timedRequest(endpoint, 'after');
    const emfile = log.split('\n').filter((l) => l.includes('accept-failed')).length;
    const ms = (t: Timed): string => (t.ok ? `${Math.round(t.ms)} ms` : `not served (${Math.round(t.ms)} ms)`);
    process.stdout.write(
      [
        `zqueue serve on its defaults held to ${limit} descriptors; ${connections} idle connections that never greet, each opened again when cut, for ${seconds} s.`,
        '',
        '| what | seen |',
        '| --- | --- |',
        `| connected client | ${answered} requests answered, ${timeouts} timeouts, slowest ${Math.round(slowest)} ms |`,
        `| a newcomer as the flood starts | ${ms(newcomer)} |`,
        `| a newcomer near its end | ${ms(lateNewcomer)} |`,
        `| a client after it | ${ms(after)} |`,
        `| flood connections opened / cut by the device | ${opened} / ${cut} |`,
        `| accept-failed lines logged | ${emfile} |`,
        '',
      ].join('\n'),
    );
    const ok =
      timeouts === 0 &&
      slowest <= 1000 &&
      newcomer.ok &&
      newcomer.ms <= 5000 &&
      lateNewcomer.ok &&
      lateNewcomer.ms <= 5000 &&
      after.ok &&
      after.ms <= 1000;
    process.stdout.write(ok ? 'within the bounds: no timeout, slowest ≤ 1 s, newcomers ≤ 5 s, after ≤ 1 s\n' : 'OUTSIDE the bounds\n');
    return ok ? 0 : 1;
  } finally {
    for (const g of gens) if (g.exitCode === null) g.kill('SIGTERM');
    serve.kill('SIGTERM');
    if (serve.exitCode === null) await once(serve, 'exit');
  }
}

// A load generator of its own (a child this script spawns): `--generate PORT COUNT`.
if (process.argv[2] === '--generate') generate(Number(process.argv[3]), Number(process.argv[4]));
else process.exitCode = await main();
