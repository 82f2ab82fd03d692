/**
 * zqueue's Prometheus metrics: every figure of a device's (and a broker's
 * threads') stats as a gauge or a counter. Nothing here touches the hot path:
 * the device keeps plain number counters whatever happens, a scrape takes one
 * stats() snapshot, and each metric's collect callback copies its figure.
 */
import { Counter, Gauge, collectDefaultMetrics, type Registry } from 'prom-client';
import type { DeviceStats } from '../device/device.js';
import type { Snapshot } from './target.js';

/** Registers every zqueue metric on `registry`, each reading `current()` when collected. */
export function defineMetrics(registry: Registry, current: () => Snapshot): void {
  const registers = [registry];
  const js = (): Extract<DeviceStats, { counted: true }> | undefined => {
    const d = current().device;
    return d.counted ? d : undefined;
  };
  const now = current;

  new Gauge({
    name: 'zqueue_info',
    help: 'The device: engine, policy and state (value 1).',
    labelNames: ['engine', 'policy', 'state'] as const,
    registers,
    collect() {
      const d = now().device;
      this.reset();
      this.set({ engine: d.engine, policy: d.policy, state: d.state }, 1);
    },
  });
  new Gauge({
    name: 'zqueue_uptime_seconds',
    help: 'Time since the device started.',
    registers,
    collect() {
      this.set(now().device.uptimeMs / 1000);
    },
  });
  new Gauge({
    name: 'zqueue_peers',
    help: 'tcp/ipc peers connected to each side (inproc peers are not reported by libzmq).',
    labelNames: ['side'] as const,
    registers,
    collect() {
      const p = now().device.peers;
      this.set({ side: 'frontend' }, p.frontend);
      this.set({ side: 'backend' }, p.backend);
    },
  });
  counter('zqueue_messages_total', 'Messages through each side of the device, by direction.', ['side', 'direction'], (set) => {
    const s = js();
    if (s === undefined) return;
    set({ side: 'frontend', direction: 'in' }, s.frontendTraffic.messagesIn);
    set({ side: 'frontend', direction: 'out' }, s.frontendTraffic.messagesOut);
    set({ side: 'backend', direction: 'in' }, s.backendTraffic.messagesIn);
    set({ side: 'backend', direction: 'out' }, s.backendTraffic.messagesOut);
  });
  counter(
    'zqueue_bytes_total',
    'Payload bytes through each side of the device (all frames), by direction.',
    ['side', 'direction'],
    (set) => {
      const s = js();
      if (s === undefined) return;
      set({ side: 'frontend', direction: 'in' }, s.frontendTraffic.bytesIn);
      set({ side: 'frontend', direction: 'out' }, s.frontendTraffic.bytesOut);
      set({ side: 'backend', direction: 'in' }, s.backendTraffic.bytesIn);
      set({ side: 'backend', direction: 'out' }, s.backendTraffic.bytesOut);
    },
  );
  counter(
    'zqueue_requests_total',
    'Requests received from clients (each entry of a client batch one), whatever became of them.',
    [],
    (set) => {
      const s = js();
      if (s !== undefined) set({}, s.requests);
    },
  );
  counter('zqueue_requests_answered_total', 'Replies relayed from servers to clients.', [], (set) => {
    const s = js();
    if (s !== undefined) set({}, s.answered);
  });
  counter('zqueue_requests_failed_total', 'Requests answered with an error, by kind.', ['kind'], (set) => {
    const s = js();
    if (s === undefined) return;
    for (const [kind, n] of Object.entries(s.failed)) set({ kind }, n);
  });
  counter(
    'zqueue_requests_shed_total',
    'Requests dropped before a worker: their client left (abandoned), their deadline passed (expired), ' +
      'a retry replaced them (replaced), or the policy answered them busy (policy).',
    ['reason'],
    (set) => {
      const s = js();
      if (s === undefined) return;
      for (const [reason, n] of Object.entries(s.shed)) set({ reason }, n);
    },
  );
  counter(
    'zqueue_replies_dropped_total',
    'Replies the frontend could not deliver: the client was gone (unroutable) or at its high-water mark (full).',
    ['reason'],
    (set) => {
      const s = js();
      if (s === undefined) return;
      for (const [reason, n] of Object.entries(s.dropped)) set({ reason }, n);
    },
  );
  counter('zqueue_accept_failures_total', 'Connections libzmq could not accept, by side (EMFILE: out of descriptors).', ['side'], (set) => {
    const f = now().device.acceptFailures;
    set({ side: 'frontend' }, f.frontend);
    set({ side: 'backend' }, f.backend);
  });
  counter('zqueue_requests_retried_total', 'Requests sent again after their worker died.', [], (set) => {
    const s = js();
    if (s !== undefined) set({}, s.retried);
  });
  counter('zqueue_messages_malformed_total', 'Client messages dropped for having no envelope.', [], (set) => {
    const s = js();
    if (s !== undefined) set({}, s.malformed);
  });
  counter('zqueue_tap_messages_total', 'Messages the tap published, or dropped for a slow subscriber.', ['result'], (set) => {
    const t = js()?.tap;
    if (t === undefined) return;
    set({ result: 'published' }, t.published);
    set({ result: 'dropped' }, t.dropped);
  });
  new Gauge({
    name: 'zqueue_requests_in_flight',
    help: 'Requests relayed to servers and not yet answered.',
    registers,
    collect() {
      const s = js();
      if (s !== undefined) this.set(s.inFlight);
    },
  });
  new Gauge({
    name: 'zqueue_requests_queued',
    help: 'Requests waiting for a free worker (least-busy).',
    registers,
    collect() {
      const s = js();
      if (s !== undefined) this.set(s.queued);
    },
  });
  new Gauge({
    name: 'zqueue_service_workers',
    help: 'Workers per service (least-busy; service="" is the default pool of zqueue\'s and Paranoid Pirate workers).',
    labelNames: ['service'] as const,
    registers,
    collect() {
      const s = js();
      this.reset();
      for (const [service, v] of Object.entries(s?.services ?? {})) this.set({ service }, v.workers);
    },
  });
  new Gauge({
    name: 'zqueue_service_queued',
    help: 'Requests waiting per service (least-busy).',
    labelNames: ['service'] as const,
    registers,
    collect() {
      const s = js();
      this.reset();
      for (const [service, v] of Object.entries(s?.services ?? {})) this.set({ service }, v.queued);
    },
  });
  new Gauge({
    name: 'zqueue_queue_clients_waiting',
    help: 'Clients (routing identities) with requests waiting in the fair queue (least-busy).',
    registers,
    collect() {
      const s = js();
      if (s !== undefined) this.set(s.queue.clientsWaiting);
    },
  });
  new Gauge({
    name: 'zqueue_queue_oldest_seconds',
    help: 'How long the oldest request waiting for a worker has waited (least-busy; 0 when none waits).',
    registers,
    collect() {
      const s = js();
      if (s !== undefined) this.set(s.queue.oldestWaitMs / 1000);
    },
  });
  new Gauge({
    name: 'zqueue_queue_deepest_client',
    help: 'The most requests one client has waiting (least-busy).',
    registers,
    collect() {
      const s = js();
      if (s !== undefined) this.set(s.queue.deepestClient);
    },
  });
  counter(
    'zqueue_busy_per_client_total',
    'Busy replies to a client past its maxQueuedPerClient share (the rest of failed{kind="busy"}: the whole queue was full).',
    [],
    (set) => {
      const s = js();
      if (s !== undefined) set({}, s.queue.busyPerClient);
    },
  );
  new Gauge({
    name: 'zqueue_request_latency_seconds',
    help: 'Time from a request reaching the device to its reply leaving it, by quantile, since the device started.',
    labelNames: ['quantile'] as const,
    registers,
    collect() {
      const s = js();
      if (s === undefined) return;
      const l = s.latency;
      this.set({ quantile: '0.5' }, l.p50_us / 1e6);
      this.set({ quantile: '0.9' }, l.p90_us / 1e6);
      this.set({ quantile: '0.99' }, l.p99_us / 1e6);
      this.set({ quantile: '0.999' }, l.p99_9_us / 1e6);
      this.set({ quantile: '1' }, l.max_us / 1e6);
    },
  });
  new Gauge({
    name: 'zqueue_request_latency_recent_seconds',
    help: 'Time from a request reaching the device to its reply leaving it, by quantile, over the requests answered since the last scrape.',
    labelNames: ['quantile'] as const,
    registers,
    collect() {
      const l = current().recent;
      if (l === undefined) return;
      this.set({ quantile: '0.5' }, l.p50_us / 1e6);
      this.set({ quantile: '0.9' }, l.p90_us / 1e6);
      this.set({ quantile: '0.99' }, l.p99_us / 1e6);
      this.set({ quantile: '0.999' }, l.p99_9_us / 1e6);
      this.set({ quantile: '1' }, l.max_us / 1e6);
    },
  });
  new Gauge({
    name: 'zqueue_workers',
    help: 'Workers known to the device (least-busy), by state.',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const s = js();
      if (s === undefined) return;
      const by = { ready: 0, full: 0, retired: 0 };
      for (const w of s.workers) by[w.state]++;
      for (const [state, n] of Object.entries(by)) this.set({ state }, n);
    },
  });
  const threadRestarts = (set: (labels: Partial<Record<never, string>>, value: number) => void): void => {
    const t = current().threads;
    if (t !== undefined)
      set(
        {},
        t.reduce((n, w) => n + w.restarts, 0),
      );
  };
  counter('zqueue_thread_restarts_total', 'Worker threads replaced after dying or timing out (zqueue serve).', [], threadRestarts);
  // The same count under its former name, kept for one release (deprecated).
  counter('zqueue_worker_restarts_total', 'Deprecated: zqueue_thread_restarts_total.', [], threadRestarts);
  collectDefaultMetrics({ register: registry });

  function counter<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (set: (labels: Partial<Record<L, string>>, value: number) => void) => void,
  ): void {
    new Counter<L>({
      name,
      help,
      labelNames,
      registers,
      collect() {
        // The device's counters are the truth: copy them in.
        this.reset();
        fill((labels, value) => this.inc(labels, value));
      },
    });
  }
}
