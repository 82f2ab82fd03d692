// N callers over NCONN nats.js connections (default: one per caller), one request in flight each.
// Prints {rps, errors, clientUs}: replies in [fromMs, toMs) a second, and the load process's CPU µs a request.
import { connect } from 'nats';

const [n, fromMs, toMs, nconn = n] = process.argv.slice(2).map(Number);
const body = new Uint8Array(16).fill(97);
const pool = await Promise.all(Array.from({ length: nconn }, () => connect({ servers: '127.0.0.1:4222' })));
const t0 = performance.now();
let counted = 0;
let errors = 0;
let stop = false;
let cpu0;
let cpu1;
await Promise.all(
  Array.from({ length: n }, async (_, i) => {
    const nc = pool[i % nconn];
    while (!stop) {
      try {
        await nc.request('echo', body, { timeout: 5000 });
        const t = performance.now() - t0;
        if (t >= fromMs && cpu0 === undefined) cpu0 = process.cpuUsage();
        if (t >= fromMs && t < toMs) counted++;
        if (t >= toMs) {
          cpu1 ??= process.cpuUsage();
          stop = true;
        }
      } catch {
        errors++;
      }
    }
  }),
);
const clientUs = cpu0 && cpu1 ? (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / Math.max(1, counted) : 0;
console.log(JSON.stringify({ rps: counted / ((toMs - fromMs) / 1000), errors, clientUs }));
await Promise.all(pool.map((c) => c.close()));
