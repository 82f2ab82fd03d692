/**
 * `npm run bench:check -- --against REF`: the gate's cells measured for a
 * base ref and for the working tree on the same machine in one run, the two
 * sides interleaved (ref, tree, tree, ref, …), each repeat a fresh process of
 * that side's own harness (`dist/bench/run.js --json`). The verdict uses the
 * gate's statistics with the ref's samples as the baseline. On shared CI
 * runners, whose speed differs from run to run, this is the comparison that
 * holds; a committed baseline holds only on the machine it was measured on.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkMarkdown, compare, metricsOf, type CheckResult, type GateOptions } from '../bench/lib/gate.js';
import { checkRunResult, type CellResult, type CellRun } from '../bench/lib/results.js';
import { timeLeft } from '../bench/lib/progress.js';

export interface AgainstOptions {
  readonly ref: string;
  readonly repeats: number;
  readonly durationMs: number;
  readonly transports: readonly string[];
  /** µs of busy-work per request injected into the working tree's js device (for proving the gate sees a slowdown). */
  readonly injectUs: number;
  readonly quiet: boolean;
}

/** Checks out `ref` into a temporary folder beside no one's work, builds it with this tree's dependencies, and returns its folder. */
function checkout(ref: string): string {
  const root = resolve('.');
  const dir = mkdtempSync(join(tmpdir(), 'zqueue-against-'));
  execFileSync('git', ['worktree', 'add', '--detach', '--force', dir, ref], { stdio: 'ignore' });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { stdio: 'inherit' });
  return dir;
}

function remove(dir: string): void {
  try {
    execFileSync('git', ['worktree', 'remove', '--force', dir], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  rmSync(dir, { recursive: true, force: true });
  execFileSync('git', ['worktree', 'prune'], { stdio: 'ignore' });
}

/** One repeat of the gate's cells by a side's own harness, in a process of its own. */
async function measureSide(dir: string, o: AgainstOptions, inject: number): Promise<CellResult[]> {
  const args = [
    join(dir, 'dist', 'bench', 'run.js'),
    '--transport', o.transports.join(','),
    '--engine', 'direct,native,js,least-busy',
    '--clients', '100',
    '--size', '16',
    '--duration', String(o.durationMs),
    '--repeats', '1',
    '--scenario', 'throughput',
    '--json',
    '--no-write',
  ];
  const env = { ...process.env, ZQ_BENCH_INJECT_US: String(inject) };
  const child = spawn(process.execPath, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const last = out.trim().split('\n').pop() ?? '';
  if (last === '') throw new Error(`the harness at ${dir} printed no results (exit ${code})`);
  return [...checkRunResult(JSON.parse(last)).cells];
}

/** Concatenates the runs of each cell across repeats. */
function gather(into: Map<string, CellResult>, cells: readonly CellResult[]): void {
  for (const c of cells) {
    const had = into.get(c.id);
    if (c.status !== 'ok') throw new Error(`cell ${c.id} was not measured (${c.status})`);
    if (had === undefined || had.status !== 'ok') into.set(c.id, c);
    else into.set(c.id, { ...had, runs: [...had.runs, ...c.runs] as CellRun[] });
  }
}

export async function against(o: AgainstOptions, g: GateOptions): Promise<CheckResult> {
  if (!existsSync('node_modules')) throw new Error('run npm ci first: the ref is built with this tree\'s node_modules');
  const dir = checkout(o.ref);
  const sha = execFileSync('git', ['rev-parse', '--short', o.ref], { encoding: 'utf8' }).trim();
  const base = new Map<string, CellResult>();
  const tree = new Map<string, CellResult>();
  const started = performance.now();
  try {
    for (let r = 0; r < o.repeats; r++) {
      // ABBA order: whatever drifts during the run falls on both sides alike.
      const sides = r % 2 === 0 ? (['ref', 'tree'] as const) : (['tree', 'ref'] as const);
      for (const [i, side] of sides.entries()) {
        if (!o.quiet) {
          const left = timeLeft(r * 2 + i, o.repeats * 2, performance.now() - started);
          process.stderr.write(`against ${sha}: repeat ${r + 1}/${o.repeats}, ${side}${left === undefined ? '' : `, about ${left} left`}\n`);
        }
        if (side === 'ref') gather(base, await measureSide(dir, o, 0));
        else gather(tree, await measureSide('.', o, o.injectUs));
      }
    }
  } finally {
    remove(dir);
  }
  const rows = compare(metricsOf([...base.values()]), metricsOf([...tree.values()]), g);
  const note = `Run of ${new Date().toISOString()}: the working tree against ${o.ref} (${sha}), measured side by side on this machine, ${o.repeats} interleaved repeats of ${o.durationMs} ms per cell${o.injectUs > 0 ? `; ${o.injectUs} µs of busy-work injected per request into the working tree's js device` : ''}.`;
  const regressed = rows.some((r) => r.verdict === 'regressed' || r.verdict === 'missing');
  return { rows, regressed, markdown: checkMarkdown(rows, g, note) };
}
