/**
 * What every worker protocol gives the least-busy engine: a codec with no
 * socket. It turns a worker's message into a typed event, and the engine's
 * intents (a request, a heartbeat, a disconnect) into messages. The engine
 * keeps the scheduling; the wire rules live in one module per protocol
 * (zqueue.ts, pirate.ts, majordomo.ts), registered in index.ts.
 *
 * Every message here is as the device's ROUTER sees it: the worker's routing
 * id first.
 */

/** The worker protocols the device speaks (the registry in index.ts has one codec for each). */
export type ProtocolName = 'zqueue' | 'ppp' | 'mdp';

/** How a worker joins: what it takes and what it speaks. */
export interface Joining {
  /** Requests it takes at once. */
  readonly credits: number;
  /** It heartbeats (or its protocol says both sides do): its silence will mean it is gone. */
  readonly heartbeats: boolean;
  /** It takes requests in batches (zqueue's worker protocol 2 and above). */
  readonly batches: boolean;
  /** Its requests carry their deadline (zqueue's worker protocol 3 and above). */
  readonly deadlines: boolean;
  /** It takes packed batches, bodies in a few frames (zqueue's worker protocol 4, src/protocols/pack.ts). */
  readonly packed: boolean;
  /** Requests may wait in its socket beyond its credits (prefetch): not for one-at-a-time protocols. */
  readonly prefetch: boolean;
  readonly protocol: ProtocolName;
}

/**
 * A reply in a worker's message: the request's id, and its body: `body`
 * where the codec read it out of a packed batch, else `frames[from..to)`;
 * `from` -1: it came without its envelope.
 */
export interface ReplySpan {
  readonly id: number;
  readonly from: number;
  readonly to: number;
  readonly body?: readonly Buffer[];
}

/** A worker's message, decoded. */
export type WorkerEvent =
  | {
      readonly kind: 'ready';
      /** The service it offers ('' : the default pool). */
      readonly service: string;
      readonly joining: Joining;
      /** Send a heartbeat back at once (when the device heartbeats), so it knows the device does. */
      readonly greet: boolean;
      /** What it held is lost with its old connection: retry or answer those first. */
      readonly reset: boolean;
    }
  | {
      readonly kind: 'replies';
      readonly replies: readonly ReplySpan[];
      /** Tell it that the device does not know it (it must say READY again). */
      readonly disconnect: boolean;
    }
  | {
      readonly kind: 'heartbeat';
      /** An unknown peer's heartbeat is answered with a disconnect (false: with silence). */
      readonly disconnectUnknown: boolean;
    }
  | { readonly kind: 'bye' }
  | {
      /** A message the device cannot use. `leave`: forget the worker; `disconnect`: tell it so. */
      readonly kind: 'malformed';
      readonly reason: string;
      /** A command (counted as control traffic as well as malformed). */
      readonly control: boolean;
      readonly leave: boolean;
      readonly disconnect: boolean;
    }
  | {
      /** A valid message the device ignores, perhaps with a disconnect (RFC 7: a REPLY from a worker it does not know). */
      readonly kind: 'ignored';
      readonly control: boolean;
      readonly leave: boolean;
      readonly disconnect: boolean;
    };

/** What a codec may ask about the peer whose message it decodes. */
export interface PeerView {
  /** The device knows it as a worker (it said READY and was not declared dead since). */
  readonly known: boolean;
  /** The one request it holds (one-at-a-time protocols check replies against it). */
  held(): OutgoingRequest | undefined;
}

/** A request as the device holds it: `frames[0..bodyAt)` is the client's envelope, the rest its body. */
export interface OutgoingRequest {
  readonly id: number;
  readonly frames: readonly Buffer[];
  readonly bodyAt: number;
  /** Its deadline (ms, performance.now()); 0: none. */
  readonly deadline: number;
}

export interface WorkerCodec {
  readonly name: ProtocolName;
  /**
   * Whether this message is this protocol's: for a peer the device does not
   * know, or one that speaks `known`. Codecs are asked in the registry's order.
   */
  claims(frames: readonly Buffer[], known: ProtocolName | undefined): boolean;
  decode(frames: readonly Buffer[], peer: PeerView): WorkerEvent;
  /** One request to a worker that takes them one at a time (a batching worker's go through its protocol's batch encoder). */
  request(worker: Buffer, request: OutgoingRequest, now: number): Buffer[];
  heartbeat(worker: Buffer): Buffer[];
  /** The device does not know this worker: it should reconnect. Undefined where the protocol has no such command (RFC 6). */
  disconnect(worker: Buffer): Buffer[] | undefined;
}

/** A malformed message: nothing else happens. */
export function malformed(reason: string, control = false): WorkerEvent {
  return { kind: 'malformed', reason, control, leave: false, disconnect: false };
}

/** Index of the first empty frame at or after `from`, or -1. */
export function emptyFrom(frames: readonly Buffer[], from: number): number {
  for (let i = from; i < frames.length; i++) if ((frames[i] as Buffer).length === 0) return i;
  return -1;
}

// ---------------------------------------------------------------- the server's side

/** One request or reply in a received batch: its id, where its body frames are, and its budget (ms; 0: none). */
export interface BatchEntry {
  readonly id: number;
  readonly start: number;
  readonly end: number;
  readonly budgetMs: number;
}

/** A request of a packed batch, as a worker reads it: its id, body, and budget (ms; 0: none). */
export interface PackedEntry {
  readonly id: number;
  readonly body: Buffer[];
  readonly budgetMs: number;
}

/** What a device sent a server, in any worker protocol: what the server's read loop acts on. */
export type ServerEvent =
  /** zqueue's REQUESTS batch: each entry's body lies in the message's frames. */
  | { readonly kind: 'requests'; readonly entries: readonly BatchEntry[] }
  /** zqueue's PACKED batch. */
  | { readonly kind: 'packed'; readonly entries: readonly PackedEntry[] }
  /** One request: its reply goes back as `[...head, ...envelope, ...reply]`. `budgetMs`: 0 when its client gave none. */
  | {
      readonly kind: 'request';
      readonly envelope: Buffer[];
      readonly body: Buffer[];
      readonly head: readonly Buffer[];
      readonly budgetMs: number;
    }
  | { readonly kind: 'heartbeat' }
  /** The device does not know this server: reconnect and say READY again (`why` goes to the log). */
  | { readonly kind: 'disconnect'; readonly why: string }
  | { readonly kind: 'malformed' }
  /** A control message this server has no use for. */
  | { readonly kind: 'ignored' };

/** A worker protocol as a server speaks it: what it says to its device, and how it reads what the device says. */
export interface ServerCodec {
  readonly name: ProtocolName;
  /** The first message on a connection. */
  ready(credits: number, heartbeatMs: number): Buffer[];
  heartbeat(): Buffer[];
  /** The last message: the device sends elsewhere what this server still holds. */
  leave(): Buffer[];
  /** `announces`: the server speaks the protocol (false: a plain REP-like server, bound or behind a device that knows no workers). */
  decode(frames: Buffer[], announces: boolean): ServerEvent;
}
