/**
 * What `zqueue device` and `zqueue serve` share once started: run until a
 * signal or a control "stop", with the operating options on (metrics, the
 * stats line, the control socket, pause/resume signals, allow-list reloads,
 * lifecycle logs), then drain and close.
 */
import type { Device } from '../device/device.js';
import { Broker } from '../serve/broker.js';
import { MetricsServer } from '../operate/http.js';
import { StatsLine } from '../operate/stats-line.js';
import { deviceOf, type Target } from '../operate/target.js';
import { isLoopback, parseListenAddress } from '../endpoints.js';
import { ControlServer, handlePauseSignals } from '../operate/control.js';
import { Logger, logLifecycle } from '../operate/log.js';
import { loadAllowList } from '../keys.js';
import { resolveTable, type ResolvedOf } from '../options.js';
import { operateOptions } from './options.js';
import type { Parsed, Section } from './flags.js';

export type OperateOptions = ResolvedOf<typeof operateOptions>;

/** The operating flags, for a command's help. */
export const OPERATE_SECTION: Section = {
  title: 'Operating',
  table: operateOptions,
  keys: ['metrics', 'statsIntervalS', 'control', 'logFormat'],
};

export const SIGNALS_NOTE = '  Signals: SIGUSR1 pauses intake, SIGUSR2 resumes it, SIGINT/SIGTERM drain and stop.';

export function operateOf(parsed: Parsed): OperateOptions {
  return resolveTable('operate', operateOptions, parsed.of(operateOptions));
}

/** Resolves on the first SIGINT or SIGTERM, or `stop()`; then removes its listeners. */
export function untilStop(): { stopped: Promise<string>; stop: (why: string) => void } {
  let stop!: (why: string) => void;
  const stopped = new Promise<string>((resolve) => {
    const on = (signal: NodeJS.Signals): void => stop(signal);
    stop = (why) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(why);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
  return { stopped, stop };
}

/** The allow-list files a device was started with, re-read on SIGHUP. */
export interface AllowListFiles {
  readonly keys?: string | undefined;
  readonly serverKeys?: string | undefined;
}

/** On SIGHUP, re-reads the allow-list files into the device; a bad file keeps the old lists. */
function reloadOnHangup(device: Device, files: AllowListFiles, logger: Logger): () => void {
  const { keys, serverKeys } = files;
  if (keys === undefined && serverKeys === undefined) return () => {};
  const onHup = (): void => {
    try {
      const lists = {
        ...(keys !== undefined ? { keys: loadAllowList(keys) } : {}),
        ...(serverKeys !== undefined ? { serverKeys: loadAllowList(serverKeys) } : {}),
      };
      device.setAllowList(lists);
      logger.log('allow-list-reloaded', { keys: lists.keys?.length, serverKeys: lists.serverKeys?.length });
    } catch (err) {
      logger.log(
        'allow-list-reload-failed',
        { message: err instanceof Error ? err.message : String(err), kept: 'the previous lists' },
        'error',
      );
    }
  };
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
}

/**
 * Runs a started device or broker until a signal or a control "stop", with
 * the operating options on. Then drains and closes it.
 */
export async function operate(
  target: Target,
  o: OperateOptions,
  files: AllowListFiles,
  logger: Logger,
  untilStopped: ReturnType<typeof untilStop>,
  /** The lifecycle log, when the caller attached it before start (so that nothing was missed). */
  logging?: () => void,
): Promise<void> {
  const device = deviceOf(target);
  const unlog = logging ?? logLifecycle(logger, device, target instanceof Broker ? target : undefined);
  const unpause = handlePauseSignals(target);
  const unhup = reloadOnHangup(device, files, logger);
  let metrics: MetricsServer | undefined;
  let control: ControlServer | undefined;
  let timer: NodeJS.Timeout | undefined;
  let line: StatsLine | undefined;
  try {
    if (o.metrics !== '') {
      const address = parseListenAddress('metrics', o.metrics);
      metrics = await MetricsServer.start(target, address);
      logger.log('metrics', { url: metrics.url }, isLoopback(address.host) ? 'info' : 'warn');
    }
    if (o.control !== '') {
      control = await ControlServer.start(target, o.control, () => untilStopped.stop('control stop'));
      logger.log('control', { endpoint: control.endpoint });
    }
    if (o.statsIntervalS > 0) {
      line = new StatsLine(target);
      const l = line;
      timer = setInterval(() => process.stderr.write(`${l.next()}\n`), o.statsIntervalS * 1000);
    }
    // A device that stops by itself (a loop failed) stops the command too.
    const onClosed = (state: string): void => {
      if (state === 'closed') untilStopped.stop('the device closed');
    };
    device.on('state', onClosed);
    const why = await untilStopped.stopped;
    device.off('state', onClosed);
    logger.log('stopping', { reason: why });
  } finally {
    clearInterval(timer);
    line?.close();
    unpause();
    unhup();
    // Draining: /readyz says so at once (Kubernetes stops sending), while /healthz and /metrics answer until the device closed.
    if (metrics !== undefined) metrics.draining = true;
    await control?.close();
    await target.close();
    await metrics?.close();
    unlog();
  }
}
