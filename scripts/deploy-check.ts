/**
 * `npm run deploy:check`: the deployment files, checked offline.
 * - Every Kubernetes object in deploy/kubernetes/*.yaml against its schema
 *   (the `kubernetes-models` package: Kubernetes' OpenAPI schemas, compiled).
 * - zqueue's own sense: each container's args parse and resolve with the
 *   CLI's own option tables; probes ask /readyz and /healthz on the --metrics
 *   port (--health for servers); the grace period outlasts a preStop wait and
 *   --close-timeout; a server's dns: endpoint names the headless Service and
 *   its backend port.
 * - What a hardened cluster asks: the restricted Pod Security Standard's
 *   seccompProfile RuntimeDefault; replicas spread over nodes; readiness and
 *   liveness probes and a PodDisruptionBudget for every workload; a plaintext
 *   backend reachable from the servers only (a NetworkPolicy) unless it is
 *   CURVE; images named with their registry and a version.
 * - The Dockerfile: multi-stage, on a supported LTS line's slim image (Node 22,
 *   24 or 26), a non-root user, zqueue as the entrypoint.
 * - The Grafana dashboard and alert rules (deploy/grafana/): they parse, and
 *   every query names only metrics zqueue exports (src/operate/registry.ts);
 *   there are alerts for a standing queue and for shed requests.
 * Exit 0 when all holds, 1 naming each problem.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { Namespace, Service, ConfigMap } from 'kubernetes-models/v1';
import { StatefulSet, Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { COMMANDS } from '../src/cli/main.js';
import { parseCommand } from '../src/cli/flags.js';
import { parseDnsEndpoint } from '../src/discovery.js';
import * as device from '../src/cli/device.js';
import * as server from '../src/cli/server.js';
import * as serve from '../src/cli/serve.js';
import { resolveBrokerOptions, resolveDeviceOptions, resolveServerOptions } from '../src/options.js';
import { Registry } from 'prom-client';
import { defineMetrics } from '../src/operate/registry.js';

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
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

/** The Node.js LTS lines supported (README: "Node.js"); the image runs on one of them. */
export const SUPPORTED_NODE = [22, 24, 26] as const;

type Labels = Readonly<Record<string, string>>;

/** The parts of objects the zqueue checks read (the schema check has vouched for their types). */
interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  spec?: {
    clusterIP?: string;
    replicas?: number;
    ports?: { name?: string; port?: number }[];
    selector?: { matchLabels?: Labels };
    template?: { metadata?: { labels?: Labels }; spec?: PodSpec };
    podSelector?: { matchLabels?: Labels };
    policyTypes?: string[];
    ingress?: IngressRule[];
  };
}
interface IngressRule {
  from?: { podSelector?: { matchLabels?: Labels }; namespaceSelector?: { matchLabels?: Labels }; ipBlock?: unknown }[];
  ports?: { port?: number | string }[];
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: { seccompProfile?: { type?: string } };
  topologySpreadConstraints?: { topologyKey?: string }[];
  affinity?: { podAntiAffinity?: unknown };
  containers?: Container[];
}
interface Container {
  name?: string;
  image?: string;
  args?: string[];
  ports?: { name?: string; containerPort?: number }[];
  securityContext?: { seccompProfile?: { type?: string } };
  readinessProbe?: { httpGet?: { path?: string; port?: number | string } };
  livenessProbe?: { httpGet?: { path?: string; port?: number | string } };
  lifecycle?: { preStop?: { exec?: { command?: string[] } } };
}

/** Whether `labels` has every pair of `selector` (an empty selector selects all). */
function selects(selector: Labels | undefined, labels: Labels | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
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
  const budgets = objects.filter((x) => x.o.kind === 'PodDisruptionBudget').map((x) => x.o);
  const policies = objects.filter((x) => x.o.kind === 'NetworkPolicy').map((x) => x.o);
  const workloads = objects.filter((x) => x.o.spec?.template?.spec !== undefined);
  for (const { where, o } of workloads) {
    const pod = o.spec?.template?.spec ?? {};
    const labels = o.spec?.template?.metadata?.labels;
    for (const c of pod.containers ?? [])
      problems.push(...checkContainer(`${where}, container ${c.name ?? '?'}`, c, pod, services, o.metadata?.namespace ?? 'default'));
    problems.push(
      ...checkHardening(
        where,
        o,
        pod,
        labels,
        budgets,
        policies,
        workloads.map((w) => w.o),
      ),
    );
  }
  return problems;
}

/** What a hardened cluster asks of a workload. */
function checkHardening(
  where: string,
  o: K8sObject,
  pod: PodSpec,
  labels: Labels | undefined,
  budgets: readonly K8sObject[],
  policies: readonly K8sObject[],
  workloads: readonly K8sObject[],
): string[] {
  const problems: string[] = [];
  const containers = pod.containers ?? [];
  const seccomp =
    pod.securityContext?.seccompProfile?.type === 'RuntimeDefault' ||
    (containers.length > 0 && containers.every((c) => c.securityContext?.seccompProfile?.type === 'RuntimeDefault'));
  if (!seccomp)
    problems.push(
      `${where}: set securityContext.seccompProfile.type RuntimeDefault (the "restricted" Pod Security Standard refuses the pod without it)`,
    );
  if (
    (o.spec?.replicas ?? 1) > 1 &&
    !(pod.topologySpreadConstraints ?? []).some((t) => t.topologyKey === 'kubernetes.io/hostname') &&
    pod.affinity?.podAntiAffinity === undefined
  ) {
    problems.push(
      `${where}: spread its ${o.spec?.replicas ?? 1} replicas over nodes (topologySpreadConstraints on kubernetes.io/hostname, or podAntiAffinity): else one node's loss may take them all`,
    );
  }
  if (!budgets.some((b) => selects(b.spec?.selector?.matchLabels, labels)))
    problems.push(`${where}: no PodDisruptionBudget selects its pods`);
  for (const c of containers) {
    const image = c.image ?? '';
    const first = image.split('/')[0] ?? '';
    const registry = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
    const version = /@sha256:[0-9a-f]{64}$/.test(image) || (/:[^/:@]+$/.test(image) && !image.endsWith(':latest'));
    if (!registry || !version)
      problems.push(
        `${where}, container ${c.name ?? '?'}: name the image with its registry and a version or digest (REGISTRY/NAME:VERSION), got ${JSON.stringify(image)}`,
      );
  }
  // A plaintext backend: only the servers may reach it.
  for (const c of containers) {
    const [name, ...rest] = c.args ?? [];
    if (name !== 'device' && name !== 'serve') continue;
    const backend = flag(rest, 'backend') ?? (name === 'device' ? 'tcp://*:5560' : 'inproc');
    if (!backend.startsWith('tcp://') || flag(rest, 'backend-curve-secret-key') !== undefined) continue;
    const port = Number(backend.split(':').pop());
    const named = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
    const servers = workloads
      .filter((w) => (w.spec?.template?.spec?.containers ?? []).some((x) => x.args?.[0] === 'server'))
      .map((w) => w.spec?.template?.metadata?.labels);
    const mine = policies.filter(
      (np) => selects(np.spec?.podSelector?.matchLabels, labels) && (np.spec?.policyTypes ?? ['Ingress']).includes('Ingress'),
    );
    const covers = (r: IngressRule): boolean =>
      r.ports === undefined || r.ports.some((p) => (typeof p.port === 'string' ? named.get(p.port) : p.port) === port);
    const onlyServers = (r: IngressRule): boolean =>
      (r.from ?? []).length > 0 &&
      (r.from ?? []).every(
        (f) =>
          f.ipBlock === undefined &&
          f.namespaceSelector === undefined &&
          f.podSelector !== undefined &&
          servers.some((l) => selects(f.podSelector?.matchLabels, l)),
      );
    const rules = mine.flatMap((np) => np.spec?.ingress ?? []).filter(covers);
    if (mine.length === 0 || !rules.every(onlyServers)) {
      problems.push(
        `${where}, container ${c.name ?? '?'}: its plaintext backend (port ${port}) must be reachable from the server pods only: a NetworkPolicy allowing it from them alone, or CURVE on the backend (--backend-curve-secret-key); whoever reaches it can join as a worker and read requests`,
      );
    }
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

/** How long a preStop `node -e "setTimeout(() => {}, MS)"` (or `sleep S`) waits, in ms; 0 for none. */
function preStopWaitMs(c: Container): number {
  const cmd = c.lifecycle?.preStop?.exec?.command ?? [];
  const js = /setTimeout\([^,]*,\s*(\d+)\)/.exec(cmd.join(' '));
  if (js !== null) return Number(js[1]);
  if (cmd[0] === 'sleep' && cmd[1] !== undefined) return Number(cmd[1]) * 1000;
  return 0;
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
      for (const [probe, path] of [
        ['readinessProbe', '/readyz'],
        ['livenessProbe', '/healthz'],
      ] as const) {
        const get = c[probe]?.httpGet;
        const probePort = typeof get?.port === 'string' ? named.get(get.port) : get?.port;
        if (get?.path !== path || probePort !== port) problems.push(`${where}: ${probe} should GET ${path} on the --metrics port ${port}`);
      }
    }
    const closeMs = Number(flag(rest, 'close-timeout') ?? 2000);
    const waitMs = preStopWaitMs(c);
    if ((pod.terminationGracePeriodSeconds ?? 30) * 1000 <= closeMs + waitMs) {
      problems.push(
        `${where}: terminationGracePeriodSeconds must outlast ${waitMs > 0 ? `the preStop wait (${waitMs} ms) and ` : ''}--close-timeout (${closeMs} ms)`,
      );
    }
  }
  if (name === 'server') {
    const health = flag(rest, 'health');
    if (health === undefined) problems.push(`${where}: zqueue server needs --health for its probes`);
    else {
      const port = Number(health.split(':').pop());
      const named = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
      for (const [probe, path] of [
        ['readinessProbe', '/readyz'],
        ['livenessProbe', '/healthz'],
      ] as const) {
        const get = c[probe]?.httpGet;
        const probePort = typeof get?.port === 'string' ? named.get(get.port) : get?.port;
        if (get?.path !== path || probePort !== port) problems.push(`${where}: ${probe} should GET ${path} on the --health port ${port}`);
      }
    }
  }
  for (const e of (flag(rest, 'connect') ?? flag(rest, 'join') ?? '').split(',').filter((x) => x.startsWith('dns:'))) {
    const t = parseDnsEndpoint(e);
    const svc = services.find((s) =>
      [
        `${s.metadata?.name ?? ''}.${s.metadata?.namespace ?? namespace}.svc.cluster.local`,
        `${s.metadata?.name ?? ''}.${s.metadata?.namespace ?? namespace}.svc`,
      ].includes(t.name),
    );
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
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const problems: string[] = [];
  const froms = lines.filter((l) => /^FROM\s/i.test(l));
  if (froms.length < 2) problems.push('Dockerfile: build in one stage and run in another (multi-stage)');
  const base = /^FROM\s+node:(\d+)-slim\b/i.exec(froms[froms.length - 1] ?? '');
  if (base === null || !(SUPPORTED_NODE as readonly number[]).includes(Number(base[1]))) {
    problems.push(`Dockerfile: the image runs on a supported LTS line's slim image (node:${SUPPORTED_NODE.join('-slim, node:')}-slim)`);
  }
  const user = lines.filter((l) => /^USER\s/i.test(l)).pop();
  if (user === undefined || /^USER\s+(root|0)\b/i.test(user)) problems.push('Dockerfile: run as a non-root USER');
  if (!lines.some((l) => /^ENTRYPOINT\s+\[.*cli\.js"\]/i.test(l))) problems.push('Dockerfile: ENTRYPOINT runs zqueue (dist/src/cli.js)');
  return problems;
}

/** Every metric name the --metrics endpoint exports (zqueue's and prom-client's process and Node ones). */
export function exportedMetrics(): Set<string> {
  const registry = new Registry();
  defineMetrics(registry, () => {
    throw new Error('not scraped');
  });
  return new Set(registry.getMetricsAsArray().map((m) => m.name));
}

/** The metric names a PromQL expression reads: what is left once strings, selectors, ranges, groupings and calls are taken out. */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
  const names: string[] = [];
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = m[0];
    const after = bare.slice((m.index ?? 0) + name.length).trimStart();
    if (after.startsWith('(') || keywords.has(name.toLowerCase())) continue;
    names.push(name);
  }
  return names;
}

function checkQuery(where: string, expr: unknown, exported: ReadonlySet<string>): string[] {
  if (typeof expr !== 'string' || expr.trim() === '') return [`${where}: no query`];
  const names = metricNames(expr);
  if (names.length === 0) return [`${where}: "${expr}" reads no metric`];
  return names.filter((n) => !exported.has(n)).map((n) => `${where}: "${n}" is not a metric zqueue exports`);
}

/** Problems with the Grafana dashboard (JSON) and its alert rules (Grafana's provisioning YAML). */
export function checkGrafana(dashboardText: string, alertsText: string, exported: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  let dashboard: { uid?: unknown; title?: unknown; panels?: unknown };
  try {
    dashboard = JSON.parse(dashboardText) as typeof dashboard;
  } catch (err) {
    return [`grafana/zqueue.json: not JSON: ${err instanceof Error ? err.message : String(err)}`];
  }
  if (typeof dashboard.uid !== 'string' || typeof dashboard.title !== 'string')
    problems.push('grafana/zqueue.json: a dashboard has a uid and a title');
  const panels = Array.isArray(dashboard.panels) ? (dashboard.panels as { title?: string; targets?: { expr?: unknown }[] }[]) : [];
  if (panels.length === 0) problems.push('grafana/zqueue.json: no panels');
  for (const panel of panels) {
    const targets = panel.targets ?? [];
    if (targets.length === 0) problems.push(`grafana/zqueue.json: panel "${panel.title ?? '?'}" has no query`);
    for (const t of targets) problems.push(...checkQuery(`grafana/zqueue.json: panel "${panel.title ?? '?'}"`, t.expr, exported));
  }
  let alerts: { groups?: { rules?: { title?: string; condition?: string; data?: { refId?: string; model?: { expr?: unknown } }[] }[] }[] };
  try {
    alerts = (parseAllDocuments(alertsText)[0]?.toJS() ?? {}) as typeof alerts;
  } catch (err) {
    return [...problems, `grafana/alerts.yaml: not YAML: ${err instanceof Error ? err.message : String(err)}`];
  }
  const rules = (alerts.groups ?? []).flatMap((g) => g.rules ?? []);
  const read = new Set<string>();
  for (const rule of rules) {
    const where = `grafana/alerts.yaml: rule "${rule.title ?? '?'}"`;
    const data = rule.data ?? [];
    if (!data.some((d) => d.refId === rule.condition)) problems.push(`${where}: its condition names no query of the rule`);
    for (const d of data) {
      if (d.model?.expr === undefined) continue;
      problems.push(...checkQuery(where, d.model.expr, exported));
      if (typeof d.model.expr === 'string') for (const n of metricNames(d.model.expr)) read.add(n);
    }
  }
  if (!read.has('zqueue_queue_oldest_seconds'))
    problems.push('grafana/alerts.yaml: no alert for a standing queue (zqueue_queue_oldest_seconds)');
  if (!read.has('zqueue_requests_shed_total'))
    problems.push('grafana/alerts.yaml: no alert for shed requests (zqueue_requests_shed_total)');
  return problems;
}

function main(): number {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const dir = join(root, 'deploy', 'kubernetes');
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => ({ name: join('deploy', 'kubernetes', f), text: readFileSync(join(dir, f), 'utf8') }));
  const grafana = join(root, 'deploy', 'grafana');
  const problems = [
    ...checkManifests(files),
    ...checkDockerfile(readFileSync(join(root, 'deploy', 'Dockerfile'), 'utf8')),
    ...checkGrafana(
      readFileSync(join(grafana, 'zqueue.json'), 'utf8'),
      readFileSync(join(grafana, 'alerts.yaml'), 'utf8'),
      exportedMetrics(),
    ),
  ];
  for (const p of problems) console.error(`deploy:check: ${p}`);
  if (problems.length === 0)
    console.log(`deploy:check: ${files.map((f) => f.name).join(', ')}, deploy/Dockerfile and deploy/grafana/ are valid`);
  return problems.length === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main();
