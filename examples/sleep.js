// @ts-check
/**
 * Async: waits ZQ_SLEEP_MS milliseconds (default 10) as if on I/O, then
 * answers. Run it with --concurrency K to let one worker wait on K at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';

const ms = Number(process.env.ZQ_SLEEP_MS ?? 10);

/** @param {Buffer[]} request */
export default async function wait(request) {
  await sleep(ms);
  return ['done', ...request];
}
