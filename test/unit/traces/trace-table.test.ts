// The trace-id hash table: random adds and deletes agree with a Map at every step, through growth, long probe
// chains and deletions that wrap around the end of the table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TraceTable, idWords, type IdWords } from '../../../xds-server/src/traces/trace-table.js';
import { NO_SLOT } from '../../../xds-server/src/traces/columns.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('trace table: adds, finds and deletes agree with a Map, through growth and wrapped chains', () => {
  const rand = rng(7);
  const hex = () => Array.from({ length: 32 }, () => '0123456789abcdef'[Math.floor(rand() * 16)]).join('');
  for (const seed of [1, 0xdeadbeef]) {
    let slots = 16;
    const live = new Map<number, string>(); // slot → id
    const table = new TraceTable(slots, seed);
    const free: number[] = [];
    let next = 0;
    const w: IdWords = [0, 0, 0, 0];
    for (let step = 0; step < 20_000; step++) {
      if (live.size > 0 && (rand() < 0.45 || live.size >= 4000)) {
        const slots_ = [...live.keys()];
        const t = slots_[Math.floor(rand() * slots_.length)]!;
        const gone = live.get(t)!;
        table.delete(t);
        live.delete(t);
        assert.equal(table.find(idWords(gone, w)), NO_SLOT, `step ${step}: ${gone} was deleted`);
        free.push(t);
      } else {
        const id = hex();
        const t = free.pop() ?? next++;
        if (t >= slots) {
          slots *= 2;
          table.ensure(slots, (x) => live.has(x));
        }
        assert.equal(table.find(idWords(id, w)), NO_SLOT);
        table.add(t, idWords(id, w));
        live.set(t, id);
      }
      if (step % 97 === 0 || live.size < 20)
        for (const [t, id] of live) {
          assert.equal(table.find(idWords(id, w)), t, `step ${step}: ${id} should be at slot ${t}`);
          assert.equal(table.hex(t), id);
        }
    }
    for (const [t, id] of live) assert.equal(table.find(idWords(id, w)), t);
  }
});
