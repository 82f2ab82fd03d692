/**
 * Lifecycle logs: one line per event that changes what the device is doing
 * (bound, paused, resumed, draining, closed, a worker joined, left or was
 * replaced), never one per request. `text` is for people, `json` for log
 * shippers (one object per line, with `time`, `level`, `event`).
 */
import type { Broker } from '../serve/broker.js';
import type { Device } from '../device/device.js';
import { LOG_FORMATS, oneOf, type LogFormat } from '../options.js';
import { displayId } from '../protocol.js';

export { LOG_FORMATS, type LogFormat } from '../options.js';
export type LogLevel = 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export class Logger {
  readonly format: LogFormat;

  constructor(
    format: LogFormat = 'text',
    private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
    private readonly now: () => Date = () => new Date(),
  ) {
    oneOf('logFormat', format, LOG_FORMATS);
    this.format = format;
  }

  log(event: string, fields: LogFields = {}, level: LogLevel = 'info'): void {
    const time = this.now().toISOString();
    if (this.format === 'json') {
      this.write(JSON.stringify({ time, level, event, ...fields }));
      return;
    }
    const rest = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'string' && /[\s"=]/.test(v) ? JSON.stringify(v) : String(v)}`);
    this.write([time, level === 'info' ? 'zqueue' : `zqueue ${level.toUpperCase()}`, event, ...rest].join(' '));
  }
}

/**
 * Logs a device's (and a broker's workers') lifecycle events until the
 * returned function is called. Logs "bound" at once if the device is running,
 * or when it starts if it has not yet (attach before start(): no worker's
 * arrival is missed).
 */
export function logLifecycle(logger: Logger, device: Device, broker?: Broker): () => void {
  const bound = (): void => {
    const s = device.stats();
    const balanced = s.policy === 'least-busy';
    logger.log('bound', {
      frontend: s.frontend,
      backend: s.backend,
      engine: s.engine,
      policy: s.policy,
      // The settings that shape least-busy's speed, as they are in force (not as a flag said).
      prefetch: balanced ? device.options.prefetch : undefined,
      maxQueued: balanced ? device.options.maxQueued : undefined,
      tap: s.counted ? s.tap?.endpoint : undefined,
    });
  };
  const initial = device.stats().state;
  let started = initial === 'running' || initial === 'paused';
  if (started) bound();
  const onState = (state: string): void => {
    if (!started && state === 'running') {
      started = true;
      bound();
      return;
    }
    const event = state === 'closing' ? 'draining' : state === 'running' ? 'resumed' : state;
    logger.log(event, state === 'closing' ? { inFlight: device.inFlight } : {});
  };
  const onWorker = (count: number, id: string): void => logger.log('worker-joined', { worker: displayId(id), workers: count });
  const onLeft = (id: string, orphans: number): void =>
    logger.log('worker-left', { worker: displayId(id), requests: orphans }, orphans > 0 ? 'warn' : 'info');
  const onTimeout = (id: string): void => logger.log('worker-timed-out', { worker: displayId(id) }, 'warn');
  const onError = (err: Error): void => logger.log('error', { message: err.message }, 'error');
  const onTap = (count: number): void => logger.log('tap-subscriptions', { count });
  // Out of descriptors, libzmq fails every accept it tries: one line a second at most, with the count since the last.
  let refusedSince = 0;
  let lastRefusalLog = -Infinity;
  const onAcceptFailed = (side: string, code: string): void => {
    refusedSince++;
    const now = performance.now();
    if (now - lastRefusalLog < 1000) return;
    lastRefusalLog = now;
    logger.log(
      'accept-failed',
      {
        side,
        code,
        count: refusedSince,
        hint:
          code === 'EMFILE' ? 'out of file descriptors: raise ulimit -n, or lower --handshake-timeout to cut idle connections sooner' : '',
      },
      'warn',
    );
    refusedSince = 0;
  };
  device.on('accept-failed', onAcceptFailed);
  device.on('state', onState);
  device.on('worker', onWorker);
  device.on('worker-left', onLeft);
  device.on('worker-timeout', onTimeout);
  device.on('error', onError);
  device.on('tap', onTap);
  const onReplaced = (e: { slot: number; previous: string; next: string; reason: string }): void =>
    logger.log('worker-replaced', { slot: e.slot, previous: e.previous, worker: e.next, reason: e.reason }, 'warn');
  broker?.on('worker-replaced', onReplaced);
  const onKillUnsafe = (reason: string): void => logger.log('worker-kill-unsafe', { reason }, 'error');
  broker?.on('worker-kill-unsafe', onKillUnsafe);
  return () => {
    device.off('state', onState);
    device.off('worker', onWorker);
    device.off('worker-left', onLeft);
    device.off('worker-timeout', onTimeout);
    device.off('error', onError);
    device.off('tap', onTap);
    device.off('accept-failed', onAcceptFailed);
    broker?.off('worker-replaced', onReplaced);
    broker?.off('worker-kill-unsafe', onKillUnsafe);
  };
}
