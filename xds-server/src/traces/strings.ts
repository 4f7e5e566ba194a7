// Interned strings with reference counts, for the trace store's columns: a span holds small integers for its
// service, workload, node, peer, name and status instead of six string pointers, so the spans the store keeps are
// not objects the garbage collector has to visit. A string goes when the last span naming it does. Pure.

/** What one interned string is charged besides its characters (its Map slot, table slots, the string's header). */
export const INTERNED_OVERHEAD_BYTES = 64;

export class StringTable {
  private readonly ids = new Map<string, number>();
  private readonly texts: string[] = [];
  /** references per id; 0 for a free id */
  private readonly refs: number[] = [];
  private readonly freeIds: number[] = [];
  /** what the interned strings are charged (INTERNED_OVERHEAD_BYTES plus their characters each) */
  bytes = 0;

  /** The id of `s`, counting one more reference to it. */
  ref(s: string): number {
    let id = this.ids.get(s);
    if (id !== undefined) {
      this.refs[id]!++;
      return id;
    }
    id = this.freeIds.pop() ?? this.texts.length;
    this.ids.set(s, id);
    this.texts[id] = s;
    this.refs[id] = 1;
    this.bytes += INTERNED_OVERHEAD_BYTES + s.length;
    return id;
  }

  /** One reference fewer; the string goes with its last one. */
  release(id: number): void {
    const n = this.refs[id]! - 1;
    this.refs[id] = n;
    if (n > 0) return;
    const s = this.texts[id]!;
    this.ids.delete(s);
    this.texts[id] = '';
    this.freeIds.push(id);
    this.bytes -= INTERNED_OVERHEAD_BYTES + s.length;
  }

  /** The id of `s` if some span holds it (no reference taken). */
  find(s: string): number | undefined {
    return this.ids.get(s);
  }

  text(id: number): string {
    return this.texts[id]!;
  }

  /** distinct strings held */
  get size(): number {
    return this.ids.size;
  }
}
