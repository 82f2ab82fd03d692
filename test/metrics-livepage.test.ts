/**
 * The live page on the --metrics port, in a real browser: headless Chromium
 * (Debian's `chromium`, driven by puppeteer-core) opens `/` of a `zqueue
 * serve` under load, waits until the rates are above zero, the charts are
 * drawn and the workers' table is filled; then `zqueue ctl … pause` shows on
 * the page as `paused`, the browser's console holds no error, and a
 * screenshot is saved (to $ZQ_SCREENSHOT when set: docs/live-page.png comes
 * from it). Without a browser it skips and says why. `/stats.json` is checked
 * against `/metrics` on its own, without a browser.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpGet } from 'node:http';
import { join } from 'node:path';
import { Client } from '../src/client.js';
import { cli, EXAMPLES, freePort, tempDir, removeTempDirs, within } from './helpers.js';

// Debian's chromium; GitHub's Ubuntu runners have Google Chrome.
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    httpGet(url, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    })
      .on('error', reject)
      .end();
  });
}

/** Closed-loop load from `n` concurrent callers on one client, until `halt()`; `done()` waits for the callers and closes it. */
function load(endpoint: string, n: number, timeoutMs = 10_000): { halt(): void; done(): Promise<void>; answered(): number } {
  const client = new Client({ endpoint, timeoutMs, retries: 0 });
  let running = true;
  let answered = 0;
  const loops = Array.from({ length: n }, async () => {
    while (running) {
      try {
        await client.request('live');
        answered++;
      } catch (err) {
        if (running && timeoutMs === 10_000) throw err;
      }
    }
  });
  return {
    answered: () => answered,
    halt() {
      running = false;
    },
    async done() {
      running = false;
      await Promise.all(loops);
      await client.close();
    },
  };
}

async function serve(): Promise<{ front: string; page: string; control: string; stop(): Promise<void> }> {
  const [frontPort, port] = [await freePort(), await freePort()];
  const control = `ipc://${join(tempDir(), 'ctl')}`;
  const front = `tcp://127.0.0.1:${frontPort}`;
  const p = cli([
    'serve',
    '--handler',
    join(EXAMPLES, 'echo.js'),
    '--threads',
    '2',
    '--frontend',
    front,
    '--metrics',
    `127.0.0.1:${port}`,
    '--control',
    control,
  ]);
  await within(20_000, 'zqueue serve binds its metrics port', p.waitFor('metrics'));
  return {
    front,
    page: `http://127.0.0.1:${port}/`,
    control,
    async stop() {
      p.kill('SIGTERM');
      assert.equal(await within(20_000, 'zqueue serve exits', p.exited), 0, p.stderr());
    },
  };
}

describe('the live page', () => {
  it('/stats.json answers from the counters /metrics renders, and serves the page and its chart library', async () => {
    const s = await serve();
    const l = load(s.front, 20);
    try {
      // Sampling starts at the first request for the page's data; a sample is one second's rates.
      await get(`${s.page}stats.json`);
      const view = await within(
        20_000,
        'a sample with requests in it',
        (async () => {
          for (;;) {
            const v = JSON.parse((await get(`${s.page}stats.json`)).body) as {
              state: string;
              workers: unknown[];
              threads: unknown[];
              samples: { requests: number; replies: number }[];
            };
            if (v.samples.some((x) => x.requests > 0)) return v;
            await new Promise((r) => setTimeout(r, 250));
          }
        })(),
      );
      assert.equal(view.state, 'running');
      assert.equal(view.workers.length, 2);
      assert.equal(view.threads.length, 2);
      const metrics = (await get(`${s.page}metrics`)).body;
      const requestsTotal = Number(/^zqueue_requests_total (\d+)$/m.exec(metrics)?.[1]);
      assert.ok(requestsTotal > 0, 'the same count reaches /metrics');
      assert.match(metrics, /^zqueue_queue_oldest_seconds \d/m);
      assert.match(metrics, /^zqueue_request_latency_recent_seconds\{quantile="0.99"\} \d/m);
      const page = await get(s.page);
      assert.equal(page.status, 200);
      assert.match(page.type, /^text\/html/);
      assert.match(page.body, /<script src="\/assets\/uplot.js">/);
      const lib = await get(`${s.page}assets/uplot.js`);
      assert.equal(lib.status, 200);
      assert.match(lib.body, /uPlot/);
      assert.equal((await get(`${s.page}assets/nothing.js`)).status, 404);
    } finally {
      l.halt();
      await s.stop();
      await l.done();
      removeTempDirs();
    }
  });

  it('in headless Chromium: live rates, charts and workers under load, a pause seen, no console error', async (t) => {
    if (CHROMIUM === undefined) {
      t.skip('no Chromium (apt-get install chromium): the page is not opened in a browser here');
      return;
    }
    const puppeteer = (await import('puppeteer-core')).default;
    const s = await serve();
    const l = load(s.front, 20);
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
      headless: true,
    });
    const errors: string[] = [];
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 1100 });
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (err) => errors.push(String(err)));
      page.on('requestfailed', (r) => errors.push(`${r.url()}: ${r.failure()?.errorText ?? 'failed'}`));
      await page.goto(s.page, { waitUntil: 'load' });
      // The page's own code runs in the browser: these expressions are evaluated there.
      const number = (id: string): string => `Number((document.getElementById('${id}')?.textContent ?? '').replace(/,/g, ''))`;
      await page.waitForFunction(
        `${number('rate-requests')} > 0 && ${number('rate-replies')} > 0 && document.querySelectorAll('#workers tbody tr').length === 2`,
        { timeout: 30_000, polling: 200 },
      );
      const state = "document.getElementById('state').dataset.state";
      assert.equal(await page.evaluate(state), 'running');
      assert.equal(await page.evaluate("document.querySelectorAll('.uplot canvas').length"), 5, 'five charts drawn');
      assert.equal(await page.evaluate("document.querySelectorAll('#threads tbody tr').length"), 2, "zqueue serve's two worker threads");

      const ctl = cli(['ctl', s.control, 'pause']);
      assert.equal(await within(10_000, 'zqueue ctl pause', ctl.exited), 0, ctl.stderr());
      await page.waitForFunction(`${state} === 'paused'`, { timeout: 10_000 });

      // For the docs' picture ($ZQ_SCREENSHOT): a minute and a half of history, with a burst of impatient requests in it.
      if (process.env.ZQ_SCREENSHOT !== undefined) {
        await cli(['ctl', s.control, 'resume']).exited;
        await page.waitForFunction('Number(document.body.dataset.samples) >= 30', { timeout: 120_000, polling: 1000 });
        const burst = load(s.front, 4000, 50);
        await page.waitForFunction('Number(document.body.dataset.samples) >= 60', { timeout: 120_000, polling: 1000 });
        await burst.done();
        await page.waitForFunction('Number(document.body.dataset.samples) >= 90', { timeout: 120_000, polling: 1000 });
        await cli(['ctl', s.control, 'pause']).exited;
        await page.waitForFunction(`${state} === 'paused'`, { timeout: 10_000 });
      }
      const shot = process.env.ZQ_SCREENSHOT ?? join(tempDir(), 'live-page.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.deepEqual([...readFileSync(shot).subarray(1, 4)], [...Buffer.from('PNG')]);

      const resume = cli(['ctl', s.control, 'resume']);
      assert.equal(await within(10_000, 'zqueue ctl resume', resume.exited), 0, resume.stderr());
      await page.waitForFunction(`${state} === 'running'`, { timeout: 10_000 });
      assert.deepEqual(errors, [], 'no error in the browser console');
      assert.ok(l.answered() > 0);
    } finally {
      await browser.close();
      l.halt();
      await s.stop();
      await l.done();
      removeTempDirs();
    }
  });
});
