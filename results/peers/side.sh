#!/bin/bash
# One run of one system under one load, side by side with the others (results/peers.md).
#   results/peers/side.sh CLIENTS SYSTEM     SYSTEM: c (libzmq's zmq_proxy + 2 C REP echo servers),
#                                            zq (zqueue serve on its defaults), nats (nats-server + 2 nats.js workers)
# Load: zqueue bench --connect (one REQ socket, one tcp connection, per client); MUX=1: one DEALER
# connection carrying CLIENTS requests in flight; for nats, nats.js clients, NCONN connections
# (default one per client). Prints: system clients req/s CPU-µs-per-request (broker plus workers,
# from /proc/PID/stat over 5 s of the measured time).
# Needs: gcc, libzmq3-dev, nats-server (Debian), and `npm run build` in the repository.
set -u
N=$1; SYS=$2
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
WORK=${ZQ_PEERS_DIR:-/tmp/zq-peers}; mkdir -p "$WORK"
[ -x "$WORK/proxy" ] || gcc -O2 -o "$WORK/proxy" "$HERE/proxy.c" -lzmq
[ -x "$WORK/echo" ] || gcc -O2 -o "$WORK/echo" "$HERE/echo.c" -lzmq
if [ "$SYS" = nats ] && [ ! -d "$WORK/node_modules/nats" ]; then (cd "$WORK" && npm init -y >/dev/null && npm install --no-audit --no-fund nats@2.29.3 >/dev/null); fi
cp "$HERE"/nats-*.mjs "$WORK/"
ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
pids=()
case $SYS in
  c) "$WORK/proxy" & pids+=($!); sleep 0.3; "$WORK/echo" & pids+=($!); "$WORK/echo" & pids+=($!); sleep 0.5 ;;
  zq) node "$ROOT/dist/src/cli.js" serve --handler "$ROOT/examples/echo.js" --frontend tcp://127.0.0.1:5559 2>/dev/null & pids+=($!); sleep 2.5 ;;
  nats) nats-server -a 127.0.0.1 -p 4222 >/dev/null 2>&1 & pids+=($!); sleep 0.5; for i in 1 2; do node "$WORK/nats-worker.mjs" > /dev/null & pids+=($!); done; sleep 1.5 ;;
esac
OUT=$WORK/out.json
if [ -n "${MUX:-}" ]; then node "$HERE/mux.mjs" "$N" 4000 9000 > "$OUT" &
elif [ "$SYS" = nats ]; then node "$WORK/nats-load.mjs" "$N" 4000 9000 "${NCONN:-$N}" > "$OUT" &
else node "$ROOT/dist/src/cli.js" bench --connect tcp://127.0.0.1:5559 --clients "$N" --duration 9 --json > "$OUT" 2>/dev/null &
fi
load=$!
sleep 4; a=$(ticks "${pids[@]}"); sleep 5; b=$(ticks "${pids[@]}")
wait $load
if [ "$SYS" = nats ] || [ -n "${MUX:-}" ]; then rps=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).rps)' "$OUT")
else rps=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).runs[0].throughput_rps)' "$OUT"); fi
kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
node -e "const rps=$rps, ticks=$b-$a; console.log('$SYS', $N, Math.round(rps), (ticks*10000/(rps*5)).toFixed(1))"
