// The trace store's spans and traces as columns of typed arrays, indexed by slot: what a span holds is numbers
// (ids as 32-bit words, times, interned string ids, codes), so the hundreds of thousands of spans a full store keeps
// are a few large buffers outside the JavaScript heap, not millions of small objects that every garbage collection
// visits and every young collection copies. The columns grow by doubling up to the store's capacity. Pure.

/**
 * Bytes of column per slot (spans and traces share a capacity: a trace has one span at least). A span: its id and
 * parent id (8 each), start and duration (8 each), six string ids (24), kind, error and verdict (1 each), the next
 * slot (4), its request-key array slot (8); a trace: its first and last slot (4 each), span count (2), indexed flag
 * (1), creation sequence (8), and in the trace table (trace-table.ts) its id (16) and up to four table entries (16).
 */
export const SLOT_COLUMN_BYTES = 8 + 8 + 8 + 8 + 24 + 3 + 4 + 8 + (4 + 4 + 2 + 1 + 8) + (16 + 16);

const FIRST_SLOTS = 1024;
/** no slot: after a trace's last span, or a trace with none */
export const NO_SLOT = -1;

/** Span and trace columns; `capacity` slots at most. The store decides what lives in which slot. */
export class Columns {
  /** slots the columns have now (≤ capacity) */
  size = 0;
  // spans
  spanId = new Uint32Array(0);
  parentId = new Uint32Array(0);
  start = new Float64Array(0);
  duration = new Float64Array(0);
  /** service, workload, node, peer, name, status: 6 string ids per slot */
  strings = new Int32Array(0);
  kind = new Uint8Array(0);
  error = new Uint8Array(0);
  verdict = new Uint8Array(0);
  /** the next span of the same trace, -1 after its last */
  next = new Int32Array(0);
  /** the span's request key, for the spans in the store's request-key index only (a plain array, sized with the rest) */
  readonly key: (string | undefined)[] = [];
  // traces
  first = new Int32Array(0);
  last = new Int32Array(0);
  count = new Uint16Array(0);
  indexed = new Uint8Array(0);
  /** the trace's creation sequence number (> 0), 0 for a free trace slot */
  seq = new Float64Array(0);

  constructor(readonly capacity: number) {
    this.grow(Math.min(capacity, FIRST_SLOTS));
  }

  /** Makes room for slot `i`, doubling; a slot past the capacity is a bug of the caller's accounting. */
  ensure(i: number): void {
    if (i < this.size) return;
    if (i >= this.capacity) throw new RangeError(`trace store slot ${i} is past its capacity of ${this.capacity}`);
    this.grow(Math.min(this.capacity, Math.max(i + 1, this.size * 2)));
  }

  /** Whether span slot `s` has its parent among the spans of trace `t` (`ids`: theirs, for a large trace). */
  hasParentIn(t: number, s: number, ids: ReadonlySet<string> | undefined): boolean {
    const p0 = this.parentId[2 * s]!;
    const p1 = this.parentId[2 * s + 1]!;
    if (p0 === 0 && p1 === 0) return false;
    if (ids) return ids.has(`${p0}:${p1}`);
    for (let x = this.first[t]!; x !== NO_SLOT; x = this.next[x]!)
      if (this.spanId[2 * x] === p0 && this.spanId[2 * x + 1] === p1) return true;
    return false;
  }

  /** The span ids of trace `t`, as hasParentIn reads them. */
  spanIds(t: number): Set<string> {
    const ids = new Set<string>();
    for (let s = this.first[t]!; s !== NO_SLOT; s = this.next[s]!)
      ids.add(`${this.spanId[2 * s]}:${this.spanId[2 * s + 1]}`);
    return ids;
  }

  private grow(n: number): void {
    const more = <T extends Uint32Array | Int32Array | Uint16Array | Uint8Array | Float64Array>(a: T, per = 1): T => {
      const b = new (a.constructor as new (n: number) => T)(n * per);
      b.set(a);
      return b;
    };
    this.spanId = more(this.spanId, 2);
    this.parentId = more(this.parentId, 2);
    this.start = more(this.start);
    this.duration = more(this.duration);
    this.strings = more(this.strings, STRINGS_PER_SPAN);
    this.kind = more(this.kind);
    this.error = more(this.error);
    this.verdict = more(this.verdict);
    this.next = more(this.next);
    this.first = more(this.first);
    this.last = more(this.last);
    this.count = more(this.count);
    this.indexed = more(this.indexed);
    this.seq = more(this.seq);
    while (this.key.length < n) this.key.push(undefined);
    this.size = n;
  }
}

/** The string columns of a span, in this order. */
export const STRINGS_PER_SPAN = 6;
export const S_SERVICE = 0;
export const S_WORKLOAD = 1;
export const S_NODE = 2;
export const S_PEER = 3;
export const S_NAME = 4;
export const S_STATUS = 5;

/** The 32-bit word of 8 hex digits of `s` at `at` (a digit that is not hex counts as 0). */
export function hexWord(s: string, at: number): number {
  let w = 0;
  for (let i = at; i < at + 8; i++) {
    const c = s.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : 0;
    w = w * 16 + d;
  }
  return w >>> 0;
}

export function wordHex(w: number): string {
  return (w >>> 0).toString(16).padStart(8, '0');
}
