// Protobuf wire-format reading for the lean decoders (als-decode.ts): a cursor with varints, lengths, strings and
// skipping, and google.protobuf.Struct/Value as plain JSON-like values. Pure; throws AlsDecodeError on bytes that are
// not valid wire format.

export class AlsDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AlsDecodeError';
  }
}

export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const I32 = 5;

export const tag = (field: number, wire: number): number => (field << 3) | wire;

/** A cursor over protobuf wire bytes. */
export class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    public end: number,
  ) {
    this.pos = start;
  }

  private lo = 0;
  private hi = 0;

  /** An unsigned varint (uint32/uint64; values above 2^53 lose precision). */
  varint(): number {
    const b = this.buf;
    // fast path: up to 4 bytes (28 bits), which is every tag, length and port
    let lo = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (this.pos >= this.end) throw new AlsDecodeError('truncated varint');
      const byte = b[this.pos++]!;
      lo |= (byte & 0x7f) << shift;
      if (byte < 0x80) return lo;
    }
    this.lo = lo;
    this.rest64();
    return (this.hi >>> 0) * 2 ** 32 + (this.lo >>> 0);
  }

  /** int32/int64: negative values are sent as 10-byte two's complement. */
  signedVarint(): number {
    const v = this.varint();
    return v < 2 ** 28 ? v : (this.hi | 0) * 2 ** 32 + (this.lo >>> 0);
  }

  /** Bytes 5..10 of a varint whose low 28 bits are in this.lo. */
  private rest64(): void {
    const b = this.buf;
    if (this.pos >= this.end) throw new AlsDecodeError('truncated varint');
    let byte = b[this.pos++]!;
    this.lo |= (byte & 0x0f) << 28;
    let hi = (byte & 0x7f) >>> 4;
    if (byte >= 0x80) {
      for (let shift = 3; ; shift += 7) {
        if (shift > 31) throw new AlsDecodeError('varint longer than 10 bytes');
        if (this.pos >= this.end) throw new AlsDecodeError('truncated varint');
        byte = b[this.pos++]!;
        hi |= (byte & 0x7f) << shift;
        if (byte < 0x80) break;
      }
    }
    this.hi = hi;
  }

  /** A field's tag (field number << 3 | wire type). */
  tag(): number {
    const t = this.varint();
    if (t > 0xffffffff || t >>> 3 === 0) throw new AlsDecodeError(`invalid field tag ${t}`);
    return t;
  }

  /** The bounds of a length-delimited field; the cursor moves past it. */
  len(): number {
    const n = this.varint();
    const start = this.pos;
    if (n > this.end - start) throw new AlsDecodeError(`length ${n} past the end of the message`);
    this.pos = start + n;
    return start;
  }

  string(): string {
    const start = this.len();
    return this.buf.toString('utf8', start, this.pos);
  }

  /**
   * Narrows this reader to the next length-delimited field and returns the outer end, for `leave`. The hot decoders
   * use it instead of `sub()`: a reader per nested message was the largest part of ingest's garbage.
   */
  enter(): number {
    const outer = this.end;
    const start = this.len();
    this.end = this.pos;
    this.pos = start;
    return outer;
  }

  /** Back out of the field `enter` narrowed to: past its end (read whole or not), bounded by `outer` again. */
  leave(outer: number): void {
    this.pos = this.end;
    this.end = outer;
  }

  /**
   * Like `leave`, for a decode that failed inside the field (and may have narrowed the cursor further): past
   * `fieldEnd` (the `end` right after `enter`), bounded by `outer` again, so the caller can count it and go on.
   */
  abandon(fieldEnd: number, outer: number): void {
    this.pos = fieldEnd;
    this.end = outer;
  }

  /** A sub-reader over the next length-delimited field. */
  sub(): Reader {
    const start = this.len();
    return new Reader(this.buf, start, this.pos);
  }

  double(): number {
    if (this.end - this.pos < 8) throw new AlsDecodeError('truncated double');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  skip(t: number): void {
    switch (t & 7) {
      case VARINT:
        this.varint();
        return;
      case I64:
        this.advance(8);
        return;
      case LEN:
        this.len();
        return;
      case I32:
        this.advance(4);
        return;
      case 3: {
        // group start: skip to the matching end
        const field = t >>> 3;
        for (;;) {
          if (this.pos >= this.end) throw new AlsDecodeError('unterminated group');
          const inner = this.tag();
          if ((inner & 7) === 4) {
            if (inner >>> 3 !== field) throw new AlsDecodeError('mismatched group end');
            return;
          }
          this.skip(inner);
        }
      }
      default:
        throw new AlsDecodeError(`invalid wire type ${t & 7}`);
    }
  }

  private advance(n: number): void {
    if (this.end - this.pos < n) throw new AlsDecodeError('truncated fixed-width field');
    this.pos += n;
  }
}

/** `decode` run over the next length-delimited field of `r`, in place (see Reader.enter). */
export function nested<T>(r: Reader, decode: (r: Reader) => T): T {
  const outer = r.enter();
  const v = decode(r);
  r.leave(outer);
  return v;
}

/** google.protobuf.Value → JSON-like value (as the generated code unwraps it) */
export function value(r: Reader): unknown {
  let v: unknown = undefined;
  while (r.pos < r.end) {
    const t = r.tag();
    switch (t) {
      case tag(1, VARINT):
        r.varint();
        v = null;
        break;
      case tag(2, I64):
        v = r.double();
        break;
      case tag(3, LEN):
        v = r.string();
        break;
      case tag(4, VARINT):
        v = r.varint() !== 0;
        break;
      case tag(5, LEN):
        v = nested(r, struct);
        break;
      case tag(6, LEN): {
        const o = r.enter();
        const list: unknown[] = [];
        while (r.pos < r.end) {
          const u = r.tag();
          if (u === tag(1, LEN)) list.push(nested(r, value));
          else r.skip(u);
        }
        r.leave(o);
        v = list;
        break;
      }
      default:
        r.skip(t);
    }
  }
  return v;
}

/** One entry of a map<string, string> field (its own sub-message: key 1, value 2) → [key, value]. */
export function stringEntry(e: Reader): [string, string] {
  let key = '';
  let value = '';
  while (e.pos < e.end) {
    const w = e.tag();
    if (w === tag(1, LEN)) key = e.string();
    else if (w === tag(2, LEN)) value = e.string();
    else e.skip(w);
  }
  return [key, value];
}

/** A map<string, V> field (number 1: Struct.fields, Metadata.filter_metadata) → plain object. */
export function stringMap<V>(r: Reader, decodeValue: (r: Reader) => V, absent: () => V): Record<string, V> {
  const out: Record<string, V> = {};
  while (r.pos < r.end) {
    const t = r.tag();
    if (t !== tag(1, LEN)) {
      r.skip(t);
      continue;
    }
    const o = r.enter();
    let key = '';
    let v: V | undefined;
    while (r.pos < r.end) {
      const u = r.tag();
      if (u === tag(1, LEN)) key = r.string();
      else if (u === tag(2, LEN)) v = nested(r, decodeValue);
      else r.skip(u);
    }
    r.leave(o);
    out[key] = v === undefined ? absent() : v;
  }
  return out;
}

/** google.protobuf.Struct → plain object */
export function struct(r: Reader): Record<string, unknown> {
  return stringMap(r, value, () => undefined);
}
