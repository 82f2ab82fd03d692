/**
 * The fairness scenario's flood, in a process of its own (beside the good
 * clients' process, its thousands of sends and replies would take turns on
 * their event loop and be measured as the device's doing). One DEALER sends
 * `requests` at once, each tagged so that every reply says which it answers,
 * and reads every reply.
 *
 * The parent forks this module with `{ endpoint, requests, limitMs }` as JSON in
 * argv[2]: it answers `ready` once connected, floods on `go`, and answers
 * `done` with the tally when every request was answered (or `limitMs` passed).
 */
import { performance } from 'node:perf_hooks';
import * as zmq from 'zeromq';
import { connectTo } from '../../src/endpoints.js';
import { parseErrorReply } from '../../src/protocol.js';

export interface FloodSpec {
  readonly endpoint: string;
  readonly requests: number;
  readonly limitMs: number;
}

export interface FloodTally {
  readonly sent: number;
  readonly served: number;
  readonly busy: number;
  /** Requests with no answer when the flood ended (limitMs passed). */
  readonly unanswered: number;
  readonly duplicates: number;
  /** From the first send to the last answer. */
  readonly ms: number;
}

export type FromFlood = { readonly type: 'ready' } | { readonly type: 'done'; readonly tally: FloodTally };

async function flood(spec: FloodSpec, post: (m: FromFlood) => void, go: Promise<void>): Promise<void> {
  const dealer = new zmq.Dealer({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
  connectTo(dealer, spec.endpoint);
  // Answered when connected: a first request (tag 0xffffffff) goes through before the flood.
  await dealer.send([Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.alloc(0), Buffer.from('hello')]);
  await dealer.receive();
  post({ type: 'ready' });
  await go;
  const answered = new Uint8Array(spec.requests);
  let served = 0;
  let busy = 0;
  let duplicates = 0;
  let count = 0;
  const t0 = performance.now();
  const reading = (async () => {
    for await (const [tag, , ...body] of dealer) {
      const seq = tag?.readUInt32BE(0) ?? -1;
      if (seq < 0 || seq >= spec.requests || answered[seq] === 1) {
        duplicates++;
        continue;
      }
      answered[seq] = 1;
      if (parseErrorReply(body)?.kind === 'busy') busy++;
      else served++;
      if (++count === spec.requests) return;
    }
  })();
  for (let i = 0; i < spec.requests; i++) {
    const tag = Buffer.allocUnsafe(4);
    tag.writeUInt32BE(i, 0);
    await dealer.send([tag, Buffer.alloc(0), Buffer.from('flood')]);
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([reading, new Promise<void>((r) => (timer = setTimeout(r, spec.limitMs)))]);
  clearTimeout(timer);
  const ms = performance.now() - t0;
  dealer.close();
  await reading.catch(() => undefined);
  post({ type: 'done', tally: { sent: spec.requests, served, busy, unanswered: spec.requests - count, duplicates, ms: Math.round(ms) } });
}

if (process.send !== undefined && process.argv[2] !== undefined) {
  const spec = JSON.parse(process.argv[2]) as FloodSpec;
  const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
  void flood(spec, (m) => process.send?.(m), go).finally(() => process.disconnect());
}
