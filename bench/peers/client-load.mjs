// N concurrent callers on ONE zqueue Client (one connection, the batched wire where the device takes it).
// Prints {rps, errors, clientUs}: replies in [fromMs, toMs) a second, and the load process's CPU µs a request.
import { createClient } from '../../dist/src/index.js';

const [n, fromMs, toMs] = process.argv.slice(2).map(Number);
const client = createClient({ endpoint: 'tcp://127.0.0.1:5559', timeoutMs: 5000 });
const body = Buffer.alloc(16, 97);
let counted = 0;
let errors = 0;
let stop = false;
let measuring = false;
let cpu0 = process.cpuUsage();
let cpu1 = cpu0;
setTimeout(() => {
  measuring = true;
  cpu0 = process.cpuUsage();
}, fromMs);
setTimeout(() => {
  measuring = false;
  stop = true;
  cpu1 = process.cpuUsage();
}, toMs);
await Promise.all(
  Array.from({ length: n }, async () => {
    while (!stop) {
      try {
        await client.request(body);
        if (measuring) counted++;
      } catch {
        errors++;
      }
    }
  }),
);
const clientUs = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / Math.max(1, counted);
console.log(JSON.stringify({ rps: counted / ((toMs - fromMs) / 1000), errors, clientUs }));
await client.close();
