/**
 * `node dist/scripts/inproc-check.js [--seconds S] [--codec]`: two worker
 * threads echo frames of 129 B to 64 KiB back to the main thread over
 * inproc, 32 in flight, every echo checked byte for byte.
 *
 * Without --codec the frames go as Buffers, as zeromq.js hands them over
 * zero-copy: the minimal reproduction of the crash that src/inproc.ts
 * avoids (here it aborts with "free(): corrupted unsorted chunks" within
 * seconds). With --codec they go through src/inproc.ts. Run both after a
 * zeromq.js upgrade: if the first stops crashing, the codec may no longer be
 * needed; if the second crashes, it no longer suffices.
 * Exit: 0 every echo came back whole; 1 a wrong echo; a crash aborts.
 */
import '../src/context.js';
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import { randomInt } from 'node:crypto';
import * as zmq from 'zeromq';
import { fromInproc, toInproc, type Frame } from '../src/inproc.js';

const encode = (codec: boolean, frames: Buffer[]): Frame[] => (codec ? toInproc(frames) : frames);
const decode = (codec: boolean, frames: Buffer[]): Buffer[] => (codec ? fromInproc(frames) : frames);

async function echoWorker(endpoint: string, codec: boolean): Promise<void> {
  const d = new zmq.Dealer({ linger: 0 });
  d.connect(endpoint);
  await d.send('hello');
  try {
    for (;;) {
      const frames = decode(codec, await d.receive());
      if (frames.length === 1 && frames[0]?.toString() === 'stop') break;
      // Fresh Buffers each time, as a handler's replies are: memory the sending isolate will collect.
      await d.send(
        encode(
          codec,
          frames.map((f) => Buffer.from(f)),
        ),
      );
    }
  } finally {
    d.close();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, codec: { type: 'boolean' } } });
  const seconds = Number(values.seconds ?? 10);
  const codec = values.codec === true;
  const endpoint = `inproc://zqueue-inproc-check-${process.pid}`;
  const router = new zmq.Router({ linger: 0 });
  await router.bind(endpoint);
  const workers = [0, 1].map(() => new Worker(new URL(import.meta.url), { workerData: { endpoint, codec } }));
  const ids: Buffer[] = [];
  while (ids.length < 2) ids.push((await router.receive())[0] as Buffer);
  const bodies = Array.from({ length: 64 }, (_, i) => {
    const b = Buffer.alloc(randomInt(129, 65_537));
    for (let j = 0; j < b.length; j++) b[j] = (j * 31 + i) & 0xff;
    return b;
  });
  let sent = 0;
  let echoes = 0;
  let wrong = 0;
  const send = async (): Promise<void> => {
    const k = sent++ % bodies.length;
    const tag = Buffer.alloc(4);
    tag.writeUInt32BE(k);
    await router.send([ids[k % 2] as Buffer, ...encode(codec, [tag, Buffer.from(bodies[k] as Buffer)])]);
  };
  for (let i = 0; i < 32; i++) await send();
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const [, tag, body] = decode(codec, await router.receive());
    if (!(body ?? Buffer.alloc(0)).equals(bodies[tag?.readUInt32BE(0) ?? 0] as Buffer)) wrong++;
    echoes++;
    await send();
  }
  for (const id of ids) await router.send([id, 'stop']);
  await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
  router.close();
  console.log(`${codec ? 'codec' : 'raw'}: ${echoes} echoes, ${wrong} wrong`);
  return wrong === 0 ? 0 : 1;
}

if (isMainThread) process.exitCode = await main();
else {
  const { endpoint, codec } = workerData as { endpoint: string; codec: boolean };
  await echoWorker(endpoint, codec);
}
