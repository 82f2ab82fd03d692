/**
 * The probes a Kubernetes pod needs, as the --metrics server answers them: /healthz (alive) and /readyz (ready for traffic, and why not).
 */
import { Broker } from '../serve/broker.js';
import { deviceOf, type Target } from './target.js';

/** Whether a device or a serve process should get traffic, and why not (for /readyz). */
export function readiness(target: Target, draining: boolean): { ready: boolean; why: string } {
  const device = deviceOf(target);
  const state = device.stats().state;
  if (draining || state === 'closing' || state === 'closed') return { ready: false, why: 'draining' };
  if (state !== 'running') return { ready: false, why: `the device is ${state}` };
  if (target instanceof Broker && !target.stats().threads.some((w) => w.state === 'ready'))
    return { ready: false, why: 'no worker thread is ready' };
  return { ready: true, why: 'ready' };
}
