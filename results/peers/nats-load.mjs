// N clients, one connection each, one request in flight each; prints replies counted between from and to (ms after start) as rps.
import { connect } from 'nats';
const [n, fromMs, toMs, nconn = n] = process.argv.slice(2).map(Number);
const body = new Uint8Array(16).fill(97);
const pool = await Promise.all(Array.from({ length: nconn }, () => connect({ servers: "127.0.0.1:4222" }))); const conns = Array.from({ length: n }, (_, i) => pool[i % nconn]);
const t0 = performance.now();
let counted = 0, errors = 0, stop = false;
await Promise.all(conns.map(async (nc) => {
  while (!stop) {
    try { await nc.request('echo', body, { timeout: 5000 }); const t = performance.now() - t0; if (t >= fromMs && t < toMs) counted++; if (t >= toMs) stop = true; }
    catch { errors++; }
  }
}));
console.log(JSON.stringify({ rps: counted / ((toMs - fromMs) / 1000), errors }));
await Promise.all(pool.map((c) => c.close()));
