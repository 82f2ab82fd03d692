/** What the operating tools watch and steer: a device, or a broker (its device and its worker threads). */
import { Broker } from '../serve/broker.js';
import type { Device, DeviceStats } from '../device/device.js';
import type { SlotStats } from '../serve/pool.js';

export type Target = Device | Broker;

export function deviceOf(target: Target): Device {
  return target instanceof Broker ? target.device : target;
}

/** One reading of a target's figures. */
export interface Snapshot {
  readonly device: DeviceStats;
  readonly threads: readonly SlotStats[] | undefined;
}

export function snapshot(target: Target): Snapshot {
  if (target instanceof Broker) {
    const s = target.stats();
    return { device: s.device, threads: s.workers };
  }
  return { device: target.stats(), threads: undefined };
}
