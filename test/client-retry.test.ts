import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as zmq from 'zeromq';
import { Client } from '../src/client.js';
import { ErrorCode, ZqueueError } from '../src/errors.js';

/** A request's envelope (up to and with its delimiter) and its first body frame, as a REP server splits it. */
function split(frames: Buffer[]): { envelope: Buffer[]; body: Buffer | undefined } {
  const d = frames.findIndex((f, i) => i > 0 && f.length === 0);
  return { envelope: frames.slice(0, d + 1), body: d < 0 ? undefined : frames[d + 1] };
}

/** A bound ROUTER that plays a server: `answer(n)` says whether the n-th request gets a reply. */
async function fakeServer(
  answer: (n: number, body: string) => boolean,
): Promise<{ endpoint: string; seen: string[]; close: () => Promise<void> }> {
  const sock = new zmq.Router({ linger: 0 });
  await sock.bind('tcp://127.0.0.1:*');
  const seen: string[] = [];
  const loop = (async () => {
    try {
      for await (const frames of sock) {
        const { envelope, body } = split(frames);
        if (body === undefined) continue;
        seen.push(body.toString());
        if (answer(seen.length, body.toString())) await sock.send([...envelope, Buffer.from(`re: ${body.toString()}`)]);
      }
    } catch {
      // closed
    }
  })();
  return {
    endpoint: sock.lastEndpoint ?? '',
    seen,
    close: async () => {
      sock.close();
      await loop;
    },
  };
}

describe('client timeout and retries (Lazy Pirate)', () => {
  it('gives up after retries+1 attempts against a server that never answers, with an error that says so', async () => {
    const srv = await fakeServer(() => false);
    const client = new Client({ endpoint: srv.endpoint, timeoutMs: 100, retries: 2 });
    try {
      await assert.rejects(client.request('hello'), (err: unknown) => {
        assert.ok(err instanceof ZqueueError);
        assert.equal(err.code, ErrorCode.RetriesExhausted);
        assert.match(err.message, /after 3 attempts of 100 ms/);
        return true;
      });
      assert.deepEqual(srv.seen, ['hello', 'hello', 'hello']);
      const { requests, replies, retries, failures, failovers, inFlight } = client.stats();
      assert.deepEqual(
        { requests, replies, retries, failures, failovers, inFlight },
        { requests: 1, replies: 0, retries: 2, failures: 1, failovers: 0, inFlight: 0 },
      );
    } finally {
      await client.close();
      await srv.close();
    }
  });

  it('with no retries the error is a plain timeout', async () => {
    const srv = await fakeServer(() => false);
    const client = new Client({ endpoint: srv.endpoint, timeoutMs: 50, retries: 0 });
    try {
      await assert.rejects(client.request('x'), { code: ErrorCode.Timeout });
    } finally {
      await client.close();
      await srv.close();
    }
  });

  it('gets the reply once the server comes back, and never a reply meant for an earlier attempt', async () => {
    // Drops the first two attempts, answers from the third on.
    const srv = await fakeServer((n) => n >= 3);
    const client = new Client({ endpoint: srv.endpoint, timeoutMs: 100, retries: 3 });
    try {
      const reply = await client.request('first');
      assert.equal(reply[0]?.toString(), 're: first');
      assert.equal(client.stats().retries, 2);
      const next = await client.request('second');
      assert.equal(next[0]?.toString(), 're: second');
    } finally {
      await client.close();
      await srv.close();
    }
  });

  it('drops a late reply to an abandoned attempt instead of handing it to the next request', async () => {
    // A server that answers each request late the first time it sees it.
    const sock = new zmq.Router({ linger: 0 });
    await sock.bind('tcp://127.0.0.1:*');
    const late: Buffer[][] = [];
    const loop = (async () => {
      try {
        for await (const frames of sock) {
          const { envelope, body } = split(frames);
          if (body === undefined) continue;
          if (body.toString() === 'slow') {
            late.push([...envelope, Buffer.from('late reply to slow')]);
            continue;
          }
          // Before answering "fast", answer the abandoned "slow" attempts on their old sockets.
          for (const msg of late.splice(0)) await sock.send(msg);
          await sock.send([...envelope, Buffer.from('reply to fast')]);
        }
      } catch {
        // closed
      }
    })();
    const client = new Client({ endpoint: sock.lastEndpoint ?? '', timeoutMs: 80, retries: 1 });
    try {
      await assert.rejects(client.request('slow'), { code: ErrorCode.RetriesExhausted });
      const reply = await client.request('fast');
      assert.deepEqual(reply.map(String), ['reply to fast']);
    } finally {
      await client.close();
      sock.close();
      await loop;
    }
  });

  it('keeps its connection after one timeout and throws away the late reply to the request it gave up on', async () => {
    // A server that holds "slow" and answers it just before it answers the next request, on the same connection.
    const sock = new zmq.Router({ linger: 0 });
    await sock.bind('tcp://127.0.0.1:*');
    const connections: string[] = [];
    const held: Buffer[][] = [];
    const loop = (async () => {
      try {
        for await (const frames of sock) {
          const { envelope, body } = split(frames);
          if (body === undefined) continue;
          connections.push(frames[0]?.toString('hex') ?? '');
          if (body.toString() === 'slow') {
            held.push([...envelope, Buffer.from('late reply to slow')]);
            continue;
          }
          for (const msg of held.splice(0)) await sock.send(msg);
          await sock.send([...envelope, Buffer.from(`re: ${body.toString()}`)]);
        }
      } catch {
        // closed
      }
    })();
    const client = new Client({ endpoint: sock.lastEndpoint ?? '', timeoutMs: 100, retries: 0 });
    try {
      await assert.rejects(client.request('slow'), { code: ErrorCode.Timeout });
      assert.deepEqual((await client.request('fast')).map(String), ['re: fast'], 'the late reply to "slow" came first and was thrown away');
      assert.equal(connections.length, 2);
      assert.equal(connections[0], connections[1], 'both requests came over one connection');
    } finally {
      await client.close();
      sock.close();
      await loop;
    }
  });

  it('a second timeout in a row with nothing heard opens a new connection (one that died without a word)', async () => {
    const sock = new zmq.Router({ linger: 0 });
    await sock.bind('tcp://127.0.0.1:*');
    const connections: string[] = [];
    const loop = (async () => {
      try {
        for await (const frames of sock) if (split(frames).body !== undefined) connections.push(frames[0]?.toString('hex') ?? '');
      } catch {
        // closed
      }
    })();
    const client = new Client({ endpoint: sock.lastEndpoint ?? '', timeoutMs: 100, retries: 3 });
    try {
      await assert.rejects(client.request('never answered'), { code: ErrorCode.RetriesExhausted });
      // Attempts 1 and 2 on the first connection; 3 on a new one, kept once; 4 on a third.
      assert.equal(connections.length, 4);
      assert.equal(connections[0], connections[1]);
      assert.notEqual(connections[1], connections[2]);
      assert.equal(connections[2], connections[3]);
    } finally {
      await client.close();
      sock.close();
      await loop;
    }
  });

  it('rejects a bad request body and bad options with a code', async () => {
    const client = new Client({ endpoint: 'tcp://127.0.0.1:1' });
    try {
      await assert.rejects(client.request([]), { code: ErrorCode.InvalidOption });
      await assert.rejects(client.request('x', { timeoutMs: -1 }), { code: ErrorCode.InvalidOption, message: /"timeoutMs"/ });
    } finally {
      await client.close();
    }
    assert.throws(() => new Client({ endpoint: 'tcp://host' }), { code: ErrorCode.InvalidEndpoint });
  });
});
