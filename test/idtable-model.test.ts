/**
 * IdTable (src/id-table.ts) against a Map as its model: the same answers
 * after any run of sets, deletes and clears, through growth, long probe runs
 * and ids that wrap past 2^32 - 1.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IdTable } from '../src/id-table.js';

/** A small seeded generator, so that a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x1_0000_0000;
  };
}

function same(table: IdTable<{ id: number }>, model: Map<number, { id: number }>): void {
  assert.equal(table.size, model.size);
  for (const [id, v] of model) assert.equal(table.get(id), v, `id ${id}`);
  const values = table.values();
  assert.equal(values.length, model.size);
  assert.deepEqual(new Set(values), new Set(model.values()));
}

describe('IdTable', () => {
  for (const [name, pickId] of [
    ['sequential ids in a sliding window, as requests come and go', (r: () => number, n: number) => n - Math.floor(r() * 300)],
    ['ids that all share their low bits', (r: () => number) => Math.floor(r() * 64) * 4096],
    ['ids around the wrap at 2^32', (r: () => number) => (0xffff_ff00 + Math.floor(r() * 512)) >>> 0],
  ] as const) {
    it(`answers as a Map does: ${name}`, () => {
      const r = rng(7);
      const table = new IdTable<{ id: number }>(4);
      const model = new Map<number, { id: number }>();
      for (let n = 1; n <= 20_000; n++) {
        const id = pickId(r, n) >>> 0;
        const op = r();
        if (op < 0.5) {
          const v = { id };
          table.set(id, v);
          model.set(id, v);
        } else if (op < 0.98) {
          assert.equal(table.delete(id), model.delete(id), `delete ${id} at step ${n}`);
        } else if (op < 0.985) {
          table.clear();
          model.clear();
        }
        assert.equal(table.get(id), model.get(id), `get ${id} at step ${n}`);
        if (n % 997 === 0) same(table, model);
      }
      same(table, model);
    });
  }

  it('deletes from the middle of a probe run and still finds what lies past it', () => {
    const table = new IdTable<{ id: number }>(4);
    // Ids with the same low bits land in one run whatever the hash does to them.
    const ids = Array.from({ length: 12 }, (_, i) => i * 0x1_0000);
    for (const id of ids) table.set(id, { id });
    for (const gone of [ids[0], ids[5], ids[11]] as number[]) assert.equal(table.delete(gone), true);
    assert.equal(table.delete(ids[5] as number), false, 'a second delete finds nothing');
    for (const id of ids) assert.equal(table.get(id)?.id, [ids[0], ids[5], ids[11]].includes(id) ? undefined : id);
    assert.equal(table.size, 9);
  });

  it('says which entry it has with any(), and nothing once empty', () => {
    const table = new IdTable<{ id: number }>();
    assert.equal(table.any(), undefined);
    table.set(42, { id: 42 });
    assert.equal(table.any()?.id, 42);
    table.delete(42);
    assert.equal(table.any(), undefined);
    assert.equal(table.has(42), false);
  });

  it('values() is a copy: deleting while walking it misses nothing', () => {
    const table = new IdTable<{ id: number }>();
    for (let id = 1; id <= 500; id++) table.set(id, { id });
    let seen = 0;
    for (const v of table.values()) {
      assert.equal(table.delete(v.id), true);
      seen++;
    }
    assert.equal(seen, 500);
    assert.equal(table.size, 0);
  });
});
