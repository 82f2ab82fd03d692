#!/usr/bin/env bash
# What each worker protocol costs, side by side in one run: zqueue bench
# --connect, 100 clients, against `zqueue device --policy least-busy` with two
# workers of each kind in turn: zqueue servers (zqueue's protocol, batches),
# zqueue servers as Majordomo workers (--service), and the pyzmq fixtures
# written from RFC 6 (Paranoid Pirate) and RFC 7 (Majordomo). Plain REQ
# clients reach the Majordomo workers through --plain-service. Writes
# results/protocols.md. Usage: scripts/protocols.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
cli="node dist/src/cli.js"
out=results/protocols.md
rows=()
run() { # label, plain-service ('' for none), worker command...
  local label=$1 plain=$2; shift 2
  local front=$((30000 + RANDOM % 10000)) back
  back=$((front + 1))
  local extra=()
  [ -n "$plain" ] && extra=(--plain-service "$plain")
  $cli device --policy least-busy --frontend "tcp://127.0.0.1:$front" --backend "tcp://127.0.0.1:$back" "${extra[@]}" 2>/dev/null &
  local dev=$!
  sleep 1
  local pids=()
  for i in 1 2; do eval "${*//BACK/tcp://127.0.0.1:$back}" >/dev/null 2>&1 & pids+=($!); done
  sleep 2
  local json
  json=$($cli bench --connect "tcp://127.0.0.1:$front" --clients 100 --duration "$secs" --json 2>/dev/null | tail -1)
  kill "${pids[@]}" 2>/dev/null || true
  kill "$dev"; wait "$dev" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  rows+=("$(node -e 'const d=JSON.parse(process.argv[1]);const l=d.latency;console.log(`| ${process.argv[2]} | ${d.throughput_rps} | ${(l.p50_us/1000).toFixed(2)} | ${(l.p99_us/1000).toFixed(2)} | ${d.errors} | ${d.timeouts} |`)' "$json" "$label")")
}
run "zqueue servers (zqueue protocol, batches)" "" "$cli server --connect BACK --handler examples/echo.js"
run "zqueue servers as Majordomo workers" "echo" "$cli server --connect BACK --handler examples/echo.js --service echo"
run "pyzmq Paranoid Pirate workers (RFC 6)" "" "/usr/bin/python3 test/fixtures/ppp_worker.py BACK w"
run "pyzmq Majordomo workers (RFC 7)" "echo" "/usr/bin/python3 test/fixtures/mdp_worker.py BACK echo w"
{
  echo "# Worker protocols through the least-busy device"
  echo
  echo "$(date -u +%FT%TZ), git $(git rev-parse --short HEAD), 100 closed-loop REQ clients (zqueue bench --connect), $secs s each, two workers of each kind over tcp; one run, the configurations in turn."
  echo
  echo "| workers | req/s | p50 ms | p99 ms | errors | timeouts |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${rows[@]}"
} > "$out"
cat "$out"
