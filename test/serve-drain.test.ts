/**
 * zqueue serve draining on SIGTERM: the requests it holds are answered, and
 * every request it reads from then until it closes is answered `closing` at
 * once (a zqueue client then fails over), none left to its client's timeout.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { sendControl } from '../src/operate/control.js';
import { HANDLERS, cli, endpointFor, freePort, removeTempDirs, within } from './helpers.js';
import { after } from 'node:test';

after(removeTempDirs);

describe('zqueue serve draining', () => {
  it('answers what it holds, and "closing" to each request that comes after SIGTERM', async () => {
    const port = await freePort();
    const control = endpointFor('ipc', 'drain-ctl');
    const serve = cli([
      'serve',
      '--handler',
      join(HANDLERS, 'slow-400.js'),
      '--threads',
      '1',
      '--concurrency',
      '2',
      '--frontend',
      `tcp://127.0.0.1:${port}`,
      '--control',
      control,
      '--log-format',
      'json',
      '--close-timeout',
      '5000',
    ]);
    const dealer = new zmq.Dealer({ linger: 0 });
    try {
      await within(15_000, 'serve bound', serve.waitFor('"event":"bound"'));
      dealer.connect(`tcp://127.0.0.1:${port}`);
      const send = (tag: string): Promise<void> => dealer.send([tag, '', `body ${tag}`]);
      await send('warm');
      assert.equal(String((await within(10_000, 'warm-up reply', dealer.receive()))[2]), 'body warm');
      await send('early-1');
      await send('early-2');
      // Both are with the worker (two slots) before the signal: held, not queued (a queued request is answered `closing` when a drain begins).
      const held = async (): Promise<number> => {
        const s = JSON.parse(String(await sendControl(control, 'stats', 2000))) as { device: { inFlight: number; queued: number } };
        return s.device.inFlight + s.device.queued;
      };
      await within(
        5000,
        'both at the device',
        (async () => {
          while ((await held()) < 2);
        })(),
      );
      const replies = new Map<string, string>();
      const reading = (async () => {
        while (replies.size < 6) {
          const [tag, , body] = await dealer.receive();
          replies.set(String(tag), String(body));
        }
      })();
      serve.kill('SIGTERM');
      await within(5000, 'draining', serve.waitFor('"event":"draining"'));
      for (let i = 1; i <= 4; i++) await send(`late-${i}`);
      await within(10_000, 'six replies', reading);
      assert.equal(replies.get('early-1'), 'body early-1');
      assert.equal(replies.get('early-2'), 'body early-2', 'what the device held when the signal came is served');
      for (let i = 1; i <= 4; i++) assert.match(replies.get(`late-${i}`) ?? '', /^ZQ-ERROR closing: /, `late-${i} is told at once`);
      assert.equal(await within(10_000, 'serve exits', serve.exited), 0);
    } finally {
      dealer.close();
      serve.kill('SIGKILL');
      await serve.exited;
    }
  });
});
