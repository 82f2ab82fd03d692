/**
 * `npm run soak:inproc -- [--seconds S] [--clients N] [--no-write]`: echoes
 * of 129 B to 64 KiB, every byte value, through `zqueue serve --backend
 * inproc` (a process of its own, two worker threads) from N tcp REQ clients
 * at full load for S seconds (default 600), every reply checked byte for
 * byte; then SIGTERM, which must end it with exit 0. Writes
 * results/inproc-soak.md (and results/raw/inproc-soak.json). Exit 1 on any wrong reply, error,
 * timeout, or a serve process that did not exit 0.
 */
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as zmq from 'zeromq';
import { countdown } from '../bench/lib/progress.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const ECHO = fileURLToPath(new URL('../../examples/echo.js', import.meta.url));

interface Soak {
  seconds: number;
  clients: number;
  requests: number;
  bytes: number;
  wrong: number;
  errors: number;
  timeouts: number;
  serve_exit: number | string;
  rss_mb_peak: number;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, clients: { type: 'string' }, 'no-write': { type: 'boolean' } } });
  const seconds = Number(values.seconds ?? 600);
  const clients = Number(values.clients ?? 20);
  const port = 20_000 + randomInt(20_000);
  const serve = spawn(
    process.execPath,
    [
      CLI,
      'serve',
      '--handler',
      ECHO,
      '--threads',
      '2',
      '--backend',
      'inproc',
      '--frontend',
      `tcp://127.0.0.1:${port}`,
      '--control',
      `tcp://127.0.0.1:${port + 1}`,
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  serve.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | string>((r) => serve.once('exit', (code, signal) => r(code ?? signal ?? -1)));
  // zqueue serve logs "workers" once its device is bound and its worker threads are up.
  const deadline = performance.now() + 60_000;
  while (!/ workers threads=/.test(stderr)) {
    if (serve.exitCode !== null || performance.now() > deadline) {
      console.error(`inproc soak: zqueue serve did not start:\n${stderr}`);
      serve.kill('SIGKILL');
      return 1;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const s: Soak = { seconds, clients, requests: 0, bytes: 0, wrong: 0, errors: 0, timeouts: 0, serve_exit: -1, rss_mb_peak: 0 };
  const stop = countdown('inproc soak', seconds * 1000);
  const end = performance.now() + seconds * 1000;
  const sampler = setInterval(() => {
    try {
      const rss = Number(/VmRSS:\s+(\d+)/.exec(procStatus(serve.pid ?? 0))?.[1] ?? 0) / 1024;
      s.rss_mb_peak = Math.max(s.rss_mb_peak, Math.round(rss));
    } catch {
      // gone
    }
  }, 1000);
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let req = new zmq.Request({ linger: 0, receiveTimeout: 10_000 });
      req.connect(`tcp://127.0.0.1:${port}`);
      try {
        while (performance.now() < end) {
          const size = randomInt(129, 65_537);
          const body = Buffer.allocUnsafe(size);
          for (let i = 0; i < size; i++) body[i] = (i * 13 + c + s.requests) & 0xff;
          try {
            await req.send(body);
            const [reply, ...rest] = await req.receive();
            s.requests++;
            s.bytes += size;
            if (rest.length > 0 || reply === undefined || !reply.equals(body)) s.wrong++;
          } catch (err) {
            if ((err as { code?: string }).code === 'EAGAIN') {
              s.timeouts++;
              req.close();
              req = new zmq.Request({ linger: 0, receiveTimeout: 10_000 });
              req.connect(`tcp://127.0.0.1:${port}`);
            } else {
              s.errors++;
              return;
            }
          }
        }
      } finally {
        req.close();
      }
    }),
  );
  stop();
  clearInterval(sampler);
  serve.kill('SIGTERM');
  s.serve_exit = await exited;
  const ok = s.wrong + s.errors + s.timeouts === 0 && s.serve_exit === 0;
  const md = [
    '# inproc soak: zqueue serve --backend inproc, 129 B to 64 KiB echoes',
    '',
    `${new Date().toISOString()}, ${clients} tcp clients at full load for ${seconds} s, two worker threads over inproc (frames over 128 bytes as strings, src/inproc.ts).`,
    '',
    '| requests | MB echoed | wrong | errors | timeouts | serve exit on SIGTERM | serve RSS peak |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${s.requests} | ${Math.round(s.bytes / 2 ** 20)} | ${s.wrong} | ${s.errors} | ${s.timeouts} | ${s.serve_exit} | ${s.rss_mb_peak} MB |`,
    '',
    ok ? 'Every request was answered with its own echo.' : '**FAILED**',
    '',
  ].join('\n');
  console.log(md);
  if (values['no-write'] !== true) {
    writeFileSync('results/inproc-soak.md', md);
    mkdirSync('results/raw', { recursive: true });
    writeFileSync('results/raw/inproc-soak.json', `${JSON.stringify(s, null, 2)}\n`);
  }
  if (!ok) console.error(stderr.split('\n').slice(-20).join('\n'));
  return ok ? 0 : 1;
}

/** A process's /proc status (VmRSS and the rest). */
function procStatus(pid: number): string {
  return readFileSync(`/proc/${pid}/status`, 'utf8');
}

process.exitCode = await main();
