/**
 * The worker protocols a least-busy device speaks, in the order a message is
 * offered to them: the first codec that claims it decodes it. Adding a
 * protocol: a module with a WorkerCodec (see types.ts), registered here, and
 * `isCommand` below taught its commands when one socket serves clients and
 * workers alike.
 */
import { majordomoCodec, majordomoServerCodec, isMajordomoCommand } from './majordomo.js';
import { pirateCodec, isPirateCommand } from './pirate.js';
import { zqueueCodec, zqueueServerCodec, isCommand as isZqueueCommand } from './zqueue.js';
import type { ProtocolName, ServerCodec, WorkerCodec } from './types.js';

export type {
  Joining,
  OutgoingRequest,
  PeerView,
  ProtocolName,
  ReplySpan,
  ServerCodec,
  ServerEvent,
  WorkerCodec,
  WorkerEvent,
} from './types.js';

/** Asked in this order; zqueue's claims whatever is left. */
export const WORKER_CODECS: readonly WorkerCodec[] = [majordomoCodec, pirateCodec, zqueueCodec];

const byName = new Map<ProtocolName, WorkerCodec>(WORKER_CODECS.map((c) => [c.name, c]));

/** The codec for a worker's message; `known`: the protocol the worker spoke so far, if the device knows it. */
export function codecFor(frames: readonly Buffer[], known: ProtocolName | undefined): WorkerCodec {
  for (const c of WORKER_CODECS) if (c.claims(frames, known)) return c;
  return zqueueCodec;
}

export function codecNamed(name: ProtocolName): WorkerCodec {
  return byName.get(name) ?? zqueueCodec;
}

/**
 * On one socket for clients and workers: whether a message is a worker's
 * (true) or a client's request. A worker's command in any protocol is a
 * worker's; so is anything else from a peer the device knows as a worker
 * that does not start like a request (a reply, whose second frame is not
 * empty).
 */
export function isWorkerMessage(frames: readonly Buffer[], knownWorker: boolean): boolean {
  const second = frames[1];
  if (second === undefined) return false;
  if (knownWorker && second.length !== 0) return true;
  return isMajordomoCommand(frames) || isPirateCommand(frames) || isZqueueCommand(frames);
}

/** The protocol a server speaks: Majordomo when it offers a service, zqueue's worker protocol otherwise. */
export function serverCodecFor(service: string): ServerCodec {
  return service === '' ? zqueueServerCodec : majordomoServerCodec(service);
}
