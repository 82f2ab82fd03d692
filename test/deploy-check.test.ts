/**
 * `npm run deploy:check` (scripts/deploy-check.ts) on the committed
 * deployment files, and on copies with one mistake each, which it must name:
 * a schema error, a flag zqueue does not have, a probe on the wrong path, a
 * grace period shorter than the drain, a dns: name of a Service that is not
 * headless, and an image that runs as root.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkDockerfile, checkManifests } from '../scripts/deploy-check.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MANIFEST = readFileSync(join(ROOT, 'deploy', 'kubernetes', 'zqueue.yaml'), 'utf8');
const DOCKERFILE = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');

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
    assert.match(withChange('--heartbeat=1000\n            - --close-timeout', '--heartbeat-ms=1000\n            - --close-timeout').join('\n'), /container device: zqueue device .*Unknown option '--heartbeat-ms'/);
    assert.match(withChange('--policy=least-busy', '--policy=busiest').join('\n'), /--policy must be one of round-robin, least-busy/);
  });

  it('names a probe on the wrong path, and a grace period shorter than the drain', () => {
    assert.match(withChange('path: /readyz', 'path: /ready').join('\n'), /readinessProbe should GET \/readyz on the --metrics port 9464/);
    assert.match(withChange('--close-timeout=20000', '--close-timeout=40000').join('\n'), /terminationGracePeriodSeconds must outlast --close-timeout \(40000 ms\)/);
  });

  it("names a server whose dns: endpoint is not a headless Service's", () => {
    assert.match(withChange('  clusterIP: None\n', '  clusterIP: 10.0.0.9\n').join('\n'), /needs a headless Service/);
    assert.match(withChange('zqueue-devices.zqueue.svc.cluster.local:5560', 'zqueue-device.zqueue.svc.cluster.local:5560').join('\n'), /names no Service in these files/);
  });

  it('names an image that runs as root or in one stage', () => {
    assert.deepEqual(checkDockerfile(DOCKERFILE.replace('USER node', 'USER root')), ['Dockerfile: run as a non-root USER']);
    assert.ok(checkDockerfile(DOCKERFILE.replace(/FROM node:20-slim AS build[\s\S]*?FROM node:20-slim/, 'FROM node:20-slim')).includes('Dockerfile: build in one stage and run in another (multi-stage)'));
  });
});
