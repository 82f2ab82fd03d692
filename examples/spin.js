// @ts-check
/**
 * CPU-bound for a known time: spins ZQ_SPIN_MS milliseconds (default 1) of
 * CPU, then echoes the request. Unlike cpu.js, its time per request is the
 * same on any machine, so capacity is threads × 1000 / ZQ_SPIN_MS a second.
 */
import { performance } from 'node:perf_hooks';

const ms = Number(process.env.ZQ_SPIN_MS ?? 1);

/** @param {Buffer[]} request */
export default function spin(request) {
  const end = performance.now() + ms;
  while (performance.now() < end);
  return request;
}
