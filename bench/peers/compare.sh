#!/bin/bash
# zqueue beside libzmq's C proxy and NATS, every cell REPEATS times (default 3), interleaved, then the
# median of each: bench/peers/compare.sh [REPEATS] > table.md (about 13 s a run: 14 cells × REPEATS).
# Cells: 100 and 1000 requests in flight on one connection (the zqueue Client, a raw DEALER on the C
# proxy and on zqueue, one nats.js connection), and 100 REQ clients (zqueue serve and the C proxy).
set -u
REPEATS=${1:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
CELLS=("100 zq client" "100 zq dealer" "100 c dealer" "100 nats nats" "1000 zq client" "1000 zq dealer" "1000 c dealer" "1000 nats nats" "100 zq req" "100 c req")
RAW=$(mktemp)
for ((r = 1; r <= REPEATS; r++)); do
  for cell in "${CELLS[@]}"; do
    read -r n sys load <<< "$cell"
    "$HERE/side.sh" "$n" "$sys" "$load" | tee -a "$RAW" >&2
  done
done
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
  const names = { "zq client": "zqueue serve, one zqueue Client", "zq dealer": "zqueue serve, one raw DEALER",
    "c dealer": "C zmq_proxy, one raw DEALER", "nats nats": "NATS, one nats.js connection",
    "zq req": "zqueue serve, REQ clients", "c req": "C zmq_proxy, REQ clients" };
  const key = (r) => `${r[0]} ${r[1]} ${r[2]}`;
  const groups = new Map();
  for (const r of rows) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  console.log("| system and load | in flight | req/s | broker CPU µs a request | client CPU µs a request | errors | runs |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const [k, rs] of groups) {
    const [sys, load, n] = k.split(" ");
    const client = med(rs.map((r) => Number(r[5])));
    console.log(`| ${names[sys + " " + load]} | ${n} | ${med(rs.map((r) => Number(r[3])))} | ${med(rs.map((r) => Number(r[4]))).toFixed(1)} | ${client > 0 ? client.toFixed(1) : "–"} | ${rs.reduce((a, r) => a + Number(r[6]), 0)} | ${rs.length} |`);
  }
' "$RAW"
rm -f "$RAW"
