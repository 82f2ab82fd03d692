/**
 * What least-busy does when more work comes than its workers can do: the
 * overload policy. Open this file to change it.
 *
 * `adaptive` (the default) serves the requests someone still waits for:
 * - a request whose client's connection ended (libzmq's ROUTER_NOTIFY) is
 *   dropped from the queue, counted `abandoned`, and not retried if its
 *   worker dies; nobody is left to answer;
 * - a request whose deadline (protocol.ts: the zqueue client sends one) has
 *   passed is dropped, counted `expired`; a retry of a request still queued
 *   replaces its stale copy, counted `replaced`;
 * - while a queue stands (it has not emptied for `standingQueueMs`), the
 *   newest requests go first (adaptive LIFO, as Facebook's "Fail at Scale"
 *   describes), still one client at a time (fairqueue.ts): the oldest are
 *   the likeliest to have been given up on, and a client that sees its
 *   fresh request answered goes on instead of retrying. A full queue still
 *   refuses the newest at once (`busy`): the next place that frees is taken
 *   by a fresh request, which goes first.
 *
 * A burst that drains within `standingQueueMs` is served first come, first
 * served, as before; so is everything with `off`, which also drops nothing.
 *
 * `maxWaitMs` (either policy) is an operator's hard bound: a request that
 * waited that long for a worker is answered `busy` (counted `policy`).
 */
import type { Order } from './fairqueue.js';

import type { OverloadPolicy } from '../../options.js';
export { OVERLOAD_POLICIES, type OverloadPolicy } from '../../options.js';

/** Why a request was dropped without reaching a worker (`cancelled`: its client withdrew it, on the batched wire). */
export type ShedReason = 'abandoned' | 'expired' | 'replaced' | 'policy' | 'cancelled';

/** Which end of the queue goes next, given the queue and the time. */
export type QueueOrder = (queue: { standing(now: number, ms: number): boolean }, now: number) => Order;

export const FIRST_COME: QueueOrder = () => 'fifo';

/** Adaptive LIFO: newest first while the queue has stood for `standingMs`. */
export function adaptiveOrder(standingMs: number): QueueOrder {
  return (queue, now) => (queue.standing(now, standingMs) ? 'lifo' : 'fifo');
}

export interface OverloadRules {
  readonly overloadPolicy: OverloadPolicy;
  readonly standingQueueMs: number;
  readonly maxWaitMs: number;
}

export function queueOrder(o: OverloadRules): QueueOrder {
  return o.overloadPolicy === 'adaptive' ? adaptiveOrder(o.standingQueueMs) : FIRST_COME;
}

/** Why a waiting request should not go to a worker now, if it should not: its deadline passed, or it waited past maxWaitMs. */
export function staleReason(
  p: { readonly deadline?: number; readonly receivedAt: number },
  now: number,
  o: OverloadRules,
): ShedReason | undefined {
  if (o.overloadPolicy === 'adaptive' && p.deadline !== undefined && p.deadline > 0 && p.deadline <= now) return 'expired';
  if (o.maxWaitMs > 0 && now - p.receivedAt >= o.maxWaitMs) return 'policy';
  return undefined;
}
