/**
 * Ending a worker thread without taking the process down with it.
 *
 * zeromq.js aborts the whole process when a thread ends while one of its
 * sockets has a receive (or send) pending: the cleanup settles that promise
 * in an environment that can no longer run JavaScript, and the C++ exception
 * this raises ends in `std::terminate`. A worker is mid-receive whenever it
 * has a free slot, so terminating one is safe only once its sockets are
 * closed, and a thread stuck in a synchronous loop cannot close them itself.
 *
 * The inspector can: it interrupts even a busy loop to evaluate an
 * expression on that thread. `closeSocketsOf` has the thread run its own
 * destroy hook (`DESTROY_HOOK`, set by src/serve/worker.ts), which closes every
 * socket it opened; then `worker.terminate()` is safe. A thread that does
 * not answer (stuck inside a native call) is reported as such, and the
 * caller terminates it anyway: there is nothing better left to do.
 */

/** The global a worker thread sets to a function that closes all its sockets at once. */
export const DESTROY_HOOK = 'zqueue.worker.destroy';

export type Reaped =
  /** The thread closed its sockets (the count it reports). */
  | { readonly kind: 'closed'; readonly sockets: number }
  /** The thread runs another task now (see closeSocketsOf's `task`): it is not to be ended. */
  | { readonly kind: 'moved-on' }
  /** The thread did not answer in time, or the inspector is not available. */
  | { readonly kind: 'unreachable'; readonly reason: string };

interface WorkerAttached {
  readonly params: { readonly sessionId: string; readonly workerInfo: { readonly workerId: string; readonly title: string } };
}
interface WorkerMessage {
  readonly params: { readonly sessionId: string; readonly message: string };
}

const expression = (task: string | undefined): string =>
  `(() => { const f = globalThis[Symbol.for(${JSON.stringify(DESTROY_HOOK)})]; return typeof f === 'function' ` +
  `? f(${task === undefined ? '' : JSON.stringify(task)}) : -1; })()`;

/**
 * Has worker thread `threadId` (worker_threads' id) close its sockets, even
 * if it is stuck in synchronous code; resolves within about `timeoutMs`.
 * With `task`, only if the thread still runs that task (the hook's argument).
 */
export async function closeSocketsOf(threadId: number, timeoutMs: number, task?: string): Promise<Reaped> {
  let inspector: typeof import('node:inspector');
  try {
    inspector = await import('node:inspector');
  } catch (err) {
    return { kind: 'unreachable', reason: `no inspector in this Node.js build (${err instanceof Error ? err.message : String(err)})` };
  }
  const session = new inspector.Session();
  const post = (method: string, params: object): Promise<unknown> =>
    new Promise((resolve, reject) =>
      session.post(method, params, (err: Error | null, result?: unknown) => (err === null ? resolve(result) : reject(err))),
    );
  let timer: NodeJS.Timeout | undefined;
  let sessionId: string | undefined;
  let settle!: (reaped: Reaped) => void;
  try {
    session.connect();
    const outcome = new Promise<Reaped>((resolve) => {
      settle = resolve;
      timer = setTimeout(() => resolve({ kind: 'unreachable', reason: `thread ${threadId} did not answer in ${timeoutMs} ms` }), timeoutMs);
      session.on('NodeWorker.attachedToWorker', (m: WorkerAttached) => {
        // The inspector numbers workers its own way; the title starts with the thread's id.
        if (!m.params.workerInfo.title.startsWith(`[worker ${threadId}]`) || sessionId !== undefined) return;
        sessionId = m.params.sessionId;
        const message = JSON.stringify({
          id: 1,
          method: 'Runtime.evaluate',
          params: { expression: expression(task), returnByValue: true },
        });
        post('NodeWorker.sendMessageToWorker', { sessionId, message }).catch((err: unknown) =>
          resolve({ kind: 'unreachable', reason: err instanceof Error ? err.message : String(err) }),
        );
      });
      session.on('NodeWorker.receivedMessageFromWorker', (m: WorkerMessage) => {
        if (m.params.sessionId !== sessionId) return;
        const reply = JSON.parse(m.params.message) as {
          id?: number;
          result?: { result?: { value?: unknown }; exceptionDetails?: { text?: string } };
        };
        if (reply.id !== 1) return;
        const value = reply.result?.result?.value;
        if (typeof value === 'number' && value >= 0) resolve({ kind: 'closed', sockets: value });
        else if (value === -2) resolve({ kind: 'moved-on' });
        else resolve({ kind: 'unreachable', reason: reply.result?.exceptionDetails?.text ?? `thread ${threadId} has no destroy hook` });
      });
      session.on('NodeWorker.detachedFromWorker', (m: { params: { sessionId: string } }) => {
        if (m.params.sessionId === sessionId) resolve({ kind: 'unreachable', reason: `thread ${threadId} ended` });
      });
    });
    // Attaches to every worker thread there is (without pausing any); ours answers above.
    await post('NodeWorker.enable', { waitForDebuggerOnStart: false });
    // The inspector reports every attached thread before it answers enable.
    if (sessionId === undefined) settle({ kind: 'unreachable', reason: `no worker thread ${threadId}` });
    return await outcome;
  } catch (err) {
    return { kind: 'unreachable', reason: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
    try {
      await post('NodeWorker.disable', {});
    } catch {
      // the session may be gone with the thread; nothing to undo then
    }
    session.disconnect();
  }
}
