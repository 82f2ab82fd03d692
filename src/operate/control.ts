/**
 * Steering a running device without a restart, the way libzmq's steerable
 * proxy is steered, from three places:
 *
 * - the library: `pause()`, `resume()`, `drain()`, `close()` on a Device or Broker;
 * - signals: SIGUSR1 pauses intake, SIGUSR2 resumes it, SIGTERM/SIGINT drain then stop;
 * - a control socket (REP, bound to ipc or a loopback tcp address only) that
 *   takes one command per request and answers it:
 *
 *       pause    ->  "ok paused"
 *       resume   ->  "ok running"
 *       stats    ->  the statistics, as JSON
 *       stop     ->  "ok stopping" (then drains and stops)
 *       other    ->  "ZQ-ERROR bad-request: unknown command ..."
 *
 *   `zqueue ctl ENDPOINT COMMAND` sends one and prints the answer.
 */
import '../context.js';
import * as zmq from 'zeromq';
import { bindOrExplain, checkControlEndpoint, connectTo, parseEndpoint } from '../endpoints.js';
import { ErrorCode, ZqueueError, isSocketClosedError } from '../errors.js';
import { errorFrame, parseErrorReply } from '../protocol.js';
import { deviceOf, type Target } from './target.js';

export const CONTROL_COMMANDS = ['pause', 'resume', 'stats', 'stop'] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];

/** The control socket may only be reached from this host: ipc, or tcp on a loopback address. */
export { checkControlEndpoint } from '../endpoints.js';

export class ControlServer {
  private readonly loop: Promise<void>;
  private closed = false;

  private constructor(
    private readonly socket: zmq.Reply,
    readonly endpoint: string,
    private readonly target: Target,
    private readonly onStop: () => void,
    private readonly unlink: () => void,
  ) {
    this.loop = this.serve();
  }

  /** Binds the control socket. `onStop` is called after "stop" has been answered. */
  static async start(target: Target, endpoint: string, onStop: () => void): Promise<ControlServer> {
    checkControlEndpoint(endpoint);
    const socket = new zmq.Reply({ linger: 0, maxMessageSize: 4096 });
    let unlink: () => void;
    try {
      unlink = await bindOrExplain(socket, endpoint, 'control socket');
    } catch (err) {
      socket.close();
      throw err;
    }
    return new ControlServer(socket, socket.lastEndpoint ?? endpoint, target, onStop, unlink);
  }

  /** Stops answering. Idempotent. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.socket.close();
      this.unlink();
    }
    await this.loop;
  }

  /** Runs one command and returns its answer (an error frame for an unknown one). */
  execute(command: string): Buffer {
    const device = deviceOf(this.target);
    switch (command.trim().toLowerCase()) {
      case 'pause':
        device.pause();
        return Buffer.from(`ok ${device.stats().state}`);
      case 'resume':
        device.resume();
        return Buffer.from(`ok ${device.stats().state}`);
      case 'stats':
        return Buffer.from(JSON.stringify(this.target.stats()));
      case 'stop':
        queueMicrotask(this.onStop);
        return Buffer.from('ok stopping');
      default:
        return errorFrame('bad-request', `unknown command ${JSON.stringify(command.slice(0, 64))}; use ${CONTROL_COMMANDS.join(', ')}`);
    }
  }

  private async serve(): Promise<void> {
    try {
      for (;;) {
        const frames = await this.socket.receive();
        const reply =
          frames.length === 1
            ? this.execute(frames[0]?.toString('utf8') ?? '')
            : errorFrame('bad-request', 'a control command is one frame');
        await this.socket.send(reply);
      }
    } catch (err) {
      if (!this.closed && !isSocketClosedError(err)) throw err;
    }
  }
}

/** SIGUSR1 pauses intake, SIGUSR2 resumes it. Returns a function that removes the listeners. */
export function handlePauseSignals(target: Target): () => void {
  const pause = (): void => deviceOf(target).pause();
  const resume = (): void => deviceOf(target).resume();
  process.on('SIGUSR1', pause);
  process.on('SIGUSR2', resume);
  return () => {
    process.off('SIGUSR1', pause);
    process.off('SIGUSR2', resume);
  };
}

/**
 * Sends one command to a control socket and returns the answer's text.
 * Rejects with ERR_ZQ_TIMEOUT when nothing answers, or with the code of an
 * error answer (ERR_ZQ_BAD_REQUEST for an unknown command).
 */
export async function sendControl(endpoint: string, command: string, timeoutMs = 2000): Promise<string> {
  parseEndpoint(endpoint, 'connect');
  const socket = new zmq.Request({ linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs });
  try {
    connectTo(socket, endpoint);
    await socket.send(command);
    const frames = await socket.receive();
    const error = parseErrorReply(frames);
    if (error !== undefined) throw new ZqueueError(error.code, error.message);
    return frames.map((f) => f.toString('utf8')).join('\n');
  } catch (err) {
    if (err instanceof ZqueueError) throw err;
    if (typeof err === 'object' && err !== null && 'code' in err && err.code === 'EAGAIN') {
      throw new ZqueueError(ErrorCode.Timeout, `no answer from the control socket at ${endpoint} within ${timeoutMs} ms`, { cause: err });
    }
    throw err;
  } finally {
    socket.close();
  }
}
