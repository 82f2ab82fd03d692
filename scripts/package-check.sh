#!/usr/bin/env bash
# The package as a user gets it: pack the tarball, install it into a fresh ESM
# TypeScript project, type-check that project with --strict, then run a broker
# and a client from it, the `zqueue` binary, and CommonJS files that load
# zqueue with import() and with require(). Run by .ci/run; `npm run
# test:package` runs it alone.
#   scripts/package-check.sh [MAJOR...]   on each Node.js line given (fetched by
#                                          scripts/node-line.sh); none: this node
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

consumer() {
  local app="$1"
  mkdir "$app" && cd "$app"
  echo "package-check: on Node.js $(node --version)"
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
import { createBroker, createClient, connectUrlFor, ZqueueError, ErrorCode, type BrokerOptions, type RequestContext } from 'zqueue';

// A handler beside this module, as a URL (paths relative to the working directory work too).
const options: BrokerOptions = { handler: new URL('../handler.js', import.meta.url), threads: 1, frontend: 'tcp://127.0.0.1:*' };
const broker = await createBroker(options);
const client = createClient({ endpoint: connectUrlFor(broker.frontendEndpoint), timeoutMs: 5000 });
try {
  // Concurrent requests on one client, each with its own reply.
  const replies: Buffer[][] = await Promise.all(['hello', 'world'].map((body) => client.request(body)));
  const text = replies.map((r) => r.map((f) => f.toString()).join(' ')).join(' / ');
  if (text !== 'echo hello deadline / echo world deadline') throw new Error(`unexpected replies: ${text}`);
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
  await client.close();
  await broker.close();
}
TS
  npx tsc -p .
  node out/main.js
  npx zqueue --version | grep -qx "$(node -p "require('$root/package.json').version")" || { echo 'package-check: zqueue --version did not print the package version' >&2; exit 1; }
  npx zqueue --help | grep -q 'Usage: zqueue <command>' || { echo 'package-check: the zqueue binary did not print its help' >&2; exit 1; }

  # CommonJS: an ESM-only package is loaded with import(), and with require() where Node.js takes an ES module (20.19 and 22.12 on).
  cat > cjs.cjs <<'JS'
import('zqueue').then(({ resolveClientOptions }) => {
  if (resolveClientOptions({ endpoint: 'tcp://127.0.0.1:5559' }).timeoutMs <= 0) process.exitCode = 1;
  console.log('package-check: CommonJS loads zqueue with import()');
});
JS
  node cjs.cjs
  cat > require.cjs <<'JS'
const { resolveClientOptions } = require('zqueue');
if (resolveClientOptions({ endpoint: 'tcp://127.0.0.1:5559' }).timeoutMs <= 0) process.exitCode = 1;
console.log('package-check: CommonJS loads zqueue with require()');
JS
  node require.cjs 2>/dev/null
  cd "$root"
}

if [ "$#" -eq 0 ]; then
  consumer "$work/app"
else
  for major in "$@"; do
    bin="$("$root/scripts/node-line.sh" "$major")"
    PATH="$bin:$PATH" consumer "$work/app-$major"
  done
fi
echo "package-check: ok"
