/**
 * The retry storm's clients, in a process of their own, as in
 * production (`zqueue serve` in one process, its clients in another). Hundreds of client
 * loops in the device's own process would take turns on its event loop, and
 * the device would be measured slower than it is.
 *
 * The parent forks this module with `{ kind, endpoint, timeoutMs, clients }`
 * as JSON in argv[2] and talks over the IPC channel:
 * - parent `record` → child starts counting, answers `recording`;
 * - parent `stop-record` → child stops counting, answers `tally`;
 * - parent `stop` → child ends every loop, closes its sockets, answers `done`, exits.
 */
import { performance } from 'node:perf_hooks';
import * as zmq from 'zeromq';
import { Client } from '../../src/client.js';
import { connectTo } from '../../src/endpoints.js';
import { parseErrorReply } from '../../src/protocol.js';
import { createHistogram, record, summarize } from '../../src/latency.js';

/**
 * `req`: a REQ socket, a new one after each timeout; `dealer`: a DEALER that
 * tags each request with an id frame (`[id, "", body]`); `plain`: a DEALER that
 * sends `["", body]` as a REQ would, no id and no deadline, the same socket
 * after a timeout (the zguide's plain asynchronous client; here its replies
 * are matched by their echoed body, which the device cannot read); `zqueue`:
 * the zqueue Client.
 */
export const STORM_CLIENTS = ['req', 'dealer', 'plain', 'zqueue'] as const;
export type StormClient = (typeof STORM_CLIENTS)[number];

export interface StormClientsSpec {
  readonly kind: StormClient;
  readonly endpoint: string;
  readonly timeoutMs: number;
  readonly clients: number;
}

/** What the clients saw while counting. */
export interface StormTally {
  readonly inTime: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly inTimeP99Us: number;
}

export type ToClients = { readonly type: 'record' } | { readonly type: 'stop-record' } | { readonly type: 'stop' };
export type FromClients =
  { readonly type: 'recording' } | { readonly type: 'tally'; readonly tally: StormTally } | { readonly type: 'done' };

interface Tally {
  inTime: number;
  errors: number;
  timeouts: number;
  readonly latency: ReturnType<typeof createHistogram>;
}

/** One Lazy Pirate client until `stopped()`; what it sees goes to the tally while one is given. */
async function clientLoop(
  kind: StormClient,
  endpoint: string,
  timeoutMs: number,
  n: number,
  stopped: () => boolean,
  tally: () => Tally | undefined,
): Promise<void> {
  // Clients start spread over one timeout, not in one burst.
  await new Promise((r) => setTimeout(r, (n * 7919) % timeoutMs));
  if (kind === 'zqueue') return zqueueLoop(endpoint, timeoutMs, stopped, tally);
  const body = Buffer.from(`client ${n}`);
  const plain = kind === 'plain';
  let seq = 0;
  const open = (): zmq.Request | zmq.Dealer => {
    const s =
      kind === 'req' ? new zmq.Request({ linger: 0, receiveTimeout: timeoutMs }) : new zmq.Dealer({ linger: 0, receiveTimeout: timeoutMs });
    connectTo(s, endpoint); // again on EINTR (a profiler's signal)
    return s;
  };
  let socket = open();
  try {
    while (!stopped()) {
      const t0 = performance.now();
      const tag = Buffer.alloc(4);
      tag.writeUInt32BE(++seq);
      // A plain DEALER's request carries its sequence in its body: the echo says which request a reply answers.
      const plainBody = plain ? Buffer.from(`${body.toString()} #${seq}`) : body;
      try {
        if (socket instanceof zmq.Request) await socket.send(body);
        else if (plain) await socket.send([Buffer.alloc(0), plainBody]);
        else await socket.send([tag, Buffer.alloc(0), body]);
        for (;;) {
          const reply = await socket.receive();
          // A DEALER's late reply to an earlier attempt: thrown away, keep waiting for this one.
          // (A plain one's reply is ["", "done", body], or an error reply ["", "ZQ-ERROR …"], which says nothing of which request it answers.)
          const late =
            socket instanceof zmq.Dealer &&
            (plain
              ? parseErrorReply(reply.slice(1)) === undefined && !(reply[2]?.equals(plainBody) ?? false)
              : !(reply[0]?.equals(tag) ?? false));
          if (late) {
            socket.receiveTimeout = Math.max(1, Math.round(timeoutMs - (performance.now() - t0)));
            continue;
          }
          const t = tally();
          const body0 = socket instanceof zmq.Dealer ? reply.slice(plain ? 1 : 2) : reply;
          if (t !== undefined) {
            if (parseErrorReply(body0) !== undefined) t.errors++;
            else {
              t.inTime++;
              record(t.latency, (performance.now() - t0) * 1000);
            }
          }
          break;
        }
        if (socket instanceof zmq.Dealer) socket.receiveTimeout = timeoutMs;
      } catch (err) {
        if ((err as { code?: string }).code !== 'EAGAIN') throw err;
        const t = tally();
        if (t !== undefined) t.timeouts++;
        if (socket instanceof zmq.Request) {
          socket.close();
          socket = open();
        } else socket.receiveTimeout = timeoutMs;
      }
    }
  } finally {
    socket.close();
  }
}

async function zqueueLoop(endpoint: string, timeoutMs: number, stopped: () => boolean, tally: () => Tally | undefined): Promise<void> {
  const client = new Client({ endpoint, timeoutMs, retries: 0 });
  try {
    while (!stopped()) {
      const t0 = performance.now();
      try {
        await client.request('storm');
        const t = tally();
        if (t !== undefined) {
          t.inTime++;
          record(t.latency, (performance.now() - t0) * 1000);
        }
      } catch (err) {
        const t = tally();
        if (t === undefined) continue;
        if ((err as { code?: string }).code === 'ERR_ZQ_TIMEOUT') t.timeouts++;
        else t.errors++;
      }
    }
  } finally {
    await client.close();
  }
}

function send(m: FromClients): void {
  process.send?.(m);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as StormClientsSpec;
  const tally: Tally = { inTime: 0, errors: 0, timeouts: 0, latency: createHistogram() };
  let recording = false;
  let stopped = false;
  const loops = Array.from({ length: spec.clients }, (_, i) =>
    clientLoop(
      spec.kind,
      spec.endpoint,
      spec.timeoutMs,
      i,
      () => stopped,
      () => (recording ? tally : undefined),
    ),
  );
  process.on('message', (m: ToClients) => {
    if (m.type === 'record') {
      recording = true;
      send({ type: 'recording' });
    } else if (m.type === 'stop-record') {
      recording = false;
      send({
        type: 'tally',
        tally: { inTime: tally.inTime, errors: tally.errors, timeouts: tally.timeouts, inTimeP99Us: summarize(tally.latency).p99_us },
      });
    } else {
      stopped = true;
      Promise.all(loops).then(
        () => {
          send({ type: 'done' });
          process.disconnect();
        },
        (err: unknown) => {
          process.stderr.write(`storm-clients: ${String(err)}\n`);
          process.exitCode = 1;
          process.disconnect();
        },
      );
    }
  });
}
