/**
 * Everything a counting engine sends to its clients goes through here: a
 * server's reply relayed, an error reply the device makes, the batched
 * wire's HELLO and reply batches. Each is counted (counters.ts), published
 * on the tap, and written to the frontend without waiting.
 */
import { EMPTY, delimiterIndex, errorFrame, type ErrorKind } from '../protocol.js';
import { TAP_OUT, type Tap } from '../tap.js';
import { size, type Writer } from '../writer.js';
import type { Counters } from './counters.js';

export class ClientAnswers {
  constructor(
    private readonly counters: Counters,
    private readonly frontWriter: Writer,
    private readonly tap: Tap | undefined,
  ) {}

  /** A message to a client (its envelope first): counted, tapped and sent. */
  send(message: Buffer[]): void {
    this.counters.front.messagesOut++;
    this.counters.front.bytesOut += size(message);
    this.tap?.publish(TAP_OUT, message);
    void this.frontWriter.send(message);
  }

  /** A server's reply relayed to its client: answered, and counted by kind when it is an error reply. */
  relay(reply: Buffer[], arrivedAt: number | undefined, now?: number): void {
    this.counters.countReply(reply[reply.length - 1], arrivedAt, now);
    this.send(reply);
  }

  /** Answers a client's request (`frames`: envelope, delimiter, body) with an error reply. */
  reject(frames: readonly Buffer[], kind: ErrorKind, message: string): void {
    const d = delimiterIndex(frames);
    if (d < 0) return;
    this.error([...frames.slice(0, d), EMPTY], kind, message);
  }

  /** Sends `[...head, errorFrame]` (head: the envelope, and any protocol header) and counts the kind. */
  error(head: readonly Buffer[], kind: ErrorKind, message: string): void {
    this.counters.countKind(kind);
    this.send([...head, errorFrame(kind, message)]);
  }
}
