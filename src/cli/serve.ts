/** `zqueue serve`: a device and server workers on worker threads, running a handler module. */
import { Broker } from '../serve/broker.js';
import { Logger } from '../operate/log.js';
import { brokerOptions, type BrokerOptions } from '../options.js';
import { UsageError, type CommandSpec, type Parsed } from './flags.js';
import { OPERATE_SECTION, SIGNALS_NOTE, operate, operateOf, untilStop } from './operate.js';

export const spec: CommandSpec = {
  name: 'serve',
  summary: 'run a device and server workers on worker threads, with a handler module',
  usage: '--handler FILE [options]',
  sections: [
    {
      table: brokerOptions,
      keys: [
        'handler',
        'threads',
        'frontend',
        'backend',
        'policy',
        'engine',
        'concurrency',
        'service',
        'plainService',
        'serviceWaitMs',
        'join',
        'maxQueued',
        'maxQueuedPerClient',
        'queueOrder',
        'handlerTimeoutMs',
        'prefetch',
        'onWorkerDeath',
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
      table: brokerOptions,
      keys: ['overloadPolicy', 'standingQueueMs', 'maxWaitMs', 'handshakeTimeoutMs', 'countHandshakes'],
    },
    {
      title: 'Security (tcp)',
      table: brokerOptions,
      keys: ['curveSecretKey', 'allowKeys', 'allowFrom', 'backendCurveSecretKey', 'allowServerKeys', 'ipcMode'],
    },
    { ...OPERATE_SECTION, keys: [...OPERATE_SECTION.keys, 'statsOnExit'] },
    { title: 'Tap', table: brokerOptions, keys: ['tap', 'tapHighWaterMark'] },
  ],
  notes: `  inproc (default) is fastest for messages up to about 1 KiB, ipc for large ones (README: "Backends").\n${SIGNALS_NOTE}`,
};

/** The broker options the command line gives (the rest are the library's defaults). */
export function options(parsed: Parsed): BrokerOptions {
  const o = parsed.of(brokerOptions);
  if (o.handler === undefined) throw new UsageError('zqueue serve: --handler FILE is required');
  return { ...o, handler: o.handler };
}

export async function run(parsed: Parsed): Promise<void> {
  const o = options(parsed);
  const ops = operateOf(parsed);
  const logger = new Logger(ops.logFormat);
  const stop = untilStop();
  const broker = await Broker.create(o);
  logger.log('workers', { threads: broker.options.threads, policy: broker.options.policy, handler: broker.options.handler });
  await operate(broker, ops, { keys: parsed.text('allow-keys'), serverKeys: parsed.text('allow-server-keys') }, logger, stop);
  if (ops.statsOnExit) console.error(JSON.stringify(broker.stats()));
}
