/**
 * `node dist/scripts/prof-top.js DIR [N]`: for each .cpuprofile in DIR
 * (largest first), the share of samples per function by self time, top N
 * (default 25). A quick look before opening a flame chart.
 */
import { parseArgs } from 'node:util';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function top(file: string, n: number): string[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const f = byId.get(id)?.callFrame;
    const key =
      f === undefined
        ? '?'
        : `${f.functionName === '' ? '(anonymous)' : f.functionName} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    const dt = p.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  const lines = [`== ${file} (${(total / 1e6).toFixed(1)} s sampled)`];
  for (const [key, t] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    lines.push(`${((t / total) * 100).toFixed(1).padStart(5)} %  ${key}`);
  }
  return lines;
}

const [dir, count] = parseArgs({ allowPositionals: true, options: {} }).positionals;
if (dir === undefined) {
  console.error('usage: node dist/scripts/prof-top.js DIR [N]');
  process.exitCode = 2;
} else {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  for (const f of files) console.log(top(f, Number(count ?? 25)).join('\n'));
}
