/** `zqueue device`: the seed's queue_device.py, with every device option. */
import { Device } from '../device/device.js';
import { Logger, logLifecycle } from '../operate/log.js';
import { deviceOptions, type DeviceOptions } from '../options.js';
import type { CommandSpec, Parsed } from './flags.js';
import { OPERATE_SECTION, SIGNALS_NOTE, operate, operateOf, untilStop } from './operate.js';

export const spec: CommandSpec = {
  name: 'device',
  summary: "run a queue device (ROUTER frontend, backend for servers), as the seed's queue_device.py",
  usage: '[options]',
  sections: [
    {
      table: deviceOptions,
      keys: [
        'frontend',
        'backend',
        'engine',
        'policy',
        'maxQueued',
        'maxQueuedPerClient',
        'queueOrder',
        'plainService',
        'serviceWaitMs',
        'handlerTimeoutMs',
        'onWorkerDeath',
        'prefetch',
        'heartbeatIntervalMs',
        'maxFrames',
        'maxMessageSize',
        'highWaterMark',
        'backlog',
        'closeTimeoutMs',
      ],
    },
    {
      title: 'Overload (src/device/scheduling/overload.ts)',
      table: deviceOptions,
      keys: ['overloadPolicy', 'standingQueueMs', 'maxWaitMs', 'handshakeTimeoutMs', 'countHandshakes'],
    },
    {
      title: 'Security (tcp)',
      table: deviceOptions,
      keys: ['curveSecretKey', 'allowKeys', 'allowFrom', 'backendCurveSecretKey', 'allowServerKeys', 'ipcMode'],
    },
    { ...OPERATE_SECTION, keys: [...OPERATE_SECTION.keys, 'statsOnExit'] },
    { title: 'Tap', table: deviceOptions, keys: ['tap', 'tapHighWaterMark'] },
  ],
  notes: SIGNALS_NOTE,
};

/** The device options the command line gives (the rest are the library's defaults). */
export function options(parsed: Parsed): DeviceOptions {
  return parsed.of(deviceOptions);
}

export async function run(parsed: Parsed): Promise<void> {
  const ops = operateOf(parsed);
  const device = new Device(options(parsed));
  const stop = untilStop();
  const logger = new Logger(ops.logFormat);
  // Logging from before start: a server that joins at once is logged too.
  const unlog = logLifecycle(logger, device);
  try {
    await device.start();
  } catch (err) {
    unlog();
    throw err;
  }
  await operate(device, ops, { keys: parsed.text('allow-keys'), serverKeys: parsed.text('allow-server-keys') }, logger, stop, unlog);
  if (ops.statsOnExit) console.error(JSON.stringify(device.stats()));
}
