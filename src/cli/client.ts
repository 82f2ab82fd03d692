/** `zqueue client`: the seed's queue_client.py, a Lazy Pirate client. */
import { randomInt } from 'node:crypto';
import { Client } from '../client.js';
import { ErrorCode, ZqueueError } from '../errors.js';
import { clientOptions, resolveTable, type ClientOptions } from '../options.js';
import { seedClientOptions } from './options.js';
import type { CommandSpec, Parsed } from './flags.js';

export const spec: CommandSpec = {
  name: 'client',
  summary: "send requests and print the replies, as the seed's queue_client.py",
  usage: '[options]',
  sections: [
    { table: clientOptions, keys: ['endpoint', 'timeoutMs', 'retries', 'service'] },
    { table: seedClientOptions, keys: ['requests', 'message'] },
    { title: 'Security (tcp)', table: clientOptions, keys: ['curveServerKey', 'curveSecretKey'] },
  ],
};

export function options(parsed: Parsed): ClientOptions {
  return parsed.of(clientOptions);
}

export async function run(parsed: Parsed): Promise<void> {
  const seed = resolveTable('client', seedClientOptions, parsed.of(seedClientOptions));
  const message = seed.message !== '' ? seed.message : `Hello from ${randomInt(1, 10005)}`;
  const c = new Client(options(parsed));
  const stop = new AbortController();
  // Ctrl-C withdraws the request in flight (it rejects with ERR_ZQ_ABORTED) and ends the loop.
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    console.log('Connecting to server...');
    for (let i = 1; i <= seed.requests && !stop.signal.aborted; i++) {
      console.log(`Sending request  ${i} ...`);
      const reply = await c.request(message, { signal: stop.signal });
      console.log(`Received reply  ${i} [ ${reply.map((f) => f.toString()).join(' ')} ]`);
    }
  } catch (err) {
    if (!(stop.signal.aborted && err instanceof ZqueueError && err.code === ErrorCode.Aborted)) throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await c.close({ timeoutMs: 0 });
  }
}
