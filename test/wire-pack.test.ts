/** Packed batches (src/protocols/pack.ts): a round trip, and a reader that refuses what does not add up without throwing or over-allocating. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ENTRY_BYTES, FLAG_CANCEL, FLAG_RETRY, INLINE_MAX, pack, packedSize, unpack, type PackItem } from '../src/protocols/pack.js';

/** A deterministic generator (mulberry32), so that a failing case can be run again. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function packAll(items: readonly PackItem[]): Buffer[] {
  const out: Buffer[] = [];
  pack(
    out,
    items,
    items.reduce((n, i) => n + packedSize(i), 0),
  );
  return out;
}

interface Read {
  id: number;
  budget: number;
  flags: number;
  body: Buffer[];
}

function readAll(frames: readonly Buffer[], maxEntries = Infinity): { entries: Read[]; result: ReturnType<typeof unpack> } {
  const entries: Read[] = [];
  const result = unpack(frames, 0, (id, budget, flags, body) => entries.push({ id, budget, flags, body }), maxEntries);
  return { entries, result };
}

describe('packed batches', () => {
  it('round-trips ids, budgets, flags and bodies; frames over INLINE_MAX go as extras, smaller ones inline', () => {
    const big = randomBytes(INLINE_MAX + 1);
    const items: PackItem[] = [
      { id: 1, budgetMs: 2500, flags: 0, frames: [Buffer.from('hello')], from: 0 },
      {
        id: 0xffff_ffff,
        budgetMs: 0,
        flags: FLAG_RETRY,
        frames: [Buffer.from('env'), Buffer.alloc(0), Buffer.from('a'), Buffer.from('b')],
        from: 2,
      },
      { id: 3, budgetMs: 1, flags: 0, frames: [big, Buffer.from('tail')], from: 0 },
      { id: 4, budgetMs: 0, flags: FLAG_CANCEL, frames: [], from: 0 },
      { id: 5, budgetMs: 7, flags: 0, frames: [], from: 0 },
    ];
    const frames = packAll(items);
    assert.equal(frames.length, 2, 'the pack and one extra');
    assert.equal(frames[1], big, 'the large frame goes as it is, not copied');
    const { entries, result } = readAll(frames);
    assert.equal(result, 5);
    assert.deepEqual(
      entries.map((e) => ({ ...e, body: e.body.map((b) => b.toString('hex')) })),
      items.map((i) => ({ id: i.id, budget: i.budgetMs, flags: i.flags, body: i.frames.slice(i.from).map((b) => b.toString('hex')) })),
    );
  });

  it('refuses, without throwing, a pack cut short, counts past its end, an inline frame too long, extras missing or left over, unknown flags, a cancel with a body', () => {
    const good = packAll([
      { id: 10, budgetMs: 5, flags: 0, frames: [Buffer.from('abcd')], from: 0 },
      { id: 11, budgetMs: 5, flags: 0, frames: [Buffer.from('efgh')], from: 0 },
    ]);
    const p = good[0] as Buffer;
    const second = ENTRY_BYTES + 4 + 4;
    const cases: [string, Buffer[], RegExp, number, number | undefined][] = [
      ['cut in the second entry', [p.subarray(0, second + 5)], /cut short/, 1, undefined],
      ['cut in a body', [p.subarray(0, p.length - 1)], /longer than the pack/, 1, 11],
      ['more frames than it holds', [with16(p, second + 10, 300)], /more frames than the pack holds/, 1, 11],
      ['an inline length past the end', [with32(p, second + ENTRY_BYTES, 1000)], /longer than the pack/, 1, 11],
      ['an extra that is missing', [with32(p, second + ENTRY_BYTES, 0x8000_0000)], /missing/, 1, 11],
      ['an extra left over', [p, Buffer.from('x')], /left over/, 2, undefined],
      ['unknown flags', [with16(p, second + 8, 0x80)], /unknown flags/, 1, 11],
      ['a cancel with a body', [with16(p, second + 8, FLAG_CANCEL)], /cancel with a body/, 1, 11],
      ['an empty pack', [Buffer.alloc(0)], /empty pack/, 0, undefined],
    ];
    for (const [what, frames, reason, read, id] of cases) {
      const { entries, result } = readAll(frames);
      assert.ok(typeof result !== 'number', `${what}: refused`);
      if (typeof result === 'number') continue;
      assert.match(result.reason, reason, what);
      assert.equal(result.read, read, `${what}: entries read before the fault`);
      assert.equal(entries.length, read);
      assert.equal(result.id, id, `${what}: the id at fault`);
    }
    const capped = readAll(good, 1);
    assert.ok(typeof capped.result !== 'number' && /more than 1 entries/.test(capped.result.reason) && capped.result.id === 11);
  });

  it('fuzz: 20 000 mutated and random packs never throw, and every body read lies inside the frames given', () => {
    const next = rng(0x2a);
    for (let round = 0; round < 20_000; round++) {
      const items: PackItem[] = Array.from({ length: 1 + Math.floor(next() * 6) }, (_, k) => ({
        id: k,
        budgetMs: Math.floor(next() * 1000),
        flags: next() < 0.2 ? FLAG_RETRY : 0,
        frames: Array.from({ length: Math.floor(next() * 4) }, () => randomBytes(Math.floor(next() * 40))),
        from: 0,
      }));
      const frames = packAll(items);
      const p = Buffer.from(frames[0] as Buffer);
      const kind = next();
      if (kind < 0.5) for (let m = 0; m < 1 + next() * 4; m++) p[Math.floor(next() * p.length)] = Math.floor(next() * 256);
      const mutated =
        kind < 0.7
          ? [p]
          : kind < 0.85
            ? [p.subarray(0, Math.floor(next() * p.length))]
            : [randomBytes(Math.floor(next() * 200)), ...(next() < 0.5 ? [randomBytes(10)] : [])];
      const total = mutated.reduce((n, f) => n + f.length, 0);
      let bodyBytes = 0;
      let bodyFrames = 0;
      const result = unpack(
        mutated,
        0,
        (_id, _b, _f, body) => {
          for (const f of body) {
            bodyBytes += f.length;
            bodyFrames++;
            assert.ok(
              mutated.some((m) => f.buffer === m.buffer),
              'a body frame is a view into a frame given',
            );
          }
        },
        Infinity,
      );
      assert.ok(typeof result === 'number' || typeof result.reason === 'string');
      assert.ok(bodyBytes <= total, 'no body byte that was not sent');
      assert.ok(bodyFrames * 4 <= total, 'each frame read took at least its length word');
    }
  });
});

function with16(p: Buffer, at: number, v: number): Buffer {
  const c = Buffer.from(p);
  c.writeUInt16BE(v, at);
  return c;
}

function with32(p: Buffer, at: number, v: number): Buffer {
  const c = Buffer.from(p);
  c.writeUInt32BE(v >>> 0, at);
  return c;
}
