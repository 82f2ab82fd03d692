// N requests in flight over ONE DEALER connection (as one nats.js connection carries many requesters); prints rps over [from, to) ms.
import * as zmq from 'zeromq'; // the repository's
const [n, fromMs, toMs] = process.argv.slice(2).map(Number);
const s = new zmq.Dealer({ linger: 0 });
s.connect('tcp://127.0.0.1:5559');
const body = Buffer.alloc(16, 97);
const empty = Buffer.alloc(0);
const t0 = performance.now();
let counted = 0;
const out = [];
for (let i = 0; i < n; i++) {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(i);
  out.push([id, empty, body]);
}
const pending = out.splice(0);
let sending; // the flush under way, if any
function flush() {
  sending ??= (async () => {
    while (pending.length) await s.send(pending.shift());
    sending = undefined;
  })();
}
flush();
for (;;) {
  const [id] = await s.receive();
  const t = performance.now() - t0;
  if (t >= fromMs && t < toMs) counted++;
  if (t >= toMs) break;
  pending.push([id, empty, body]);
  flush();
}
console.log(JSON.stringify({ rps: counted / ((toMs - fromMs) / 1000), errors: 0 }));
pending.length = 0;
await sending; // no send left under way when the socket closes
s.close();
