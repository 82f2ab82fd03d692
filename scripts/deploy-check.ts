/**
 * `npm run deploy:check`: the deployment files, checked offline.
 * - Every Kubernetes object in deploy/kubernetes/*.yaml against its schema
 *   (the `kubernetes-models` package: Kubernetes' OpenAPI schemas, compiled).
 * - zqueue's own sense: each container's args parse and resolve with the
 *   CLI's own option tables; probes ask /readyz and /healthz on the --metrics
 *   port; the grace period outlasts --close-timeout; a server's dns: endpoint
 *   names the headless Service and its backend port.
 * - The Dockerfile: multi-stage, Node 20 slim, a non-root user, zqueue as the entrypoint.
 * Exit 0 when all holds, 1 naming each problem.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { Namespace, Service, ConfigMap } from 'kubernetes-models/v1';
import { StatefulSet, Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { COMMANDS } from '../src/cli/main.js';
import { parseCommand } from '../src/cli/flags.js';
import { parseDnsEndpoint } from '../src/discovery.js';
import * as device from '../src/cli/device.js';
import * as server from '../src/cli/server.js';
import * as serve from '../src/cli/serve.js';
import { resolveBrokerOptions, resolveDeviceOptions, resolveServerOptions } from '../src/options.js';

interface Validating {
  validate(): void;
}
type ModelClass = new (data: never) => Validating;

const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'apps/v1/StatefulSet': StatefulSet,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

/** The parts of objects the zqueue checks read (the schema check has vouched for their types). */
interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  spec?: {
    clusterIP?: string;
    ports?: { name?: string; port?: number }[];
    template?: { spec?: PodSpec };
  };
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  containers?: Container[];
}
interface Container {
  name?: string;
  args?: string[];
  ports?: { name?: string; containerPort?: number }[];
  readinessProbe?: { httpGet?: { path?: string; port?: number | string } };
  livenessProbe?: { httpGet?: { path?: string; port?: number | string } };
}

/** Problems with the Kubernetes files: schema first, then zqueue's sense. */
export function checkManifests(files: readonly { name: string; text: string }[]): string[] {
  const problems: string[] = [];
  const objects: { where: string; o: K8sObject }[] = [];
  for (const f of files) {
    for (const [i, doc] of parseAllDocuments(f.text).entries()) {
      const where = `${f.name}, document ${i + 1}`;
      if (doc.errors.length > 0) {
        problems.push(`${where}: YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
        continue;
      }
      const o = doc.toJS() as K8sObject | null;
      if (o === null) continue;
      const key = `${o.apiVersion ?? '?'}/${o.kind ?? '?'}`;
      const Model = MODELS[key];
      if (Model === undefined) {
        problems.push(`${where}: ${key} is not a kind this check knows (${Object.keys(MODELS).join(', ')})`);
        continue;
      }
      try {
        new Model(o as never).validate();
      } catch (err) {
        problems.push(`${where} (${o.kind ?? ''} ${o.metadata?.name ?? ''}): ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      objects.push({ where: `${where} (${o.kind ?? ''} ${o.metadata?.name ?? ''})`, o });
    }
  }
  const services = objects.filter((x) => x.o.kind === 'Service').map((x) => x.o);
  for (const { where, o } of objects) {
    const pod = o.spec?.template?.spec;
    if (pod === undefined) continue;
    for (const c of pod.containers ?? []) problems.push(...checkContainer(`${where}, container ${c.name ?? '?'}`, c, pod, services, o.metadata?.namespace ?? 'default'));
  }
  return problems;
}

function flag(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === `--${name}`) return args[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

function checkContainer(where: string, c: Container, pod: PodSpec, services: readonly K8sObject[], namespace: string): string[] {
  const problems: string[] = [];
  const args = c.args ?? [];
  const [name, ...rest] = args;
  const command = COMMANDS.find((x) => x.spec.name === name);
  if (command === undefined) return [`${where}: args must start with a zqueue command, got ${JSON.stringify(name)}`];
  try {
    const parsed = parseCommand(command.spec, rest);
    if (name === 'device') resolveDeviceOptions(device.options(parsed));
    if (name === 'server') resolveServerOptions(server.options(parsed));
    if (name === 'serve') resolveBrokerOptions(serve.options(parsed));
  } catch (err) {
    problems.push(`${where}: zqueue ${name} ${rest.join(' ')}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const metrics = flag(rest, 'metrics');
  if (name === 'device' || name === 'serve') {
    if (metrics === undefined) problems.push(`${where}: zqueue ${name} needs --metrics for its probes`);
    else {
      const port = Number(metrics.split(':').pop());
      const named = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
      for (const [probe, path] of [['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']] as const) {
        const get = c[probe]?.httpGet;
        const probePort = typeof get?.port === 'string' ? named.get(get.port) : get?.port;
        if (get?.path !== path || probePort !== port) problems.push(`${where}: ${probe} should GET ${path} on the --metrics port ${port}`);
      }
    }
    const closeMs = Number(flag(rest, 'close-timeout') ?? 2000);
    if ((pod.terminationGracePeriodSeconds ?? 30) * 1000 <= closeMs) problems.push(`${where}: terminationGracePeriodSeconds must outlast --close-timeout (${closeMs} ms)`);
  }
  for (const e of (flag(rest, 'connect') ?? flag(rest, 'join') ?? '').split(',').filter((x) => x.startsWith('dns:'))) {
    const t = parseDnsEndpoint(e);
    const svc = services.find((s) => [`${s.metadata?.name ?? ''}.${s.metadata?.namespace ?? namespace}.svc.cluster.local`, `${s.metadata?.name ?? ''}.${s.metadata?.namespace ?? namespace}.svc`].includes(t.name));
    if (svc === undefined) problems.push(`${where}: ${e} names no Service in these files (NAME.NAMESPACE.svc.cluster.local)`);
    else {
      if (svc.spec?.clusterIP !== 'None') problems.push(`${where}: ${e} needs a headless Service (clusterIP: None) to list every device`);
      if (!(svc.spec?.ports ?? []).some((p) => p.port === t.port)) problems.push(`${where}: ${e}: the Service has no port ${t.port}`);
    }
  }
  return problems;
}

/** Problems with the Dockerfile. */
export function checkDockerfile(text: string): string[] {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const problems: string[] = [];
  const froms = lines.filter((l) => /^FROM\s/i.test(l));
  if (froms.length < 2) problems.push('Dockerfile: build in one stage and run in another (multi-stage)');
  if (!/^FROM\s+node:20-slim\b/i.test(froms[froms.length - 1] ?? '')) problems.push('Dockerfile: the image runs on node:20-slim');
  const user = lines.filter((l) => /^USER\s/i.test(l)).pop();
  if (user === undefined || /^USER\s+(root|0)\b/i.test(user)) problems.push('Dockerfile: run as a non-root USER');
  if (!lines.some((l) => /^ENTRYPOINT\s+\[.*cli\.js"\]/i.test(l))) problems.push('Dockerfile: ENTRYPOINT runs zqueue (dist/src/cli.js)');
  return problems;
}

function main(): number {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const dir = join(root, 'deploy', 'kubernetes');
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => ({ name: join('deploy', 'kubernetes', f), text: readFileSync(join(dir, f), 'utf8') }));
  const problems = [...checkManifests(files), ...checkDockerfile(readFileSync(join(root, 'deploy', 'Dockerfile'), 'utf8'))];
  for (const p of problems) console.error(`deploy:check: ${p}`);
  if (problems.length === 0) console.log(`deploy:check: ${files.map((f) => f.name).join(', ')} and deploy/Dockerfile are valid`);
  return problems.length === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main();
