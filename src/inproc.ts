/**
 * Frames of any size between threads over inproc.
 *
 * zeromq.js sends a Buffer frame over 128 bytes without copying: libzmq is
 * handed the sending isolate's own memory (src/outgoing_msg.cc,
 * `zero_copy_threshold`), and a receiver over inproc, in another thread's
 * isolate, wraps that very memory in an external Buffer
 * (src/incoming_msg.cc). One isolate's memory then lives on in another;
 * under load the process aborts ("free(): corrupted unsorted chunks",
 * reproduced by scripts/inproc-check.ts without --codec). tcp and ipc copy through the
 * kernel and are not affected.
 *
 * A string frame takes another path in zeromq.js: it is copied into a
 * `std::string` on the C++ heap, which libzmq frees with a plain `delete`
 * wherever the message ends. No isolate's memory crosses. So over inproc,
 * zqueue sends every frame over 128 bytes as a latin1 string (one byte per
 * char: lossless), which zeromq.js writes as UTF-8, and the receiver turns
 * every frame over 128 bytes back with `transcode(utf8 → latin1)`. The rule
 * needs no marker: a frame over 128 bytes grows or stays the same in UTF-8,
 * and one of 128 bytes or less goes as a Buffer, which zeromq.js copies.
 * Both ends of an inproc link must speak it; every zqueue socket does,
 * through a Link (below), which owns the rule. test/inproc-guard checks that the
 * installed zeromq.js still has the threshold and the string path this
 * relies on.
 */
import { transcode } from 'node:buffer';
import { INPROC_MAX_FRAME } from './endpoints.js';

export type Frame = Buffer | string;

/** The frames as they go onto an inproc socket: those over INPROC_MAX_FRAME bytes as latin1 strings. */
export function toInproc(frames: readonly Buffer[]): Frame[] {
  let i = 0;
  for (; i < frames.length; i++) if ((frames[i] as Buffer).length > INPROC_MAX_FRAME) break;
  if (i === frames.length) return frames as Buffer[];
  const out: Frame[] = frames.slice(0, i);
  for (; i < frames.length; i++) {
    const f = frames[i] as Buffer;
    out.push(f.length > INPROC_MAX_FRAME ? f.toString('latin1') : f);
  }
  return out;
}

/** The frames as they came off an inproc socket: those over INPROC_MAX_FRAME bytes back from UTF-8 to their bytes. */
export function fromInproc(frames: Buffer[]): Buffer[] {
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i] as Buffer;
    if (f.length > INPROC_MAX_FRAME) frames[i] = transcode(f, 'utf8', 'latin1');
  }
  return frames;
}

/** Whether an endpoint is inproc, where the codec applies. */
export function isInproc(endpoint: string): boolean {
  return endpoint.startsWith('inproc://');
}

/** What a Link needs of a zeromq.js socket. */
interface FrameSocket {
  receive(): Promise<Buffer[]>;
  send(message: Frame[]): Promise<void>;
}

/**
 * A socket with its link's encoding, so that no caller writes the rule
 * itself: on an inproc endpoint (between threads), `send` and `encode` turn
 * frames over 128 bytes into strings and `receive` turns them back; on any
 * other, frames pass as they are. `strings` false: a link whose other end is
 * libzmq's own proxy (engine native), which passes frames on untouched to
 * peers that do not decode them.
 */
export class Link<S extends FrameSocket> {
  readonly inproc: boolean;
  /** What a message becomes on this socket (for a Writer). */
  readonly encode: (frames: Buffer[]) => Frame[];

  constructor(
    readonly socket: S,
    endpoint: string | readonly string[],
    strings = true,
  ) {
    this.inproc = strings && (typeof endpoint === 'string' ? isInproc(endpoint) : endpoint.some(isInproc));
    this.encode = this.inproc ? toInproc : (frames) => frames;
  }

  async receive(): Promise<Buffer[]> {
    const frames = await this.socket.receive();
    return this.inproc ? fromInproc(frames) : frames;
  }

  send(frames: Buffer[]): Promise<void> {
    return this.socket.send(this.encode(frames));
  }
}
