/**
 * CPU time per thread, from Linux's /proc: a thread's schedstat gives its
 * on-CPU nanoseconds. Node 20 has no per-thread CPU clock of its own.
 */
import { readFileSync, readdirSync } from 'node:fs';

export { osThreadId } from '../serve/worker.js';

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

/** A process's CPU split by thread, in microseconds: its main thread, libzmq's threads, the given worker threads, and the rest. */
export interface ThreadCpu {
  readonly main: number;
  /** libzmq's I/O and reaper threads (named `ZMQbg/…`). */
  readonly zmq: number;
  /** The threads whose ids were given (zqueue serve's worker threads). */
  readonly workers: number;
  /** Everything else: V8's platform threads (GC, compilation), libuv's pool, unnamed workers of another process. */
  readonly other: number;
}

/**
 * What the threads of process `pid` have spent so far (Linux: /proc/PID/task/TID/schedstat and comm); undefined where /proc cannot tell.
 */
export function threadCpu(pid: number, workerTids: ReadonlySet<number> = new Set()): ThreadCpu | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  const out = { main: 0, zmq: 0, workers: 0, other: 0 };
  for (const t of tids) {
    const tid = Number(t);
    try {
      const us = Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]) / 1000;
      if (!Number.isFinite(us)) continue;
      if (tid === pid) out.main += us;
      else if (workerTids.has(tid)) out.workers += us;
      else if (readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').startsWith('ZMQbg/')) out.zmq += us;
      else out.other += us;
    } catch {
      // the thread ended meanwhile: its time left with it
    }
  }
  return out;
}

/** CPU per request between two readings: the process's threads by kind, and their sum (µs a request). */
export interface CpuPerRequest {
  readonly total_us_per_req: number;
  readonly main_us_per_req: number;
  readonly zmq_us_per_req: number;
  readonly workers_us_per_req: number;
  readonly other_us_per_req: number;
}

export function cpuPerRequest(before: ThreadCpu, after: ThreadCpu, requests: number): CpuPerRequest {
  const per = (k: keyof ThreadCpu): number => Math.round((Math.max(0, after[k] - before[k]) / Math.max(1, requests)) * 100) / 100;
  const main = per('main');
  const zmq = per('zmq');
  const workers = per('workers');
  const other = per('other');
  return {
    total_us_per_req: Math.round((main + zmq + workers + other) * 100) / 100,
    main_us_per_req: main,
    zmq_us_per_req: zmq,
    workers_us_per_req: workers,
    other_us_per_req: other,
  };
}
