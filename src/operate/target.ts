/** What the operating tools watch and steer: a device, or a broker (its device and its worker threads). */
import { Broker } from '../serve/broker.js';
import type { Device, DeviceStats } from '../device/device.js';
import type { SlotStats } from '../serve/pool.js';
import type { LatencySummary } from '../latency.js';

export type Target = Device | Broker;

export function deviceOf(target: Target): Device {
  return target instanceof Broker ? target.device : target;
}

/** One reading of a target's figures. */
export interface Snapshot {
  readonly device: DeviceStats;
  readonly threads: readonly SlotStats[] | undefined;
  /** The latency since the previous reading, where the reader keeps a window (the --metrics server does). */
  readonly recent?: LatencySummary | undefined;
}

export function snapshot(target: Target): Snapshot {
  if (target instanceof Broker) {
    const s = target.stats();
    return { device: s.device, threads: s.threads };
  }
  return { device: target.stats(), threads: undefined };
}
