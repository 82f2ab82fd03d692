/**
 * What a counting engine counts (relay and balanced; the native engine has
 * none of this, and its type says so): messages and bytes each way, replies,
 * failures by kind, drops, and the request-latency histogram. It counts and
 * sends nothing; answers.ts sends to clients and counts through it.
 */
import { performance } from 'node:perf_hooks';
import { errorKindOf, type ErrorKind } from '../protocol.js';
import { createHistogram, record, summarize, type Histogram, type LatencySummary } from '../latency.js';
import type { TapStats } from '../tap.js';
import type { ShedReason } from './scheduling/overload.js';
import type { QueueStats } from './scheduling/fairqueue.js';
import type { ProtocolName } from '../protocols/types.js';

/**
 * Requests dropped before they reached a worker, by why (src/device/scheduling/overload.ts): `policy` ones
 * were answered `busy`, the others had nobody left
 * to answer.
 */
export type ShedCounts = Record<ShedReason, number>;

export interface SideStats {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
}

/** Requests answered with an error, by kind (made by the device or relayed from a server). */
export interface FailedCounts {
  /** Refused at once: the queue was full, or the client's share of it (see QueueStats.busyPerClient). */
  busy: number;
  /** Refused or dropped from the queue: the device was shutting down. */
  closing: number;
  /** No reply in time (the device's handler timeout, or a server's). */
  timeout: number;
  /** The server's handler threw or rejected. */
  handler: number;
  /** Its worker died and the request could not be retried. */
  workerDied: number;
  /** Refused as malformed: more frames than maxFrames, a frame too large for inproc. */
  badRequest: number;
  /** No worker offered the service it asked for (Majordomo) within serviceWaitMs. */
  noService: number;
  /** Any other error reply a server sent. */
  other: number;
}

export interface WorkerStats {
  readonly id: string;
  /** `ready`: has room; `full`: holds as many requests as it announced; `retired`: timed out, gets no more. */
  readonly state: 'ready' | 'full' | 'retired';
  readonly credits: number;
  readonly inFlight: number;
  readonly served: number;
  /** The service it serves ('' : the default pool) and the protocol it speaks. */
  readonly service?: string;
  readonly protocol?: ProtocolName;
}

export type { QueueStats } from './scheduling/fairqueue.js';

/** What a counting engine reports. */
export interface CountedStats {
  readonly counted: true;
  readonly frontendTraffic: Readonly<SideStats>;
  readonly backendTraffic: Readonly<SideStats>;
  /** Requests received from clients, each entry of a batch one, whatever became of them (envelope-less messages: `malformed`). */
  readonly requests: number;
  /** Requests relayed to servers and not yet answered. */
  readonly inFlight: number;
  /** least-busy: requests waiting for a free worker. */
  readonly queued: number;
  readonly queue: QueueStats;
  /** Replies relayed from servers to clients (error replies from servers included). */
  readonly answered: number;
  readonly failed: Readonly<FailedCounts>;
  /** Messages from clients dropped for having no envelope delimiter, client batches that do not add up, and malformed worker batches. */
  readonly malformed: number;
  /** Requests held by a worker that died. */
  readonly orphaned: number;
  /** Orphaned requests sent again to another worker. */
  readonly retried: number;
  /** Workers declared dead after 3 silent heartbeat periods. */
  readonly workersLost: number;
  /**
   * Replies the frontend could not deliver, which a ROUTER drops silently:
   * the client is gone (`unroutable`), or its queue is at the high-water mark (`full`).
   */
  readonly dropped: Readonly<{ unroutable: number; full: number }>;
  /** Requests dropped before they reached a worker (least-busy's overload policy, src/device/scheduling/overload.ts). */
  readonly shed: Readonly<ShedCounts>;
  /** Worker control messages (READY, BYE, HEARTBEAT) received. */
  readonly control: number;
  /**
   * Time from a request's arrival to its reply's, at the device. Exact for
   * least-busy; for round-robin it is timed per client, which is exact for
   * REQ clients (one request at a time).
   */
  readonly latency: LatencySummary;
  readonly tap: TapStats | undefined;
  readonly workers: readonly WorkerStats[];
  /** least-busy: per service ('' : the default pool of zqueue and Paranoid Pirate workers). */
  readonly services?: Readonly<Record<string, Readonly<{ workers: number; queued: number; inFlight: number }>>>;
}

/** What the native engine reports: nothing counted, by type. */
export interface UncountedStats {
  readonly counted: false;
}

function sideStats(): SideStats {
  return { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 };
}

/** Latencies since the window opened or was last taken; close it when done (it costs a record per request while open). */
export interface LatencyWindow {
  take(): LatencySummary;
  close(): void;
}

export class Counters {
  readonly front = sideStats();
  readonly back = sideStats();
  requests = 0;
  answered = 0;
  readonly failed: FailedCounts = { busy: 0, closing: 0, timeout: 0, handler: 0, workerDied: 0, badRequest: 0, noService: 0, other: 0 };
  readonly dropped = { unroutable: 0, full: 0 };
  malformed = 0;
  orphaned = 0;
  retried = 0;
  workersLost = 0;
  control = 0;
  /** `busy` replies caused by a client's share of the queue (maxQueuedPerClient). */
  busyPerClient = 0;
  /** Requests dropped before they reached a worker, by why (src/device/scheduling/overload.ts). */
  readonly shed: ShedCounts = { abandoned: 0, expired: 0, replaced: 0, policy: 0, cancelled: 0 };
  private readonly latency = createHistogram();
  /** Open latency windows (the stats line's, the live page's): each records what the device times while open. */
  private readonly windows: Histogram[] = [];

  constructor(private readonly recordLatencies: boolean) {}

  /**
   * A server's reply: answered, its latency, and its kind when it is an error reply (`last` is its last frame).
   */
  countReply(last: Buffer | undefined, arrivedAt: number | undefined, now?: number): void {
    this.answered++;
    if (arrivedAt !== undefined) this.time(arrivedAt, now);
    const kind = errorKindOf(last);
    if (kind !== undefined) this.countKind(kind);
  }

  time(arrivedAt: number, now = performance.now()): void {
    if (!this.recordLatencies) return;
    const us = (now - arrivedAt) * 1000;
    record(this.latency, us);
    for (let i = 0; i < this.windows.length; i++) record(this.windows[i] as Histogram, us);
  }

  countKind(kind: ErrorKind | 'other'): void {
    switch (kind) {
      case 'busy':
      case 'closing':
      case 'timeout':
      case 'handler':
        this.failed[kind]++;
        break;
      case 'worker-died':
        this.failed.workerDied++;
        break;
      case 'bad-request':
        this.failed.badRequest++;
        break;
      case 'no-service':
        this.failed.noService++;
        break;
      default:
        this.failed.other++;
    }
  }

  /** A window of request latencies: `take()` summarizes those since the window opened or was last taken. */
  openWindow(): LatencyWindow {
    let h = createHistogram();
    this.windows.push(h);
    const windows = this.windows;
    return {
      take(): LatencySummary {
        const taken = h;
        h = createHistogram();
        const i = windows.indexOf(taken);
        if (i >= 0) windows[i] = h;
        return summarize(taken);
      },
      close(): void {
        const i = windows.indexOf(h);
        if (i >= 0) windows.splice(i, 1);
      },
    };
  }

  /** The counts as stats; the engine adds what only it knows. */
  snapshot(extra: {
    inFlight: number;
    queued: number;
    queue: Omit<QueueStats, 'busyPerClient'>;
    workers: readonly WorkerStats[];
    tap: TapStats | undefined;
  }): CountedStats {
    return {
      counted: true,
      frontendTraffic: { ...this.front },
      backendTraffic: { ...this.back },
      inFlight: extra.inFlight,
      queued: extra.queued,
      queue: { ...extra.queue, busyPerClient: this.busyPerClient },
      requests: this.requests,
      answered: this.answered,
      failed: { ...this.failed },
      malformed: this.malformed,
      orphaned: this.orphaned,
      retried: this.retried,
      workersLost: this.workersLost,
      dropped: { ...this.dropped },
      shed: { ...this.shed },
      control: this.control,
      latency: summarize(this.latency),
      tap: extra.tap,
      workers: extra.workers,
    };
  }
}
