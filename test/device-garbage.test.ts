/**
 * Garbage at the device from every kind of peer — raw tcp bytes before and
 * after a ZMTP greeting, a STREAM socket, 100 000 random multipart messages,
 * an oversized message — while a well-behaved client keeps being served by
 * worker threads that see whatever passes the device. Every message is
 * accounted for.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes, randomInt } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { Broker } from '../src/serve/broker.js';
import { Client } from '../src/client.js';
import { ErrorCode, isZqueueError } from '../src/errors.js';
import { connectUrlFor } from '../src/endpoints.js';
import { EXAMPLES, until } from './helpers.js';

/**
 * A ZMTP 3.0 greeting for the NULL mechanism (64 bytes), then a command that is
 * not READY: a certain handshake error. (Random bytes right after the greeting
 * are not: a random length can leave libzmq waiting for the rest until the
 * connection ends, which is a disconnect, not a handshake error.)
 */
function greeting(): Buffer {
  const g = Buffer.alloc(64);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3;
  g.write('NULL', 12, 'latin1');
  return Buffer.concat([g, Buffer.from([0x04, 5]), Buffer.from('BOGUS', 'latin1')]);
}

describe('device under garbage', () => {
  it('serves a good client throughout, accounts for every rogue message, and its workers survive what reaches them', async () => {
    // countHandshakes: the frontend's failed handshakes are counted only through libzmq's monitor, which least-busy leaves off by default.
    const broker = await Broker.create({
      handler: join(EXAMPLES, 'echo.js'),
      threads: 2,
      frontend: 'tcp://127.0.0.1:*',
      countHandshakes: true,
    });
    const endpoint = connectUrlFor(broker.frontendEndpoint);
    const port = Number(endpoint.split(':').pop());
    // The fair queue serves the good client in turn with the flood, however deep the flood's
    // queue and however fast this machine sends it; the timeout is only a bound on a hang.
    const good = new Client({ endpoint, timeoutMs: 30_000, retries: 0 });
    let stop = false;
    let goodAnswered = 0;
    let goodBusy = 0;
    const goodLoop = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          assert.deepEqual((await good.request(`good ${i}`)).map(String), [`good ${i}`]);
          goodAnswered++;
        } catch (err) {
          if (!isZqueueError(err, ErrorCode.Busy)) throw err;
          goodBusy++;
        }
      }
    })();
    const rogue = new zmq.Dealer({ linger: 0 });
    let drain: Promise<void> = Promise.resolve();
    const stream = new zmq.Stream({ linger: 0 });
    const rssBefore = process.memoryUsage().rss;
    try {
      // Raw bytes: with no greeting, and after a valid greeting and a wrong first command.
      for (const prefix of [Buffer.alloc(0), greeting()]) {
        for (let k = 0; k < 5; k++) {
          const sock = connect(port, '127.0.0.1');
          sock.on('error', () => undefined);
          await once(sock, 'connect');
          sock.end(Buffer.concat([prefix, randomBytes(2048)]));
          await once(sock, 'finish');
          sock.destroy();
        }
      }
      // A STREAM socket: raw bytes from a ZeroMQ peer.
      stream.connect(endpoint);
      const [routing] = await stream.receive(); // its connect notification
      await stream.send([routing ?? Buffer.alloc(0), randomBytes(1024)]);
      // 100 000 random multipart messages from a DEALER; whatever comes back is read and discarded.
      rogue.connect(endpoint);
      drain = (async () => {
        try {
          for await (const _ of rogue);
        } catch {
          // closed
        }
      })();
      const N = 100_000;
      for (let k = 0; k < N; k++) {
        const frames = Array.from({ length: randomInt(1, 8) }, () =>
          randomInt(4) === 0 ? Buffer.alloc(0) : randomBytes(randomInt(1, 32)),
        );
        // A lone empty frame reaches the device as `[id, ""]`, which is how libzmq says a connection began or
        // ended (ROUTER_NOTIFY): it would end this rogue's own queue, not test it (device-protocol-garbage sends them).
        if (frames.length === 1 && frames[0]?.length === 0) frames.push(Buffer.alloc(0));
        await rogue.send(frames);
      }
      await rogue.send([Buffer.alloc(0), ...Array.from({ length: 300 }, () => Buffer.from('x'))]); // too many frames
      const sent = N + 1;
      // Served throughout: while the flood went in (however long that took here), the good client was answered.
      const goodDuringFlood = goodAnswered;
      const accounted = (): number => {
        const s = broker.device.stats();
        return s.counted ? s.malformed + s.answered + Object.values(s.failed).reduce((a, b) => a + b, 0) : 0;
      };
      await until(
        60_000,
        'every rogue message accounted for',
        () => broker.device.inFlight === 0 && accounted() >= sent + goodAnswered + goodBusy,
      );
      stop = true;
      await goodLoop;
      const s = broker.device.stats();
      assert.ok(s.counted);
      assert.equal(
        accounted(),
        s.frontendTraffic.messagesIn,
        'each message was dropped as malformed, refused (busy, bad request) or answered',
      );
      assert.equal(s.failed.badRequest, 1);
      assert.ok(s.malformed > 0 && s.answered > goodAnswered);
      assert.ok(s.security.refused.handshake >= 5, `bad greetings counted (${s.security.refused.handshake})`);
      assert.equal(s.orphaned, 0, 'no worker died');
      assert.deepEqual(
        broker.stats().threads.map((w) => w.restarts),
        [0, 0],
      );
      assert.ok(goodDuringFlood > 0, 'the good client was answered while the flood went in');
      assert.equal(goodBusy, 0, 'the flood hit its own share of the queue, never the good client');
      assert.ok(s.queue.busyPerClient > 0, 'the flood was refused for its share, and that is counted apart');
      assert.ok(process.memoryUsage().rss - rssBefore < 300 * 2 ** 20, 'no runaway memory');
    } finally {
      stop = true;
      await goodLoop.catch(() => undefined);
      await good.close();
      rogue.close();
      await drain;
      stream.close();
      await broker.close();
    }
  });
});
