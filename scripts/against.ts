/**
 * `npm run bench:check` (the default) and `-- --against REF`: this tree
 * against a base ref, side by side in one process (bench/lib/side-by-side.ts):
 * the ref is checked out into a temporary worktree and built with this tree's
 * node_modules, both builds run a least-busy broker, and the same load at a
 * fixed rate goes to each in turn. On shared CI runners, whose speed differs
 * from run to run, this is the comparison that holds; a committed baseline
 * holds only on the machine it was measured on.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkMarkdown, type CheckResult, type Comparison, type GateOptions } from '../bench/lib/gate.js';
import { sideBySide, type Injection, type SideBySideResult } from '../bench/lib/side-by-side.js';

export interface AgainstOptions {
  readonly ref: string;
  readonly rateRps: number;
  readonly windowMs: number;
  readonly minPairs: number;
  readonly maxPairs: number;
  /** A slowdown injected into this tree's device (proving the gate sees one). */
  readonly inject?: Injection;
  readonly quiet: boolean;
}

/** Checks out `ref` into a temporary folder, builds it with this tree's dependencies, and returns its folder. */
export function checkout(ref: string): string {
  const root = resolve('.');
  const dir = mkdtempSync(join(tmpdir(), 'zqueue-against-'));
  execFileSync('git', ['worktree', 'add', '--detach', '--force', dir, ref], { stdio: 'ignore' });
  try {
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { stdio: 'inherit' });
  } catch (err) {
    removeCheckout(dir);
    throw err;
  }
  return dir;
}

export function removeCheckout(dir: string): void {
  try {
    execFileSync('git', ['worktree', 'remove', '--force', dir], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  rmSync(dir, { recursive: true, force: true });
  execFileSync('git', ['worktree', 'prune'], { stdio: 'ignore' });
}

/** Whether `ref` names a commit here (a shallow clone has no parent of its only commit). */
export function commitExists(ref: string): boolean {
  try {
    execFileSync('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function against(o: AgainstOptions, g: GateOptions): Promise<CheckResult> {
  const sha = execFileSync('git', ['rev-parse', '--short', o.ref], { encoding: 'utf8' }).trim();
  const dir = checkout(o.ref);
  let r: SideBySideResult;
  try {
    r = await sideBySide({
      refDir: dir,
      rateRps: o.rateRps,
      windowMs: o.windowMs,
      minPairs: o.minPairs,
      maxPairs: o.maxPairs,
      gate: g,
      ...(o.inject !== undefined ? { inject: o.inject } : {}),
      onWindow: (side, pair) => {
        if (!o.quiet) process.stderr.write(`against ${sha}: pair ${pair + 1}, ${side}\n`);
      },
    });
  } finally {
    removeCheckout(dir);
  }
  const inj = r.injected;
  const note = [
    `Run of ${new Date().toISOString()}: this tree against ${o.ref} (${sha}), side by side in one process on this machine:`,
    `${r.ref.length} pairs of ${o.windowMs} ms windows (ABBA) at ${o.rateRps} req/s offered, least-busy over tcp, 2 echo workers.`,
    `Requests answered a second: base ${median(r.ref.map((f) => f.rps))}, tree ${median(r.tree.map((f) => f.rps))}.`,
    inj === undefined
      ? ''
      : `Injected into the tree's device: ${(inj.fraction * 100).toFixed(0)} % of the base's main-thread CPU per request as ${inj.kind === 'busy' ? `a busy wait of ${inj.us.toFixed(1)} µs` : `${inj.units} allocations (${inj.us.toFixed(1)} µs)`} per request.`,
  ]
    .filter((l) => l !== '')
    .join(' ');
  const info = r.info.map((c) => `- ${c.key}: ${summary(c)} (reported, not judged: it spreads ±20 % between windows of one build)`);
  const markdown = `${checkMarkdown(r.rows, g, note)}\n${info.join('\n')}\n\n${verdictLine(r.rows, r.regressed, sha, r.ref.length)}\n`;
  return { rows: [...r.rows], regressed: r.regressed, markdown };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function summary(c: Comparison): string {
  const pct = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)} %`;
  return c.change === undefined || c.interval === undefined ? c.verdict : `${pct(c.change)} [${pct(c.interval[0])}, ${pct(c.interval[1])}]`;
}

/** The one line a CI step summary or a pull-request comment shows. */
export function verdictLine(rows: readonly Comparison[], regressed: boolean, sha: string, pairs: number): string {
  const figures = rows
    .map((c) => `${c.key.replace(' main_thread_us_per_req', ': device main-thread CPU a request')} ${summary(c)}`)
    .join('; ');
  return `**zqueue gate: ${regressed ? 'REGRESSION' : 'no regression'}** against ${sha} (${pairs} pairs; negative is worse): ${figures}.`;
}
