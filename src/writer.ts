/**
 * zeromq.js allows one send in flight per socket (a second one fails with
 * EBUSY). A Writer lets several producers share a socket: sends go out in
 * order, one at a time, and a failed send is reported, never thrown.
 *
 * A send on a closed socket is dropped before it reaches zeromq.js, which
 * would throw. On a worker thread being terminated a JavaScript exception
 * can no longer be thrown, and zeromq.js then throws a C++ one that aborts
 * the whole process: a handler that finishes after its server's sockets were
 * closed (src/serve/reaper.ts) must not get that far.
 */
import type * as zmq from 'zeromq';
import type { Frame } from './inproc.js';

export interface WriterOptions {
  /**
   * The socket's sendTimeout is 0: zeromq.js then sends at once or fails at
   * once (EAGAIN), and never leaves a send in flight, so sends need no queue
   * and go straight to the socket. Default false.
   */
  readonly immediate?: boolean;
  /** Turns a message into what goes on the socket (over inproc: see src/inproc.ts). Default: as it is. */
  readonly encode?: (frames: Buffer[]) => Frame[];
}

export class Writer {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private readonly immediate: boolean;
  private readonly encode: ((frames: Buffer[]) => Frame[]) | undefined;

  constructor(
    private readonly socket: zmq.Writable & { readonly closed: boolean },
    private readonly onError: (err: unknown) => void,
    options: WriterOptions = {},
  ) {
    this.immediate = options.immediate ?? false;
    this.encode = options.encode;
  }

  /** Messages accepted but not yet handed to libzmq. */
  get backlog(): number {
    return this.pending;
  }

  /** Queues a message; the promise settles once libzmq has it (it never rejects). */
  send(message: Buffer[]): Promise<void> {
    if (this.socket.closed) {
      this.onError(closedSocket());
      return Promise.resolve();
    }
    const frames = this.encode === undefined ? message : this.encode(message);
    if (this.immediate) {
      try {
        return this.socket.send(frames).then(undefined, this.onError);
      } catch (err) {
        // zeromq.js throws at once (not a rejection) on a closed socket.
        this.onError(err);
        return Promise.resolve();
      }
    }
    this.pending++;
    // zeromq.js throws at once (not a rejection) on a closed socket: make it one.
    const attempt = (): Promise<void> => {
      // Closed while this message waited its turn.
      if (this.socket.closed) return Promise.reject(closedSocket());
      try {
        return this.socket.send(frames);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    this.tail = (this.pending === 1 ? attempt() : this.tail.then(attempt)).then(this.done, this.fail);
    return this.tail;
  }

  private readonly done = (): void => {
    this.pending--;
  };

  private readonly fail = (err: unknown): void => {
    this.pending--;
    this.onError(err);
  };
}

/** What zeromq.js itself throws for a send on a closed socket (EBADF): callers tell a closed socket by that code. */
function closedSocket(): Error {
  return Object.assign(new Error('Socket is closed'), { code: 'EBADF', errno: 9 });
}

export function size(frames: readonly Buffer[]): number {
  let n = 0;
  for (const f of frames) n += f.length;
  return n;
}

/**
 * Calls `onEvent` for each event of the socket's observer, until the socket
 * closes (the observer then closes by itself; closing it first can wedge
 * libzmq's I/O thread). The promise settles once the observer is closed:
 * a thread must wait for it before it ends, since an open observer at thread
 * exit takes the whole process down (zeromq.js#411). It reads the observer
 * itself rather than use its emitter mode, whose internal loop leaves an
 * unhandled rejection behind when the socket closes.
 */
export async function watchEvents(socket: zmq.Socket, onEvent: (event: zmq.Event) => void): Promise<void> {
  try {
    for await (const event of socket.events) onEvent(event);
  } catch {
    // The observer or its socket closed.
  }
}
