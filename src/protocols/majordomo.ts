/**
 * Majordomo (RFC 7, MDP 0.1) and MMI (RFC 8), both sides of the device and
 * the worker's messages.
 *
 * Clients: `["", "MDPC01", service, body...]` both ways. Workers:
 * `["", "MDPW01", command, ...]`, commands READY (+ service), REQUEST and
 * REPLY (+ one client address frame, "", body...), HEARTBEAT and DISCONNECT.
 * The one client address frame the device gives a request is its id (4
 * bytes), which the reply brings back. A valid but unexpected command (READY
 * twice, REPLY from an unknown worker) gets DISCONNECT, as RFC 7 says; an
 * invalid one is counted and dropped. Services named `mmi.*` are the
 * broker's own (RFC 8): `mmi.service` answers 200 or 404, others 501.
 */
import {
  malformed,
  type OutgoingRequest,
  type PeerView,
  type ServerCodec,
  type ServerEvent,
  type WorkerCodec,
  type WorkerEvent,
} from './types.js';
import { zqueueServerCodec } from './zqueue.js';
import { EMPTY } from '../protocol.js';

export const MDP_CLIENT = Buffer.from('MDPC01');
export const MDP_WORKER = Buffer.from('MDPW01');
export const MDP = Object.freeze({
  READY: Buffer.from([0x01]),
  REQUEST: Buffer.from([0x02]),
  REPLY: Buffer.from([0x03]),
  HEARTBEAT: Buffer.from([0x04]),
  DISCONNECT: Buffer.from([0x05]),
});

/** `[id, "", "MDPW01", ...]`: a Majordomo worker's command. */
function isCommand(frames: readonly Buffer[]): boolean {
  const third = frames[2];
  return (frames[1] as Buffer).length === 0 && third !== undefined && third.length === MDP_WORKER.length && third.equals(MDP_WORKER);
}

const command = (worker: Buffer, verb: Buffer): Buffer[] => [worker, EMPTY, MDP_WORKER, verb];

export const majordomoCodec: WorkerCodec = {
  name: 'mdp',

  claims: (frames) => isCommand(frames),

  decode(frames: readonly Buffer[], peer: PeerView): WorkerEvent {
    const verb = frames[3];
    if (verb === undefined || verb.length !== 1) return malformed('a command that is not one byte');
    if (verb.equals(MDP.READY)) {
      const service = frames[4]?.toString();
      if (service === undefined || service === '')
        return { kind: 'malformed', reason: 'READY without a service', control: true, leave: peer.known, disconnect: true };
      if (peer.known) return { kind: 'ignored', control: true, leave: true, disconnect: true };
      if (service.startsWith('mmi.')) return { kind: 'ignored', control: true, leave: false, disconnect: true };
      return {
        kind: 'ready',
        service,
        joining: { credits: 1, heartbeats: true, batches: false, deadlines: false, packed: false, prefetch: false, protocol: 'mdp' },
        greet: false,
        reset: false,
      };
    }
    if (verb.equals(MDP.REPLY)) {
      if (!peer.known) return { kind: 'ignored', control: false, leave: false, disconnect: true };
      const address = frames[4];
      if (address === undefined || address.length !== 4 || frames[5]?.length !== 0)
        return malformed('a REPLY without its one client address');
      return { kind: 'replies', replies: [{ id: address.readUInt32BE(0), from: 6, to: frames.length }], disconnect: false };
    }
    if (verb.equals(MDP.HEARTBEAT)) return { kind: 'heartbeat', disconnectUnknown: true };
    if (verb.equals(MDP.DISCONNECT)) return { kind: 'bye' };
    return { kind: 'malformed', reason: 'an unknown command', control: false, leave: peer.known, disconnect: peer.known };
  },

  // Exactly one client address frame: the request's id, which the reply brings back.
  request(worker: Buffer, r: OutgoingRequest): Buffer[] {
    const id = Buffer.allocUnsafe(4);
    id.writeUInt32BE(r.id, 0);
    return [worker, EMPTY, MDP_WORKER, MDP.REQUEST, id, EMPTY, ...r.frames.slice(r.bodyAt)];
  },

  heartbeat: (worker) => command(worker, MDP.HEARTBEAT),
  disconnect: (worker) => command(worker, MDP.DISCONNECT),
};

export { isCommand as isMajordomoCommand };

// ---------------------------------------------------------------- the client's side, at the device

/** A client message whose body starts with "MDPC01". */
export function isClientRequest(frames: readonly Buffer[], bodyAt: number): boolean {
  const f = frames[bodyAt];
  return f !== undefined && f.length === MDP_CLIENT.length && f.equals(MDP_CLIENT);
}

/** A Majordomo client request, read at the device. */
export type ClientRequest =
  | {
      readonly kind: 'request';
      readonly service: string;
      /** The request as workers see it: the envelope, then the body without the MDP header. */ readonly frames: Buffer[];
    }
  /** An MMI query (RFC 8), answered by the device: `reply` is the message to send. */
  | { readonly kind: 'mmi'; readonly reply: Buffer[] }
  | { readonly kind: 'malformed' };

/** Reads `[envelope..., "MDPC01", service, body...]`; `offered` says whether a service has workers (for MMI). */
export function clientRequest(frames: readonly Buffer[], bodyAt: number, offered: (service: string) => boolean): ClientRequest {
  const serviceFrame = frames[bodyAt + 1];
  if (serviceFrame === undefined) return { kind: 'malformed' };
  const service = serviceFrame.toString();
  const envelope = frames.slice(0, bodyAt);
  if (service.startsWith('mmi.')) {
    const asked = frames[bodyAt + 2]?.toString() ?? '';
    const code = service === 'mmi.service' ? (offered(asked) ? '200' : '404') : '501';
    return { kind: 'mmi', reply: [...envelope, MDP_CLIENT, serviceFrame, Buffer.from(code)] };
  }
  return { kind: 'request', service, frames: [...envelope, ...frames.slice(bodyAt + 2)] };
}

/** The head a reply to a Majordomo client gets after its envelope: `["MDPC01", service]`. */
export function clientReplyHead(service: string): Buffer[] {
  return [MDP_CLIENT, Buffer.from(service)];
}

// ---------------------------------------------------------------- the worker's side

export const workerMessages = {
  ready: (service: Buffer): Buffer[] => [EMPTY, MDP_WORKER, MDP.READY, service],
  heartbeat: (): Buffer[] => [EMPTY, MDP_WORKER, MDP.HEARTBEAT],
  disconnect: (): Buffer[] => [EMPTY, MDP_WORKER, MDP.DISCONNECT],
  /** What a reply starts with; then the request's one client address, "", and the body. */
  replyHead: [EMPTY, MDP_WORKER, MDP.REPLY] as readonly Buffer[],
};

/** A device's message to a Majordomo worker. */
export type DeviceMessage =
  | {
      readonly kind: 'request';
      /** `[address, ""]`: what its reply goes back along. */ readonly envelope: Buffer[];
      readonly body: Buffer[];
    }
  | { readonly kind: 'heartbeat' }
  | { readonly kind: 'disconnect' }
  | { readonly kind: 'malformed' }
  /** Not a Majordomo command. */
  | { readonly kind: 'other' };

export function fromDevice(frames: readonly Buffer[]): DeviceMessage {
  if (frames[0]?.length !== 0 || frames[1]?.equals(MDP_WORKER) !== true) return { kind: 'other' };
  const verb = frames[2];
  if (verb?.equals(MDP.REQUEST) === true) {
    const address = frames[3];
    if (address === undefined || frames[4]?.length !== 0) return { kind: 'malformed' };
    return { kind: 'request', envelope: [address, EMPTY], body: frames.slice(5) };
  }
  if (verb?.equals(MDP.HEARTBEAT) === true) return { kind: 'heartbeat' };
  if (verb?.equals(MDP.DISCONNECT) === true) return { kind: 'disconnect' };
  return { kind: 'malformed' };
}

/**
 * Majordomo (RFC 7) at a worker offering `service`: READY names the service,
 * requests come one at a time with one client address, and a reply goes back
 * as REPLY. A message that is not a Majordomo command (a plain request from a
 * device that knows no workers) is read as zqueue's codec reads it.
 */
export function majordomoServerCodec(service: string): ServerCodec {
  const name = Buffer.from(service);
  return {
    name: 'mdp',
    ready: () => workerMessages.ready(name),
    heartbeat: () => workerMessages.heartbeat(),
    leave: () => workerMessages.disconnect(),
    decode(frames: Buffer[], announces: boolean): ServerEvent {
      if (!announces) return zqueueServerCodec.decode(frames, false);
      const m = fromDevice(frames);
      switch (m.kind) {
        case 'other':
          return zqueueServerCodec.decode(frames, true);
        case 'request':
          return { kind: 'request', envelope: m.envelope, body: m.body, head: workerMessages.replyHead, budgetMs: 0 };
        case 'disconnect':
          return { kind: 'disconnect', why: 'the device asked (Majordomo DISCONNECT)' };
        default:
          return m;
      }
    },
  };
}
