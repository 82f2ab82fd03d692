#!/bin/bash
# One run of one broker under one load (bench/peers/compare.sh interleaves them; results/peers.md).
#   bench/peers/side.sh CLIENTS SYSTEM LOAD
#   SYSTEM: c     libzmq's zmq_proxy (ROUTER/DEALER, tcp) with 2 C REP echo servers
#           zq    zqueue serve on its defaults (least-busy, 2 worker threads over inproc) with examples/echo.js
#           nats  nats-server with 2 nats.js workers in a queue group
#   LOAD:   req     zqueue bench --connect: CLIENTS REQ sockets, one connection and one request in flight each
#           dealer  one raw DEALER connection carrying CLIENTS requests in flight (the plain wire)
#           client  one zqueue Client carrying CLIENTS concurrent request() calls (the batched wire where offered)
#           nats    one nats.js connection carrying CLIENTS concurrent requests (NCONN=K: K connections)
# Prints: SYSTEM LOAD CLIENTS req/s broker-CPU-µs-a-request client-CPU-µs-a-request errors
# (broker CPU: the broker's and its workers' processes, /proc/PID/stat over 5 s of the measured time;
# client CPU: the load process's own, for the client and nats loads).
# Needs: gcc, libzmq3-dev, nats-server (Debian), `npm run build` here, and for nats the nats package
# (installed into $ZQ_PEERS_DIR on first use).
set -u
N=$1; SYS=$2; LOAD=$3
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
WORK=${ZQ_PEERS_DIR:-/tmp/zq-peers}; mkdir -p "$WORK"
[ -x "$WORK/proxy" ] || gcc -O2 -o "$WORK/proxy" "$HERE/proxy.c" -lzmq
[ -x "$WORK/echo" ] || gcc -O2 -o "$WORK/echo" "$HERE/echo.c" -lzmq
if { [ "$SYS" = nats ] || [ "$LOAD" = nats ]; } && [ ! -d "$WORK/node_modules/nats" ]; then
  (cd "$WORK" && npm init -y >/dev/null && npm install --no-audit --no-fund nats@2.29.3 >/dev/null)
fi
cp "$HERE"/nats-*.mjs "$WORK/"
ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
pids=()
case $SYS in
  c) "$WORK/proxy" & pids+=($!); sleep 0.3; "$WORK/echo" & pids+=($!); "$WORK/echo" & pids+=($!); sleep 0.5 ;;
  zq) node "$ROOT/dist/src/cli.js" serve --handler "$ROOT/examples/echo.js" --frontend tcp://127.0.0.1:5559 2>/dev/null & pids+=($!); sleep 2.5 ;;
  nats) nats-server -a 127.0.0.1 -p 4222 >/dev/null 2>&1 & pids+=($!); sleep 0.5
        for _ in 1 2; do node "$WORK/nats-worker.mjs" > /dev/null & pids+=($!); done; sleep 1.5 ;;
  *) echo "unknown system $SYS" >&2; exit 2 ;;
esac
OUT=$WORK/out.json
case $LOAD in
  req) node "$ROOT/dist/src/cli.js" bench --connect tcp://127.0.0.1:5559 --clients "$N" --duration 9 --json > "$OUT" 2>/dev/null & ;;
  dealer) node "$HERE/dealer-load.mjs" "$N" 4000 9000 > "$OUT" & ;;
  client) node "$HERE/client-load.mjs" "$N" 4000 9000 > "$OUT" & ;;
  nats) node "$WORK/nats-load.mjs" "$N" 4000 9000 "${NCONN:-1}" > "$OUT" & ;;
  *) echo "unknown load $LOAD" >&2; kill "${pids[@]}"; exit 2 ;;
esac
load=$!
sleep 4; a=$(ticks "${pids[@]}"); sleep 5; b=$(ticks "${pids[@]}")
wait $load
kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
node -e '
  const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const [sys, load, n, ticks] = process.argv.slice(2);
  const rps = j.runs ? j.runs[0].throughput_rps : j.rps;
  const errors = j.runs ? j.runs[0].errors + j.runs[0].timeouts : j.errors;
  const server = (Number(ticks) * 10000) / (rps * 5);
  console.log([sys, load, n, Math.round(rps), server.toFixed(1), (j.clientUs ?? 0).toFixed(1), errors].join(" "));
' "$OUT" "$SYS" "$LOAD" "$N" "$((b - a))"
