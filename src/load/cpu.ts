/**
 * CPU time per thread, from Linux's /proc: a thread's schedstat gives its
 * on-CPU nanoseconds. Node 20 has no per-thread CPU clock of its own.
 */
import { readFileSync, readdirSync } from 'node:fs';

export { osThreadId } from '../worker.js';

/** On-CPU microseconds of thread `tid` of this process; 0 when unknown (the thread is gone). */
export function threadCpuMicros(tid: number | undefined): number {
  if (tid === undefined) return 0;
  try {
    const ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    return Number.isFinite(ns) ? ns / 1000 : 0;
  } catch {
    return 0;
  }
}

/** On-CPU microseconds of a whole process (user + system), from /proc/PID/stat. */
export function processCpuMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks / 100) * 1e6;
  } catch {
    return 0;
  }
}

/** This process's CPU time, all threads, in microseconds. */
export function selfCpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Open descriptors of this process, and its limit (Linux /proc; undefined elsewhere). */
export function descriptors(): { open: number; limit: number } | undefined {
  try {
    const open = readdirSync('/proc/self/fd').length;
    const limit = Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? NaN);
    return { open, limit };
  } catch {
    return undefined;
  }
}
