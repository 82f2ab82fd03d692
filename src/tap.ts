/**
 * The traffic tap: a copy of every request and reply the device relays,
 * published on a socket of its own, each message prefixed `in` (client to
 * device) or `out` (device to client), as pyzmq's MonitoredQueue does.
 *
 * The tap never slows the device: it is an XPUB with ZMQ_XPUB_NODROP and a
 * zero send timeout, so a send that would wait for a slow subscriber fails at
 * once (EAGAIN) and is counted as dropped instead of blocking or piling up.
 */
import './context.js';
import * as zmq from 'zeromq';
import { bindOrExplain } from './endpoints.js';
import { isSocketClosedError } from './errors.js';

export const TAP_IN = Buffer.from('in');
export const TAP_OUT = Buffer.from('out');

export interface TapStats {
  readonly endpoint: string;
  /** Messages handed to libzmq for the subscribers. */
  readonly published: number;
  /** Messages not published because a subscriber was full (its high-water mark reached). */
  readonly dropped: number;
  /** Subscriptions open now (one per subscriber that subscribed to everything, as `zqueue tap` does). */
  readonly subscriptions: number;
}

export class Tap {
  private published = 0;
  private dropped = 0;
  private subscriptions = 0;
  private closed = false;
  private readonly reader: Promise<void>;
  private readonly onFailed = (err: unknown): void => {
    if (this.closed || isSocketClosedError(err)) return;
    this.dropped++;
    this.published--;
  };

  private constructor(
    private readonly socket: zmq.XPublisher,
    readonly endpoint: string,
    private readonly onSubscriptions: (count: number) => void,
    private readonly unlink: () => void,
  ) {
    this.reader = this.readSubscriptions();
  }

  /**
   * Binds the tap's socket; `highWaterMark` is how many messages one
   * subscriber may lag by before drops. `onSubscriptions` hears each change in
   * the number of open subscriptions.
   */
  static async open(endpoint: string, highWaterMark: number, onSubscriptions: (count: number) => void = () => {}): Promise<Tap> {
    const socket = new zmq.XPublisher({
      noDrop: true,
      sendTimeout: 0,
      sendHighWaterMark: highWaterMark,
      linger: 0,
      verbosity: 'allSubsUnsubs',
    });
    let unlink: () => void;
    try {
      unlink = await bindOrExplain(socket, endpoint, 'tap');
    } catch (err) {
      socket.close();
      throw err;
    }
    return new Tap(socket, socket.lastEndpoint ?? endpoint, onSubscriptions, unlink);
  }

  /** Publishes `[prefix, ...frames]` now, or counts it dropped. Never waits, never throws. */
  publish(prefix: Buffer, frames: readonly Buffer[]): void {
    if (this.closed) return;
    this.published++;
    this.socket.send([prefix, ...frames]).catch(this.onFailed);
  }

  stats(): TapStats {
    return { endpoint: this.endpoint, published: this.published, dropped: this.dropped, subscriptions: this.subscriptions };
  }

  /** Closes the socket; resolves once its reader has ended. Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.socket.close();
      this.unlink();
    }
    return this.reader;
  }

  /** Subscription messages: a first byte of 1 subscribes, 0 unsubscribes. */
  private async readSubscriptions(): Promise<void> {
    try {
      for await (const [msg] of this.socket) {
        if (msg === undefined || msg.length === 0) continue;
        this.subscriptions += msg[0] === 1 ? 1 : msg[0] === 0 ? -1 : 0;
        this.onSubscriptions(this.subscriptions);
      }
    } catch {
      // closed
    }
  }
}

/** One tapped message in readable form: `in  [5] 0080004a11 | "" | "Hello"`. */
export function formatTapped(frames: readonly Buffer[]): string {
  const [prefix, ...rest] = frames;
  const dir = prefix?.toString('latin1') ?? '?';
  return `${dir.padEnd(3)} ${rest.map(showFrame).join(' | ')}`;
}

function showFrame(f: Buffer): string {
  if (f.length === 0) return '""';
  const printable = f.every((b) => b >= 0x20 && b < 0x7f);
  if (printable) return JSON.stringify(f.length > 200 ? `${f.toString('latin1', 0, 200)}…` : f.toString('latin1'));
  return `[${f.length}] ${f.subarray(0, 32).toString('hex')}${f.length > 32 ? '…' : ''}`;
}
