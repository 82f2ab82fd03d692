/**
 * bench:check measures a base and this tree side by side in one process: with
 * a known slowdown injected into the tree's device it calls a regression, says
 * so in one line, and builds and removes the base's worktree on its way.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, run, tempDir, removeTempDirs, within } from './helpers.js';

describe('bench:check side by side', () => {
  it("calls a slowdown of half the base device's CPU a request a regression, in a table and one line", async () => {
    const out = tempDir();
    const worktreesNow = (): string[] =>
      execFileSync('git', ['worktree', 'list', '--porcelain'], { cwd: ROOT, encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.startsWith('worktree '));
    const before = worktreesNow();
    const p = run(process.execPath, [
      join(ROOT, 'dist', 'scripts', 'check.js'),
      '--against',
      'HEAD',
      '--inject',
      'busy:50',
      '--quiet',
      '--out',
      out,
    ]);
    const code = await within(300_000, 'bench:check --against', p.exited);
    assert.equal(code, 1, p.stderr());
    assert.match(p.stdout(), /least-busy tcp main_thread_us_per_req .* \*\*REGRESSED\*\*/);
    assert.match(p.stdout(), /this tree against HEAD .* side by side in one process/);
    assert.match(p.stdout(), /\*\*zqueue gate: REGRESSION\*\* against [0-9a-f]+ \(\d pairs; negative is worse\)/);
    assert.deepEqual(worktreesNow(), before, "the base's worktree is gone");
    removeTempDirs();
  });
});
