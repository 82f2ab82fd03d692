/** `zqueue tap ENDPOINT`: prints what a device publishes on its --tap socket. */
import * as zmq from 'zeromq';
import { formatTapped } from '../tap.js';
import { resolveTable } from '../options.js';
import { tapOptions } from './options.js';
import { UsageError, type CommandSpec, type Parsed } from './flags.js';
import { connectTo } from '../endpoints.js';

export const spec: CommandSpec = {
  name: 'tap',
  summary: 'print the requests and replies a device publishes with --tap',
  usage: 'ENDPOINT [options]',
  intro: `  Subscribes to a device's --tap socket and prints each message on one line:
  "in" (client to device) or "out" (device to client), then its frames.`,
  sections: [{ table: tapOptions, keys: ['count'] }],
  positionals: 1,
};

export async function run(parsed: Parsed): Promise<void> {
  const endpoint = parsed.args[0];
  if (endpoint === undefined) throw new UsageError("zqueue tap: ENDPOINT is required (the device's --tap endpoint)");
  const { count } = resolveTable('tap', tapOptions, parsed.of(tapOptions));
  const sub = new zmq.Subscriber({ linger: 0 });
  const onSignal = (): void => sub.close();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    connectTo(sub, endpoint);
    sub.subscribe();
    let seen = 0;
    for await (const frames of sub) {
      console.log(formatTapped(frames));
      if (count > 0 && ++seen >= count) break;
    }
  } catch (err) {
    if (!sub.closed) throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!sub.closed) sub.close();
  }
}
