/**
 * What the Device facade asks of an engine, and what it gives one. An engine
 * moves messages between the device's two sockets; the facade owns the
 * options, the state machine, the sockets' lifetime and the events.
 *
 * - `native` (native.ts): libzmq's proxy; counts nothing (its stats type says so).
 * - `relay` (relay.ts): round-robin over a DEALER, counting.
 * - `balanced` (balanced.ts): least-busy over a ROUTER, with queues, batches,
 *   heartbeats, expiry and retries.
 */
import type { ResolvedDeviceOptions } from '../options.js';
import type { CountedStats, UncountedStats } from './counters.js';
import type { DeviceSockets, EngineKind } from './sockets.js';
import type { Side } from './security.js';
import type { Tap } from '../tap.js';
import { deferred } from '../wait.js';

export type { EngineKind } from './sockets.js';

/**
 * The documented seam for measuring the device itself: the bench's
 * regression gate adds busy-work to each admitted request through it, to
 * prove the gate sees a slower device; tests use it to inject a failure into
 * an engine's loop. Production code never sets it.
 */
export interface DeviceHooks {
  /** Called once for each request an engine admits, before it is relayed; a throw is a loop failure. */
  onRequest?(): void;
}

/** The device events an engine raises (the facade's EventEmitter). */
export interface EngineEvents {
  worker(count: number, workerId: string): void;
  workerLeft(workerId: string, orphans: number): void;
  workerLost(workerId: string): void;
  workerTimeout(workerId: string): void;
}

export interface EngineContext {
  readonly options: ResolvedDeviceOptions;
  readonly sockets: DeviceSockets;
  readonly tap: Tap | undefined;
  readonly hooks: DeviceHooks;
  readonly events: EngineEvents;
  /** The device is draining or closed: take no new requests. */
  stopping(): boolean;
  /** A loop failed for a reason other than shutdown: report it and stop the device. */
  fail(err: unknown): void;
  /** In-flight requests may have reached 0 (a reply, an expiry): the facade checks for a drain. */
  settled(): void;
}

export interface Engine<S extends CountedStats | UncountedStats = CountedStats | UncountedStats> {
  readonly kind: EngineKind;
  /** Starts moving messages; a loop's unexpected failure goes to the context's fail(). */
  start(): void;
  /** Stops intake (replies still flow, where the engine can); resume() undoes it. */
  pause(): void;
  resume(): void;
  /** Requests relayed and not yet answered. */
  readonly inFlight: number;
  /** Workers known (least-busy); 0 where the engine knows none. */
  readonly workerCount: number;
  /** Draining: answers what waits in queues with `closing`. */
  stopIntake(): void;
  /** A worker left (its thread died, or it said BYE): its requests are retried or answered. */
  workerLeft(key: string): void;
  /** Stops timers and anything that would send, before the sockets close. */
  stop(): Promise<void>;
  /** Resolves once every loop has ended (after the sockets closed). */
  ended(): Promise<void>;
  stats(): S;
  /** Counting engines: a window on request latencies (Counters.openWindow). */
  openLatencyWindow?(): import('./counters.js').LatencyWindow;
}

/** Holds a loop's reads while the device is paused. */
export class Gate {
  private held: ReturnType<typeof deferred> | undefined;

  /** A promise to wait on while closed; undefined while open. */
  get wait(): Promise<void> | undefined {
    return this.held?.promise;
  }

  close(): void {
    this.held ??= deferred();
  }

  open(): void {
    const h = this.held;
    this.held = undefined;
    h?.open();
  }
}

export type { Side };
