/**
 * The relay engine: the seed's round-robin, counting. Requests go to the
 * backend DEALER, which spreads them over the connected servers whatever
 * their load; replies come back along their envelopes.
 */
import { performance } from 'node:perf_hooks';
import { size } from '../writer.js';
import type { CountedStats } from './counters.js';
import { CountingEngine } from './counting.js';
import type { Engine } from './engine.js';

/** Clients remembered (timed now, or answered): past it the timings start over. */
const MAX_TIMED_CLIENTS = 100_000;
const NO_QUEUE = Object.freeze({ clientsWaiting: 0, deepestClient: 0, oldestWaitMs: 0 });

export class RelayEngine extends CountingEngine implements Engine<CountedStats> {
  readonly kind = 'relay';
  readonly workerCount = 0;
  private relayed = 0;
  /**
   * When each client's latest request arrived, by routing id; -1 once it was
   * answered. An answered client keeps its entry: a Map that loses and
   * regains an entry for every request rebuilds its table over and over, and
   * the tables it leaves keep one another alive (see src/id-table.ts).
   */
  private arrivals = new Map<string, number>();

  get inFlight(): number {
    return this.relayed - this.counters.answered;
  }

  start(): void {
    this.run(() => this.frontLoop());
    this.run(() => this.backLoop());
  }

  stopIntake(): void {
    // Nothing waits at this engine: requests are in the DEALER's pipes.
  }

  workerLeft(): void {
    // The DEALER does not know which server holds what; clients' retries recover.
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  stats(): CountedStats {
    return this.counters.snapshot({ inFlight: this.inFlight, queued: 0, queue: NO_QUEUE, workers: [], tap: this.ctx.tap?.stats() });
  }

  private frontLoop(): Promise<void> {
    const c = this.counters;
    return this.readFrontend((frames) => {
      this.relayed++;
      if (this.ctx.options.recordLatency) {
        // Bounded: clients that never get a reply (their server died) must not grow it for ever.
        if (this.arrivals.size >= MAX_TIMED_CLIENTS) this.arrivals = new Map();
        this.arrivals.set((frames[0] as Buffer).toString('latin1'), performance.now());
      }
      c.back.messagesOut++;
      c.back.bytesOut += size(frames);
      return this.backWriter.send(frames);
    });
  }

  private backLoop(): Promise<void> {
    const c = this.counters;
    return this.readBackend((frames) => {
      const client = frames[0];
      if (client === undefined || client.length === 0) {
        // A worker's control message (READY/BYE): this policy has no use for it.
        c.control++;
        return;
      }
      const key = client.toString('latin1');
      const at = this.arrivals.get(key);
      const arrived = at !== undefined && at >= 0 ? at : undefined;
      if (arrived !== undefined) this.arrivals.set(key, -1);
      this.answers.relay(frames, arrived);
      this.ctx.settled();
    });
  }
}
