#!/usr/bin/env bash
# The package as a user gets it: pack the tarball, install it into a fresh ESM
# TypeScript project, type-check that project with --strict, then run a broker
# and a client from it, the `zqueue` binary, and a CommonJS file that loads
# zqueue with import(). Run by .ci/run; `npm run test:package` runs it alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$root"
tgz="$(npm pack --silent --pack-destination "$work" | tail -1)"
echo "package-check: packed $tgz"
for f in LICENSE CHANGELOG.md README.md dist/src/index.js dist/src/index.d.ts dist/src/cli.js; do
  tar -tzf "$work/$tgz" "package/$f" >/dev/null || { echo "package-check: $f is missing from the tarball" >&2; exit 1; }
done
if tar -tzf "$work/$tgz" | grep -E '^package/(dist/(test|bench|scripts)/|test/|src/|bench/|results/)' >/dev/null; then
  echo "package-check: the tarball carries files a user does not need:" >&2
  tar -tzf "$work/$tgz" | grep -E '^package/(dist/(test|bench|scripts)/|test/|src/|bench/|results/)' | head >&2
  exit 1
fi

mkdir "$work/app" && cd "$work/app"
ts="$(node -p "require('$root/package.json').devDependencies.typescript")"
cat > package.json <<'JSON'
{ "name": "zqueue-consumer", "version": "1.0.0", "private": true, "type": "module" }
JSON
npm install --silent --no-audit --no-fund --prefer-offline "$work/$tgz" "typescript@$ts" "@types/node@20"

cat > tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "strict": true,
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "outDir": "out",
    "skipLibCheck": false
  },
  "include": ["main.ts"]
}
JSON
cat > handler.js <<'JS'
export default function echo(request, { deadline }) {
  return ['echo', ...request, deadline === undefined ? 'no deadline' : 'deadline'];
}
JS
cat > main.ts <<'TS'
import { fileURLToPath } from 'node:url';
import { createBroker, createClient, connectUrlFor, ZqueueError, ErrorCode, type BrokerOptions, type RequestContext } from 'zqueue';

const options: BrokerOptions = { handler: fileURLToPath(new URL('../handler.js', import.meta.url)), threads: 1, frontend: 'tcp://127.0.0.1:*' };
const broker = await createBroker(options);
const client = createClient({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 5000 });
try {
  const reply: Buffer[] = await client.request('hello');
  const text = reply.map((f) => f.toString()).join(' ');
  if (text !== 'echo hello deadline') throw new Error(`unexpected reply: ${text}`);
  console.log(`package-check: a broker answered "${text}"`);
  try {
    createClient({ endpoint: 'foo://nowhere' });
    throw new Error('a bad endpoint was accepted');
  } catch (err) {
    if (!(err instanceof ZqueueError) || err.code !== ErrorCode.InvalidEndpoint) throw err;
  }
  const context: RequestContext | undefined = undefined;
  void context;
} finally {
  client.close();
  await broker.close();
}
TS
npx tsc -p .
node out/main.js
npx zqueue --help | grep -q 'Usage: zqueue <command>' || { echo 'package-check: the zqueue binary did not print its help' >&2; exit 1; }

# CommonJS: an ESM-only package is loaded with import().
cat > cjs.cjs <<'JS'
import('zqueue').then(({ resolveClientOptions }) => {
  if (resolveClientOptions({ endpoint: 'tcp://127.0.0.1:5559' }).timeoutMs <= 0) process.exitCode = 1;
  console.log('package-check: CommonJS loads zqueue with import()');
});
JS
node cjs.cjs
echo "package-check: ok"
