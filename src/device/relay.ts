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

/** Clients whose request is being timed at once; past it the timings start over. */
const MAX_TIMED_CLIENTS = 100_000;
const NO_QUEUE = Object.freeze({ clientsWaiting: 0, deepestClient: 0, oldestWaitMs: 0 });

export class RelayEngine extends CountingEngine implements Engine<CountedStats> {
  readonly kind = 'relay';
  readonly workerCount = 0;
  private relayed = 0;
  /** When each client's latest request arrived, by routing id. */
  private readonly arrivals = new Map<string, number>();

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
        if (this.arrivals.size >= MAX_TIMED_CLIENTS) this.arrivals.clear();
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
      const arrived = this.arrivals.get(key);
      if (arrived !== undefined) this.arrivals.delete(key);
      this.answers.relay(frames, arrived);
      this.ctx.settled();
    });
  }
}
