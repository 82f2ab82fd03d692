#!/usr/bin/env bash
# Throughput through one device and through two, with the same two servers
# (zqueue server --connect A,B, which serve both), in one run: zqueue bench
# --connect A, then --connect A,B (clients spread over both). Writes
# results/devices.md. Usage: scripts/devices.sh [SECONDS] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
clients=${2:-100}
cli="node dist/src/cli.js"
base=$((40000 + RANDOM % 10000))
a_front=$base a_back=$((base + 1)) b_front=$((base + 2)) b_back=$((base + 3))
pids=()
$cli device --policy least-busy --frontend "tcp://127.0.0.1:$a_front" --backend "tcp://127.0.0.1:$a_back" 2>/dev/null & pids+=($!)
$cli device --policy least-busy --frontend "tcp://127.0.0.1:$b_front" --backend "tcp://127.0.0.1:$b_back" 2>/dev/null & pids+=($!)
sleep 1
for i in 1 2; do $cli server --connect "tcp://127.0.0.1:$a_back,tcp://127.0.0.1:$b_back" --handler examples/echo.js 2>/dev/null & pids+=($!); done
sleep 2
row() {
  local label=$1 json=$2
  node -e 'const d=JSON.parse(process.argv[1]);const l=d.latency;console.log(`| ${process.argv[2]} | ${d.throughput_rps} | ${(l.p50_us/1000).toFixed(2)} | ${(l.p99_us/1000).toFixed(2)} | ${d.errors} | ${d.timeouts} |`)' "$json" "$label"
}
one=$($cli bench --connect "tcp://127.0.0.1:$a_front" --clients "$clients" --duration "$secs" --json 2>/dev/null | tail -1)
two=$($cli bench --connect "tcp://127.0.0.1:$a_front,tcp://127.0.0.1:$b_front" --clients "$clients" --duration "$secs" --json 2>/dev/null | tail -1)
kill "${pids[@]}" 2>/dev/null || true
wait 2>/dev/null || true
{
  echo "# One device or two, with the same servers"
  echo
  echo "$(date -u +%FT%TZ), git $(git rev-parse --short HEAD), $clients closed-loop clients (zqueue bench), $secs s each, two zqueue servers serving both devices (zqueue server --connect A,B), all on this machine over tcp; one run."
  echo
  echo "| through | req/s | p50 ms | p99 ms | errors | timeouts |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  row "one device" "$one"
  row "two devices (clients spread over both)" "$two"
} > results/devices.md
cat results/devices.md
