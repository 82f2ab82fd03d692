/**
 * The Paranoid Pirate Protocol (RFC 6), the device's side. A worker's READY
 * and either side's HEARTBEAT are one frame of one byte; requests and
 * replies are `[address..., "", body...]`, as a REP socket sees them. A
 * worker holds one request at a time, and its reply must carry that
 * request's address stack: anything else is not that request's reply
 * (late, made up, or for another request).
 */
import { emptyFrom, malformed, type OutgoingRequest, type PeerView, type WorkerCodec, type WorkerEvent } from './types.js';

export const PPP_READY = Buffer.from([0x01]);
export const PPP_HEARTBEAT = Buffer.from([0x02]);

/** A one-frame command: `[id, 0x0N]`. */
function isCommand(frames: readonly Buffer[]): boolean {
  return frames.length === 2 && (frames[1] as Buffer).length === 1;
}

/** Whether `reply`'s address stack (frames 1..d) is the request's (its frames before the delimiter at `bodyAt - 1`). */
function sameEnvelope(reply: readonly Buffer[], d: number, request: OutgoingRequest): boolean {
  if (d - 1 !== request.bodyAt - 1) return false;
  for (let i = 1; i < d; i++) if (!(reply[i] as Buffer).equals(request.frames[i - 1] as Buffer)) return false;
  return true;
}

export const pirateCodec: WorkerCodec = {
  name: 'ppp',

  // Once a peer speaks it, every message of its is this protocol's: its replies look like anything.
  claims: (frames, known) => known === 'ppp' || isCommand(frames),

  decode(frames: readonly Buffer[], peer: PeerView): WorkerEvent {
    if (frames.length === 2) {
      const verb = frames[1] as Buffer;
      if (verb.equals(PPP_READY)) {
        return {
          kind: 'ready',
          service: '',
          joining: { credits: 1, heartbeats: true, batches: false, deadlines: false, packed: false, prefetch: false, protocol: 'ppp' },
          greet: true,
          // Its own READY again after a reconnect: whatever it held is lost with its old connection.
          reset: peer.known && peer.held() !== undefined,
        };
      }
      // An unknown worker's heartbeat gets no answer: RFC 6 has no DISCONNECT, so it notices the silence and says READY again.
      if (verb.equals(PPP_HEARTBEAT)) return { kind: 'heartbeat', disconnectUnknown: false };
      if (verb.length === 1) return malformed('an unknown command', true);
    }
    const d = emptyFrom(frames, 1);
    if (d < 0) return malformed('a reply without an envelope');
    const request = peer.held();
    if (request === undefined) return malformed('a reply from a worker that holds no request');
    if (!sameEnvelope(frames, d, request)) return malformed("a reply whose address stack is not its request's");
    return { kind: 'replies', replies: [{ id: request.id, from: d + 1, to: frames.length }], disconnect: false };
  },

  // The request as a REP socket sees it, its address stack and all.
  request: (worker: Buffer, r: OutgoingRequest) => [worker, ...r.frames],
  heartbeat: (worker) => [worker, PPP_HEARTBEAT],
  disconnect: () => undefined,
};

export { isCommand as isPirateCommand };
