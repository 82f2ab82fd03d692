/**
 * `npm run lint` (part of): the shape of src/'s imports.
 * - No circle: no module imports one that (directly or not) imports it.
 * - No import runs back up: the folders form layers. A folder's modules may
 *   use the folders it contains and the modules beside it, but if folder A
 *   uses folder B, nothing in B uses A (src/ itself counts as a folder).
 * - No line in src/ is longer than MAX_LINE characters.
 * Exit 0 when all holds, 1 naming each problem.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MAX_LINE = 140;

/** The .ts files under `dir`, as paths relative to `root`. */
function files(root: string, dir = root): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...files(root, path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(relative(root, path));
  }
  return out.sort();
}

/** Each module's local imports (type-only ones included: they are dependencies of the design too). */
export function importGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files(root)) {
    const text = readFileSync(join(root, file), 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g)) {
      const spec = m[1] ?? m[2];
      if (spec === undefined) continue;
      deps.push(relative(root, resolve(root, dirname(file), spec)).replace(/\.js$/, '.ts'));
    }
    for (const m of text.matchAll(/(?:^|\n)\s*import\s+'(\.[^']+)'/g))
      deps.push(relative(root, resolve(root, dirname(file), m[1] ?? '')).replace(/\.js$/, '.ts'));
    graph.set(file, [...new Set(deps)]);
  }
  return graph;
}

/** Every circle of modules (each once, from its first module in order). */
export function circles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const seen = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      if (!graph.has(d)) continue;
      if (state.get(d) === 'open') {
        const circle = stack.slice(stack.indexOf(d));
        const key = [...circle].sort().join(' ');
        if (!seen.has(key)) {
          seen.add(key);
          found.push([...circle, d]);
        }
      } else if (state.get(d) === undefined) visit(d);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of graph.keys()) if (state.get(n) === undefined) visit(n);
  return found;
}

/**
 * Imports that run back up. At every level, take a folder's children: its
 * modules, and its subfolders each as one whole. Their dependencies must form
 * no circle: if a subfolder uses a module beside it (or another subfolder),
 * that module must not use the subfolder back. (`services.ts → device/counters.ts`
 * while device/ uses services.ts is such an import.)
 */
export function backUp(graph: Map<string, string[]>): string[] {
  const folders = new Set<string>(['.']);
  for (const f of graph.keys()) for (let d = dirname(f); d !== '.'; d = dirname(d)) folders.add(d);
  const problems: string[] = [];
  for (const folder of folders) {
    const prefix = folder === '.' ? '' : `${folder}/`;
    /** The child of `folder` that holds `file`, or undefined when the file is not under `folder`. */
    const childOf = (file: string): string | undefined => {
      if (!file.startsWith(prefix)) return undefined;
      const rest = file.slice(prefix.length);
      const slash = rest.indexOf('/');
      return slash < 0 ? rest : `${rest.slice(0, slash)}/`;
    };
    const edges = new Map<string, Map<string, string>>();
    for (const [file, deps] of graph) {
      const a = childOf(file);
      if (a === undefined) continue;
      for (const d of deps) {
        const b = childOf(d);
        if (b === undefined || b === a) continue;
        const m = edges.get(a) ?? new Map<string, string>();
        if (!m.has(b)) m.set(b, `${file} → ${d}`);
        edges.set(a, m);
      }
    }
    const level = new Map<string, string[]>([...edges].map(([a, m]) => [a, [...m.keys()]]));
    for (const c of circles(level)) {
      const steps = c.slice(0, -1).map((a, i) => edges.get(a)?.get(c[i + 1] ?? '') ?? '');
      problems.push(`in ${folder === '.' ? 'src' : `src/${folder}`}: ${c.join(' → ')} (${steps.join('; ')})`);
    }
  }
  return problems;
}

export function longLines(root: string, max = MAX_LINE): string[] {
  const out: string[] = [];
  for (const file of files(root)) {
    readFileSync(join(root, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (line.length > max) out.push(`${file}:${i + 1}: ${line.length} characters (at most ${max})`);
      });
  }
  return out;
}

function main(): number {
  const root = join(fileURLToPath(new URL('../..', import.meta.url)), 'src');
  const graph = importGraph(root);
  const problems = [
    ...circles(graph).map((c) => `a circle: ${c.join(' → ')}`),
    ...backUp(graph).map((p) => `an import runs back up: ${p}`),
    ...longLines(root),
  ];
  for (const p of problems) console.error(`imports-check: ${p}`);
  if (problems.length === 0)
    console.log(`imports-check: ${graph.size} modules in src/: no circle, no import back up, no line over ${MAX_LINE} characters`);
  return problems.length === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main();
