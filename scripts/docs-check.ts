/**
 * `npm run lint` (part of): every link in the project's Markdown resolves.
 * README.md, CHANGELOG.md, docs/*.md and results/*.md: a relative link must
 * name a file or folder that exists, and a `#fragment` (on its own or after a
 * Markdown file) a heading of that file, as GitHub makes its anchors. Links
 * to other sites are not fetched. Also: README.md has at most 400 lines, and
 * its first 30 name the two commands for a fresh machine.
 * Exit 0 when all holds, 1 naming each broken link.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown file's headings (a repeated heading gets -1, -2, …), outside code blocks. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m === null) continue;
    const base = slug(m[1] ?? '');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The link targets of a Markdown file (inline links and images), outside code blocks and code spans. */
export function links(markdown: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const text = line.replace(/`[^`]*`/g, '');
    for (const m of text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push(m[1] ?? '');
  }
  return out;
}

/** Each broken link of `file` (relative to `root`), as a line saying why. */
export function brokenLinks(root: string, file: string): string[] {
  const path = join(root, file);
  const text = readFileSync(path, 'utf8');
  const problems: string[] = [];
  for (const target of links(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // another site, mailto:, …
    const [ref = '', fragment] = target.split('#', 2);
    const dest = ref === '' ? path : resolve(dirname(path), decodeURIComponent(ref));
    if (!existsSync(dest)) {
      problems.push(`${file}: ${target}: no such file (${relative(root, dest)})`);
      continue;
    }
    if (fragment === undefined || fragment === '') continue;
    if (statSync(dest).isDirectory() || !dest.endsWith('.md')) continue;
    if (!anchors(readFileSync(dest, 'utf8')).has(fragment))
      problems.push(`${file}: ${target}: ${relative(root, dest)} has no heading #${fragment}`);
  }
  return problems;
}

/** The Markdown files checked, relative to `root`. */
export function markdownFiles(root: string): string[] {
  const inDir = (dir: string): string[] =>
    existsSync(join(root, dir))
      ? readdirSync(join(root, dir))
          .filter((f) => f.endsWith('.md'))
          .map((f) => join(dir, f))
      : [];
  return ['README.md', 'CHANGELOG.md', ...inDir('docs'), ...inDir('results')].filter((f) => existsSync(join(root, f)));
}

/** What README.md must be: short, and the two commands first. */
export function readmeProblems(readme: string): string[] {
  const lines = readme.split('\n');
  const problems: string[] = [];
  if (lines.length > 400) problems.push(`README.md: ${lines.length} lines (at most 400)`);
  const head = lines.slice(0, 30).join('\n');
  for (const command of ['npm ci && npm run bench', 'npm ci && npm test'])
    if (!head.includes(command)) problems.push(`README.md: "${command}" is not in its first 30 lines`);
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const files = markdownFiles(root);
  const problems = [...files.flatMap((f) => brokenLinks(root, f)), ...readmeProblems(readFileSync(join(root, 'README.md'), 'utf8'))];
  for (const p of problems) console.error(`docs-check: ${p}`);
  if (problems.length === 0) console.log(`docs-check: ${files.length} Markdown files, every link resolves`);
  process.exitCode = problems.length === 0 ? 0 : 1;
}
