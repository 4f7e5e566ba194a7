// The trace store's index from a 128-bit trace id to its trace slot: open addressing over typed arrays (linear
// probing, deletion by backward shift), the ids kept as four 32-bit words per slot. A Map keyed by the id's hex
// string held one string per kept trace, the last per-trace object on the JavaScript heap. The hash is seeded per
// table, so a sender cannot pick ids that pile up on one chain without knowing the seed. Pure.
import { NO_SLOT, hexWord, wordHex } from './columns.js';

/** The words of a 32-hex-digit id, reused by the caller (no allocation per lookup). */
export type IdWords = [number, number, number, number];

export function idWords(hex: string, out: IdWords): IdWords {
  out[0] = hexWord(hex, 0);
  out[1] = hexWord(hex, 8);
  out[2] = hexWord(hex, 16);
  out[3] = hexWord(hex, 24);
  return out;
}

export class TraceTable {
  /** trace slot → its id, 4 words */
  private ids = new Uint32Array(0);
  /** open-addressing table of trace slots, NO_SLOT where empty; its size a power of two, at least twice the slots */
  private table = new Int32Array(0);
  private mask = 0;
  private slots = 0;

  constructor(
    slots: number,
    private readonly seed = (Math.random() * 2 ** 32) >>> 0,
  ) {
    this.ensure(slots, () => false);
  }

  /** Room for `n` trace slots (the slots in use are kept). */
  ensure(n: number, live: (slot: number) => boolean): void {
    if (n <= this.slots && this.table.length > 0) return;
    const ids = new Uint32Array(4 * n);
    ids.set(this.ids);
    this.ids = ids;
    let size = 16;
    while (size < 2 * n) size *= 2;
    this.table = new Int32Array(size).fill(NO_SLOT);
    this.mask = size - 1;
    for (let t = 0; t < this.slots; t++) if (live(t)) this.place(t);
    this.slots = n;
  }

  /** The slot of the trace with id `w`, or NO_SLOT. */
  find(w: IdWords): number {
    for (let i = this.home(w[0], w[1], w[2], w[3]); ; i = (i + 1) & this.mask) {
      const t = this.table[i]!;
      if (t === NO_SLOT) return NO_SLOT;
      const o = 4 * t;
      if (this.ids[o] === w[0] && this.ids[o + 1] === w[1] && this.ids[o + 2] === w[2] && this.ids[o + 3] === w[3])
        return t;
    }
  }

  /** Files trace slot `t` (< the slots ensured) under id `w`, which is not filed yet. */
  add(t: number, w: IdWords): void {
    const o = 4 * t;
    this.ids[o] = w[0];
    this.ids[o + 1] = w[1];
    this.ids[o + 2] = w[2];
    this.ids[o + 3] = w[3];
    this.place(t);
  }

  /** Takes trace slot `t` out; the entries after it on its chain move back (no tombstones). */
  delete(t: number): void {
    let i = this.homeOf(t);
    while (this.table[i] !== t) {
      if (this.table[i] === NO_SLOT) return;
      i = (i + 1) & this.mask;
    }
    for (let j = (i + 1) & this.mask; ; j = (j + 1) & this.mask) {
      const u = this.table[j]!;
      if (u === NO_SLOT) break;
      const k = this.homeOf(u);
      // u may fill the hole at i when its home is not cyclically within (i, j]
      if (i <= j ? k <= i || k > j : k <= i && k > j) {
        this.table[i] = u;
        i = j;
      }
    }
    this.table[i] = NO_SLOT;
  }

  /** The id of trace slot `t` as 32 lowercase hex digits. */
  hex(t: number): string {
    const o = 4 * t;
    return wordHex(this.ids[o]!) + wordHex(this.ids[o + 1]!) + wordHex(this.ids[o + 2]!) + wordHex(this.ids[o + 3]!);
  }

  private place(t: number): void {
    let i = this.homeOf(t);
    while (this.table[i] !== NO_SLOT) i = (i + 1) & this.mask;
    this.table[i] = t;
  }

  private homeOf(t: number): number {
    const o = 4 * t;
    return this.home(this.ids[o]!, this.ids[o + 1]!, this.ids[o + 2]!, this.ids[o + 3]!);
  }

  private home(a: number, b: number, c: number, d: number): number {
    let h = Math.imul(this.seed ^ a, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ b, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ c, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ d, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 13), 0x85ebca6b);
    return (h ^ (h >>> 16)) & this.mask;
  }
}
