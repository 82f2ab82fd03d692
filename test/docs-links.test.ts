/**
 * The docs' link check (scripts/docs-check.ts, in npm run lint): it finds a
 * missing file and a missing heading, takes GitHub's anchors, and passes on
 * the project's own Markdown.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { anchors, brokenLinks, markdownFiles, readmeProblems, slug } from '../scripts/docs-check.js';
import { ROOT, tempDir, removeTempDirs } from './helpers.js';

describe('docs link check', () => {
  it("makes GitHub's anchors, numbering a repeated heading", () => {
    assert.equal(slug('Every core: `zqueue serve`'), 'every-core-zqueue-serve');
    assert.equal(slug("Against NATS and libzmq's C proxy"), 'against-nats-and-libzmqs-c-proxy');
    assert.equal(slug('close() and drain()'), 'close-and-drain');
    assert.deepEqual([...anchors('# A\n## B\n```\n# not a heading\n```\n## B\n')], ['a', 'b', 'b-1']);
  });

  it('finds a missing file and a missing heading, and ignores links in code and to other sites', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'docs'));
    writeFileSync(join(dir, 'docs', 'a.md'), '# A\n## Here\n');
    writeFileSync(
      join(dir, 'README.md'),
      [
        '[ok](docs/a.md#here) [self](#top) [web](https://example.org/x#y)',
        '[gone](docs/b.md) [no heading](docs/a.md#there)',
        '`[in code](nowhere.md)`',
        '# Top',
      ].join('\n'),
    );
    assert.deepEqual(brokenLinks(dir, 'README.md'), [
      'README.md: docs/b.md: no such file (docs/b.md)',
      'README.md: docs/a.md#there: docs/a.md has no heading #there',
    ]);
    removeTempDirs();
  });

  it("holds for the project's README, docs and results", () => {
    const files = markdownFiles(ROOT);
    assert.ok(files.includes('README.md') && files.some((f) => f.startsWith('docs/')));
    assert.deepEqual(
      files.flatMap((f) => brokenLinks(ROOT, f)),
      [],
    );
    assert.deepEqual(readmeProblems('x\n'.repeat(401)).length, 3, 'too long, and neither command');
  });
});
