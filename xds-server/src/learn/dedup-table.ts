// The learner's memory of recent connections, kept out of the garbage-collected heap. A dedup key (a connection's
// 4-tuple or an HTTP request id) is reduced to a 64-bit hash, and each generation is an open-addressing table of
// typed arrays: no per-key strings or objects, so 200,000 remembered keys cost the garbage collector nothing (as a
// Map of strings and objects they were most of the live heap, and every major GC marked them all).
//
// Two different keys share a 64-bit hash with probability about n²/2^65 (n = keys remembered): below 1e-9 at the
// default 200,000. The cost of one would be a connection counted once instead of twice.

/** The two 32-bit halves of the last hashKey() result (module state: hashing allocates nothing). */
let hashA = 0;
let hashB = 0;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes a key into two independent 32-bit halves (never both zero: (0, 0) marks an empty slot). */
export function hashKey(key: string): { a: number; b: number } {
  hashInto(key);
  return { a: hashA, b: hashB };
}

function hashInto(key: string): void {
  let a = 0x811c9dc5 ^ key.length;
  let b = 0x9747b28c;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  }
  hashA = fmix32(a);
  hashB = fmix32(b ^ key.length);
  if (hashA === 0 && hashB === 0) hashB = 1;
}

/** What a remembered request already gave its edge (`flags`). */
export const OUTCOME_ERROR = 1;
/** its duration is the client side's (the caller's view), which a later record never replaces */
export const OUTCOME_CLIENT_DURATION = 2;

/**
 * One generation: up to `capacity / 2` keys → (edge index, bytes sent, bytes received, last touched, the duration
 * recorded for it (-1: none), outcome flags).
 */
export class DedupGeneration {
  readonly capacity: number;
  size = 0;
  private readonly mask: number;
  private readonly ha: Uint32Array;
  private readonly hb: Uint32Array;
  readonly edge: Int32Array;
  readonly sent: Float64Array;
  readonly received: Float64Array;
  readonly touched: Float64Array;
  readonly duration: Float64Array;
  readonly flags: Uint8Array;

  /** Room for `keys` keys at a load factor of at most one half. */
  constructor(keys: number) {
    let cap = 16;
    while (cap < keys * 2) cap *= 2;
    this.capacity = cap;
    this.mask = cap - 1;
    this.ha = new Uint32Array(cap);
    this.hb = new Uint32Array(cap);
    this.edge = new Int32Array(cap);
    this.sent = new Float64Array(cap);
    this.received = new Float64Array(cap);
    this.touched = new Float64Array(cap);
    this.duration = new Float64Array(cap);
    this.flags = new Uint8Array(cap);
  }

  /** The slot holding the key with hash (a, b), or -1. */
  find(a: number, b: number): number {
    const ha = this.ha;
    const hb = this.hb;
    for (let i = (a ^ Math.imul(b, 0x9e3779b1)) & this.mask; ; i = (i + 1) & this.mask) {
      const x = ha[i]!;
      const y = hb[i]!;
      if (x === a && y === b) return i;
      if (x === 0 && y === 0) return -1;
    }
  }

  /** Sets the key's values, adding it when absent; the caller keeps size below capacity / 2. */
  set(
    a: number,
    b: number,
    edge: number,
    sent: number,
    received: number,
    touched: number,
    duration = -1,
    flags = 0,
  ): void {
    const ha = this.ha;
    const hb = this.hb;
    let i = (a ^ Math.imul(b, 0x9e3779b1)) & this.mask;
    for (; ; i = (i + 1) & this.mask) {
      const x = ha[i]!;
      const y = hb[i]!;
      if (x === a && y === b) break;
      if (x === 0 && y === 0) {
        ha[i] = a;
        hb[i] = b;
        this.size++;
        break;
      }
    }
    this.edge[i] = edge;
    this.sent[i] = sent;
    this.received[i] = received;
    this.touched[i] = touched;
    this.duration[i] = duration;
    this.flags[i] = flags;
  }

  clear(): void {
    if (this.size === 0) return;
    this.ha.fill(0);
    this.hb.fill(0);
    this.size = 0;
  }
}

/**
 * Two generations: lookups check `cur` then `prev`; when `cur` holds half the key bound or is a TTL old, `prev` is
 * cleared and the two swap. No per-hit reordering, no sweeps: O(1) per observation. A key is remembered at least a
 * TTL (or half the bound's worth of newer keys) and at most twice that.
 */
export class DedupTable {
  private cur: DedupGeneration;
  private prev: DedupGeneration;
  private rotatedAt = 0;
  /** slot of the last successful lookup(), in `hit` */
  slot = -1;
  hit: DedupGeneration | undefined;
  a = 0;
  b = 0;

  constructor(
    private readonly maxKeys: number,
    private readonly ttl: number,
  ) {
    const perGeneration = Math.max(1, Math.ceil(maxKeys / 2));
    this.cur = new DedupGeneration(perGeneration);
    this.prev = new DedupGeneration(perGeneration);
  }

  get size(): number {
    return this.cur.size + this.prev.size;
  }

  /** Hashes the key (kept for set()) and finds it, remembered within the TTL of `clock`; false when it is not. */
  lookup(key: string, clock: number): boolean {
    hashInto(key);
    this.a = hashA;
    this.b = hashB;
    let g = this.cur;
    let i = g.find(hashA, hashB);
    if (i < 0) {
      g = this.prev;
      i = g.find(hashA, hashB);
    }
    if (i >= 0 && g.touched[i]! + this.ttl >= clock) {
      this.slot = i;
      this.hit = g;
      return true;
    }
    this.slot = -1;
    this.hit = undefined;
    return false;
  }

  /** Remembers the key of the last lookup() in the current generation (rotating first when it is full or old). */
  set(edge: number, sent: number, received: number, clock: number, duration = -1, flags = 0): void {
    if (this.cur.size * 2 >= this.maxKeys || clock - this.rotatedAt >= this.ttl) {
      const old = this.prev;
      old.clear();
      this.prev = this.cur;
      this.cur = old;
      this.rotatedAt = clock;
    }
    this.cur.set(this.a, this.b, edge, sent, received, clock, duration, flags);
  }

  clear(): void {
    this.cur.clear();
    this.prev.clear();
    this.rotatedAt = 0;
  }
}
