/**
 * bench:check --against REF measures a ref and the working tree side by side
 * in one run: with a known slowdown injected into the tree's device, it calls
 * a regression (and builds and removes the ref's worktree on its way).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, run, tempDir, removeTempDirs, within } from './helpers.js';

describe('bench:check --against', () => {
  it('calls a synthetic slowdown of the working tree against HEAD a regression', async () => {
    const out = tempDir();
    const p = run(process.execPath, [join(ROOT, 'dist', 'scripts', 'check.js'), '--against', 'HEAD', '--transports', 'tcp', '--repeats', '3', '--inject-us', '200', '--quiet', '--out', out]);
    const code = await within(300_000, 'bench:check --against', p.exited);
    assert.equal(code, 1, p.stderr());
    assert.match(p.stdout(), /tcp\/js\/100c\/16B throughput_vs_direct .* \*\*REGRESSED\*\*/);
    assert.match(p.stdout(), /the working tree against HEAD/);
    const worktrees = execFileSync('git', ['worktree', 'list'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n');
    assert.equal(worktrees.length, 1, `the ref's worktree is gone: ${worktrees.join('; ')}`);
    removeTempDirs();
  });
});
