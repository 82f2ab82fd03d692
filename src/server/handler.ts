/** Handlers: loading a handler module, the seed's handler, and running one against a request with a time bound. */
import { randomInt } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { Handler } from '../options.js';
import { errorFrame, replyFrames } from '../protocol.js';

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

export type Outcome = { readonly kind: 'reply' | 'error' | 'timeout'; readonly frames: Buffer[] };

/**
 * Runs `handler` on a request's body: its reply's frames, or a `handler`
 * error reply when it throws or rejects, or a `timeout` one when an async
 * handler runs past `timeoutMs` (0: no bound; it is then abandoned).
 */
export async function runHandler(handler: Handler, body: Buffer[], timeoutMs: number): Promise<Outcome> {
  try {
    const result = handler(body);
    return { kind: 'reply', frames: replyFrames(isPromiseLike(result) ? await bounded(result, timeoutMs) : result) };
  } catch (err) {
    if (err === TIMED_OUT) return { kind: 'timeout', frames: [errorFrame('timeout', `the handler ran past ${timeoutMs} ms`)] };
    return { kind: 'error', frames: [errorFrame('handler', err instanceof Error ? err.message : String(err))] };
  }
}

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
