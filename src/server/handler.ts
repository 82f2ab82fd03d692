/** Handlers: loading a handler module, the seed's handler, and running one against a request with a time bound. */
import { randomInt } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { Handler, RequestContext } from '../options.js';
import { errorFrame, replyFrames, type Reply } from '../protocol.js';

/** Loads a handler module: its default export handles a request. Rejects with a message naming the file. */
export async function loadHandler(path: string): Promise<Handler> {
  let mod: unknown;
  try {
    mod = await import(pathToFileURL(path).href);
  } catch (err) {
    throw new Error(`cannot load handler ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const handler = (mod as { default?: unknown }).default;
  if (typeof handler !== 'function') {
    throw new Error(`handler ${path} has no default export function (export default (request) => reply)`);
  }
  return handler as Handler;
}

/** The seed's server: prints each request, waits `delayMs`, answers "World from server <id>". */
export function seedHandler(delayMs: number, id = randomInt(1, 10005), log: (line: string) => void = console.log): Handler {
  return async (request) => {
    log(`Received request:  ${request.map((f) => f.toString()).join(' ')}`);
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    return `World from server ${id}`;
  };
}

/** The longest delay a Node.js timer takes (2^31 - 1 ms); a longer one fires at once, with a TimeoutOverflowWarning. */
export const MAX_TIMER_MS = 0x7fff_ffff;

export type Outcome = { readonly kind: 'reply' | 'error' | 'timeout' | 'expired'; readonly frames: Buffer[] };

/** A handler's context; its AbortController and timer are made only if the handler reads `signal`. */
class Context implements RequestContext {
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly deadline: number | undefined) {}

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.deadline !== undefined) {
        const left = this.deadline - Date.now();
        // Already past: aborted before the handler looks. Past what a timer holds (about 24.8 days): no timer at all.
        if (left <= 0) this.controller.abort(new Error('the deadline passed'));
        else if (left <= MAX_TIMER_MS) {
          this.timer = setTimeout(() => this.abort('the deadline passed'), left);
          this.timer.unref();
        }
      }
    }
    return this.controller.signal;
  }

  abort(why: string): void {
    clearTimeout(this.timer);
    this.controller?.abort(new Error(why));
  }

  end(): void {
    clearTimeout(this.timer);
  }
}

/**
 * Runs `handler` on a request's body: its reply's frames, or a `handler`
 * error reply when it throws or rejects, or a `timeout` one when an async
 * handler runs past `timeoutMs` (0: no bound; it is then abandoned and its
 * signal aborted). A request whose `deadline` (ms since the epoch) has
 * passed is not run at all (`expired`: its client has stopped waiting).
 * A handler that returns at once (not a promise) has its outcome at once,
 * with no promise made.
 */
export function startHandler(handler: Handler, body: Buffer[], timeoutMs: number, deadline?: number): Outcome | Promise<Outcome> {
  if (deadline !== undefined && deadline <= Date.now()) return EXPIRED;
  const context = new Context(deadline);
  let result: ReturnType<Handler>;
  try {
    result = handler(body, context);
    if (!isPromiseLike(result)) return { kind: 'reply', frames: replyFrames(result) };
  } catch (err) {
    return failed(err);
  } finally {
    if (!isPromiseLike(result!)) context.end();
  }
  return settle(result, context, timeoutMs);
}

async function settle(result: Promise<Reply>, context: Context, timeoutMs: number): Promise<Outcome> {
  try {
    return { kind: 'reply', frames: replyFrames(await bounded(result, timeoutMs)) };
  } catch (err) {
    if (err === TIMED_OUT) {
      context.abort(`the handler ran past ${timeoutMs} ms`);
      return { kind: 'timeout', frames: [errorFrame('timeout', `the handler ran past ${timeoutMs} ms`)] };
    }
    return failed(err);
  } finally {
    context.end();
  }
}

function failed(err: unknown): Outcome {
  return { kind: 'error', frames: [errorFrame('handler', err instanceof Error ? err.message : String(err))] };
}

/** startHandler's outcome, always as a promise. */
export async function runHandler(handler: Handler, body: Buffer[], timeoutMs: number, deadline?: number): Promise<Outcome> {
  return startHandler(handler, body, timeoutMs, deadline);
}

/** The reply to a request whose deadline passed before its handler could start: nobody waits for it. */
const EXPIRED: Outcome = Object.freeze({
  kind: 'expired',
  frames: [errorFrame('timeout', 'the deadline passed before the handler started')],
});

const TIMED_OUT = new Error('handler timed out');

function bounded<T>(result: Promise<T>, ms: number): Promise<T> {
  if (ms === 0) return result;
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    result,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(TIMED_OUT), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
