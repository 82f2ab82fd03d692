/**
 * `npm run deploy:check` (scripts/deploy-check.ts) on the committed
 * deployment files, and on copies with one mistake each, which it must name:
 * a schema error, a flag zqueue does not have, a probe on the wrong path, a
 * grace period shorter than the drain, a dns: name of a Service that is not
 * headless, an image that runs as root or on an unsupported Node line, and
 * what a hardened cluster refuses or regrets: no seccomp profile, replicas
 * not spread over nodes, a server without probes or a disruption budget, a
 * plaintext backend open to any pod, an image without registry or version;
 * and the Grafana dashboard and alerts: a query of a metric zqueue does not
 * export, and an alert missing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkDockerfile, checkGrafana, checkManifests, exportedMetrics, metricNames } from '../scripts/deploy-check.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MANIFEST = readFileSync(join(ROOT, 'deploy', 'kubernetes', 'zqueue.yaml'), 'utf8');
const DOCKERFILE = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
const DASHBOARD = readFileSync(join(ROOT, 'deploy', 'grafana', 'zqueue.json'), 'utf8');
const ALERTS = readFileSync(join(ROOT, 'deploy', 'grafana', 'alerts.yaml'), 'utf8');

function withChange(from: string, to: string): string[] {
  assert.ok(MANIFEST.includes(from), `the manifest has ${from}`);
  return checkManifests([{ name: 'zqueue.yaml', text: MANIFEST.replace(from, to) }]);
}

describe('deploy:check', () => {
  it('passes the committed manifests and Dockerfile', () => {
    assert.deepEqual(checkManifests([{ name: 'zqueue.yaml', text: MANIFEST }]), []);
    assert.deepEqual(checkDockerfile(DOCKERFILE), []);
  });

  it("names a field of the wrong type, from Kubernetes' schema", () => {
    const p = withChange('replicas: 3', 'replicas: three');
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0] ?? '', /StatefulSet zqueue-device.*replicas/);
  });

  it('names a flag zqueue does not have, or a value it refuses', () => {
    assert.match(
      withChange('--heartbeat=1000\n            - --close-timeout', '--heartbeat-ms=1000\n            - --close-timeout').join('\n'),
      /container device: zqueue device .*Unknown option '--heartbeat-ms'/,
    );
    assert.match(withChange('--policy=least-busy', '--policy=busiest').join('\n'), /--policy must be one of round-robin, least-busy/);
  });

  it('names a probe on the wrong path, and a grace period shorter than the drain', () => {
    assert.match(withChange('path: /readyz', 'path: /ready').join('\n'), /readinessProbe should GET \/readyz on the --metrics port 9464/);
    assert.match(
      withChange('--close-timeout=20000', '--close-timeout=40000').join('\n'),
      /terminationGracePeriodSeconds must outlast the preStop wait \(5000 ms\) and --close-timeout \(40000 ms\)/,
    );
  });

  it("names a server whose dns: endpoint is not a headless Service's", () => {
    assert.match(withChange('  clusterIP: None\n', '  clusterIP: 10.0.0.9\n').join('\n'), /needs a headless Service/);
    assert.match(
      withChange('zqueue-devices.zqueue.svc.cluster.local:5560', 'zqueue-device.zqueue.svc.cluster.local:5560').join('\n'),
      /names no Service in these files/,
    );
  });

  it('names an image that runs as root, in one stage, or on a Node line past its end of life', () => {
    assert.deepEqual(checkDockerfile(DOCKERFILE.replace('USER node', 'USER root')), ['Dockerfile: run as a non-root USER']);
    assert.ok(
      checkDockerfile(DOCKERFILE.replace(/FROM node:26-slim AS build[\s\S]*?FROM node:26-slim/, 'FROM node:26-slim')).includes(
        'Dockerfile: build in one stage and run in another (multi-stage)',
      ),
    );
    assert.match(
      checkDockerfile(DOCKERFILE.replace(/node:26-slim/g, 'node:20-slim')).join('\n'),
      /supported LTS line's slim image \(node:22-slim, node:24-slim, node:26-slim\)/,
    );
  });

  it('names a pod without the RuntimeDefault seccomp profile (the restricted Pod Security Standard)', () => {
    const p = withChange('runAsGroup: 1000, seccompProfile: { type: RuntimeDefault } }', 'runAsGroup: 1000 }');
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0] ?? '', /StatefulSet zqueue-device.*seccompProfile\.type RuntimeDefault/);
  });

  it('names replicas that may all land on one node', () => {
    const p = withChange(
      '      topologySpreadConstraints:\n        - maxSkew: 1\n          topologyKey: kubernetes.io/hostname\n          whenUnsatisfiable: DoNotSchedule',
      '      topologySpreadConstraints:\n        - maxSkew: 1\n          topologyKey: topology.kubernetes.io/zone\n          whenUnsatisfiable: DoNotSchedule',
    );
    assert.match(p.join('\n'), /\(StatefulSet zqueue-device\): spread its 3 replicas over nodes/);
  });

  it('names a server without probes, and one without a disruption budget', () => {
    assert.match(
      withChange('            - --health=0.0.0.0:8080\n', '').join('\n'),
      /container server: zqueue server needs --health for its probes/,
    );
    assert.match(
      withChange('httpGet: { path: /readyz, port: health }', 'httpGet: { path: /readyz, port: 9999 }').join('\n'),
      /readinessProbe should GET \/readyz on the --health port 8080/,
    );
    const budget = MANIFEST.indexOf('---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: zqueue-server');
    const noBudget = MANIFEST.slice(0, budget) + MANIFEST.slice(MANIFEST.indexOf('---', budget + 3));
    assert.notEqual(noBudget, MANIFEST);
    assert.match(
      checkManifests([{ name: 'zqueue.yaml', text: noBudget }]).join('\n'),
      /\(Deployment zqueue-server\): no PodDisruptionBudget selects its pods/,
    );
  });

  it('names a plaintext backend that any pod may reach, and takes CURVE on it instead', () => {
    const open = withChange(
      '        - podSelector:\n            matchLabels: { app.kubernetes.io/name: zqueue, app.kubernetes.io/component: server }\n      ports:\n        - { port: backend, protocol: TCP }',
      '        - namespaceSelector: {}\n      ports:\n        - { port: backend, protocol: TCP }',
    );
    assert.match(open.join('\n'), /its plaintext backend \(port 5560\) must be reachable from the server pods only/);
    const none = MANIFEST.replace(/---\n# The backend is plaintext[\s\S]*$/, '');
    assert.match(checkManifests([{ name: 'zqueue.yaml', text: none }]).join('\n'), /plaintext backend \(port 5560\)/);
    const curve = none.replace(
      '            - --backend=tcp://*:5560\n',
      '            - --backend=tcp://*:5560\n            - --backend-curve-secret-key=/keys/backend.key_secret\n',
    );
    assert.doesNotMatch(checkManifests([{ name: 'zqueue.yaml', text: curve }]).join('\n'), /plaintext backend/);
  });

  it('names an image without its registry or version', () => {
    assert.match(
      withChange(
        'image: ghcr.io/zqueue/zqueue:0.2.0\n          imagePullPolicy: IfNotPresent\n          args:\n            - device',
        'image: zqueue:0.2.0\n          imagePullPolicy: IfNotPresent\n          args:\n            - device',
      ).join('\n'),
      /container device: name the image with its registry and a version or digest .*got "zqueue:0\.2\.0"/,
    );
    assert.match(
      withChange(
        'image: ghcr.io/zqueue/zqueue:0.2.0\n          imagePullPolicy: IfNotPresent\n          args:\n            - device',
        'image: ghcr.io/zqueue/zqueue:latest\n          imagePullPolicy: IfNotPresent\n          args:\n            - device',
      ).join('\n'),
      /got "ghcr\.io\/zqueue\/zqueue:latest"/,
    );
  });

  it('counts the preStop wait in the grace period', () => {
    assert.match(
      withChange('setTimeout(() => {}, 5000)', 'setTimeout(() => {}, 15000)').join('\n'),
      /terminationGracePeriodSeconds must outlast the preStop wait \(15000 ms\) and --close-timeout \(20000 ms\)/,
    );
  });

  it('reads the metric names of a PromQL query, leaving out functions, labels, groupings and ranges', () => {
    assert.deepEqual(metricNames('sum by (instance, kind) (rate(zqueue_requests_failed_total{instance=~"$instance"}[$__rate_interval]))'), [
      'zqueue_requests_failed_total',
    ]);
    assert.deepEqual(metricNames('zqueue_info{state="running"} == 1 and on (instance) zqueue_peers > 0'), ['zqueue_info', 'zqueue_peers']);
  });

  it('passes the Grafana dashboard and alerts, and names a query of a metric zqueue does not export', () => {
    const exported = exportedMetrics();
    assert.ok(exported.has('zqueue_requests_total') && exported.has('zqueue_queue_oldest_seconds'));
    assert.deepEqual(checkGrafana(DASHBOARD, ALERTS, exported), []);
    assert.match(
      checkGrafana(DASHBOARD.replace('zqueue_requests_queued', 'zqueue_requests_waiting'), ALERTS, exported).join('\n'),
      /panel "Queue: depth and oldest wait": "zqueue_requests_waiting" is not a metric zqueue exports/,
    );
    assert.match(
      checkGrafana(DASHBOARD, ALERTS.replaceAll('zqueue_requests_shed_total', 'zqueue_requests_queued'), exported).join('\n'),
      /no alert for shed requests/,
    );
    assert.match(checkGrafana('{', ALERTS, exported).join('\n'), /zqueue.json: not JSON/);
  });
});
