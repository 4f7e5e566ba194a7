// A lean decoder for opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest: reads the span fields in
// model/span.ts and skips the rest of the wire bytes (events, links, scopes, unknown attributes are never copied).
// Pure and total: it never throws. Bytes that are not valid wire format cost the spans they hold, not the batch:
// a broken span is counted and the next one is read, a broken scope or resource is counted once and the next one
// is read; only when the outermost framing breaks is the rest of the message lost (counted as one).
//
// Field numbers are the OTLP specification's (proto/otlp/); a property test checks this decoder against the
// generated one (test/unit/serve/otlp-decode.test.ts). ResourceSpans field 1000 (instrumentation_library_spans,
// what older exporters send) is read like scope_spans.

import {
  MAX_ATTRIBUTE_CHARS,
  SPAN_ATTRIBUTES,
  SPAN_KINDS,
  type DecodedResourceSpans,
  type DecodedSpan,
  type DecodedTraceExport,
  type SpanAttribute,
  type SpanKind,
  type SpanStatus,
} from '../model/span.js';
import { AlsDecodeError, I64, LEN, Reader, VARINT, tag } from './wire-reader.js';

/** Field tags, computed once (a `case tag(…)` would call tag() for every case tried). */
const F1_LEN = tag(1, LEN);
const F2_LEN = tag(2, LEN);
const F4_LEN = tag(4, LEN);
const F5_LEN = tag(5, LEN);
const F1000_LEN = tag(1000, LEN);
const F2_VARINT = tag(2, VARINT);
const F3_VARINT = tag(3, VARINT);
const F6_VARINT = tag(6, VARINT);
const F4_I64 = tag(4, I64);
const F7_I64 = tag(7, I64);
const F8_I64 = tag(8, I64);
const F9_LEN = tag(9, LEN);
const F15_LEN = tag(15, LEN);

/**
 * Attribute keys looked up by their bytes, without making a string of every key on the wire: by length, then byte by
 * byte (a span carries a dozen or more attributes, most of them kept).
 */
class KeyTable {
  private readonly byLength: { readonly name: string; readonly bytes: Buffer }[][] = [];
  constructor(names: readonly string[]) {
    for (const name of names) {
      const bytes = Buffer.from(name, 'latin1');
      (this.byLength[bytes.length] ??= []).push({ name, bytes });
    }
  }

  find(buf: Buffer, start: number, end: number): string | undefined {
    const candidates = this.byLength[end - start];
    if (candidates === undefined) return undefined;
    next: for (const c of candidates) {
      const b = c.bytes;
      for (let i = 0; i < b.length; i++) if (buf[start + i] !== b[i]) continue next;
      return c.name;
    }
    return undefined;
  }
}

const SPAN_KEYS = new KeyTable(SPAN_ATTRIBUTES);
const RESOURCE_KEYS = new KeyTable(['service.name']);
const STATUSES: readonly SpanStatus[] = ['unset', 'ok', 'error'];

/** Mutable counters of one decode. */
interface Tally {
  invalid: number;
  reason: string | undefined;
  huge: number;
}

function invalid(t: Tally, reason: string, n = 1): void {
  t.invalid += n;
  t.reason ??= reason;
}

/** fixed64 as a number (nanoseconds since the epoch keep ~0.25 µs of precision, plenty for milliseconds) */
function fixed64(r: Reader): number {
  if (r.end - r.pos < 8) throw new AlsDecodeError('truncated fixed64');
  const lo = r.buf.readUInt32LE(r.pos);
  const hi = r.buf.readUInt32LE(r.pos + 4);
  r.pos += 8;
  return hi * 2 ** 32 + lo;
}

function bytesHex(r: Reader): string {
  const start = r.len();
  return r.buf.toString('hex', start, r.pos);
}

function cut(s: string, t: Tally): string {
  if (s.length <= MAX_ATTRIBUTE_CHARS) return s;
  t.huge++;
  return s.slice(0, MAX_ATTRIBUTE_CHARS);
}

/** opentelemetry.proto.common.v1.AnyValue → its text (scalars only; arrays, maps and bytes read as '') */
function anyValueText(r: Reader, t: Tally): string {
  let v = '';
  while (r.pos < r.end) {
    const u = r.tag();
    if (u === F1_LEN) {
      const start = r.len();
      // a value longer than we keep is cut before it becomes a string
      const end = Math.min(r.pos, start + MAX_ATTRIBUTE_CHARS * 4);
      v = cut(r.buf.toString('utf8', start, end), t);
      if (end < r.pos && v.length < MAX_ATTRIBUTE_CHARS) t.huge++;
    } else if (u === F2_VARINT) v = r.varint() !== 0 ? 'true' : 'false';
    else if (u === F3_VARINT) v = String(r.signedVarint());
    else if (u === F4_I64) v = String(r.double());
    else r.skip(u);
  }
  return v;
}

/**
 * One KeyValue (the next length-delimited field of `r`, read in place): its value stored into `into` when its key is
 * in `keys`, else nothing is copied. The cursor ends past the field.
 */
function keyValue(r: Reader, into: Partial<Record<string, string>>, t: Tally, keys: KeyTable): void {
  const outer = r.enter();
  const fieldEnd = r.end;
  let key: string | undefined;
  let valueStart = -1;
  let valueEnd = -1;
  while (r.pos < r.end) {
    const u = r.tag();
    if (u === F1_LEN) {
      const k = r.len();
      key = keys.find(r.buf, k, r.pos);
    } else if (u === F2_LEN) {
      valueStart = r.len();
      valueEnd = r.pos;
    } else r.skip(u);
  }
  if (key !== undefined && valueStart >= 0) {
    r.pos = valueStart;
    r.end = valueEnd;
    into[key] = anyValueText(r, t);
    r.end = fieldEnd;
  }
  r.leave(outer);
}

function span(r: Reader, t: Tally): DecodedSpan | string {
  let traceId = '';
  let spanId = '';
  let parentSpanId = '';
  let name = '';
  let kind: SpanKind = 'unspecified';
  let start = 0;
  let end = 0;
  let status: SpanStatus = 'unset';
  const attributes: Partial<Record<SpanAttribute, string>> = {};
  while (r.pos < r.end) {
    const u = r.tag();
    switch (u) {
      case F1_LEN:
        traceId = bytesHex(r);
        break;
      case F2_LEN:
        spanId = bytesHex(r);
        break;
      case F4_LEN:
        parentSpanId = bytesHex(r);
        break;
      case F5_LEN:
        name = cut(r.string(), t);
        break;
      case F6_VARINT:
        kind = SPAN_KINDS[r.varint()] ?? 'unspecified';
        break;
      case F7_I64:
        start = fixed64(r);
        break;
      case F8_I64:
        end = fixed64(r);
        break;
      case F9_LEN:
        keyValue(r, attributes, t, SPAN_KEYS);
        break;
      case F15_LEN: {
        const outer = r.enter();
        while (r.pos < r.end) {
          const w = r.tag();
          if (w === F3_VARINT) status = STATUSES[r.varint()] ?? 'unset';
          else r.skip(w);
        }
        r.leave(outer);
        break;
      }
      default:
        r.skip(u);
    }
  }
  if (traceId.length !== 32 || /^0+$/.test(traceId)) return 'trace id is not 16 bytes (or is zero)';
  if (spanId.length !== 16 || /^0+$/.test(spanId)) return 'span id is not 8 bytes (or is zero)';
  if (parentSpanId !== '' && parentSpanId.length !== 16) return 'parent span id is not 8 bytes';
  if (/^0+$/.test(parentSpanId)) parentSpanId = '';
  if (start <= 0 || end < start) return 'start/end times missing or end before start';
  return { traceId, spanId, parentSpanId, name, kind, startMs: start / 1e6, endMs: end / 1e6, status, attributes };
}

/** ScopeSpans (or InstrumentationLibrarySpans): its spans field is 2 in both. */
function scopeSpans(r: Reader, out: DecodedSpan[], t: Tally): void {
  while (r.pos < r.end) {
    const u = r.tag();
    if (u !== F2_LEN) {
      r.skip(u);
      continue;
    }
    // read in place (a reader per span was most of the decoder's garbage); a framing error of the span's own
    // length ends this scope (counted by the caller), one inside it costs only the span: the cursor is put back past
    // it, bounded by the scope again
    const outer = r.enter();
    const spanEnd = r.end;
    let d: DecodedSpan | string;
    try {
      d = span(r, t);
    } catch (e) {
      d = `span does not decode: ${(e as Error).message}`;
    }
    r.abandon(spanEnd, outer);
    if (typeof d === 'string') invalid(t, d);
    else out.push(d);
  }
}

function resourceServiceName(r: Reader, t: Tally): string | undefined {
  const found: Partial<Record<string, string>> = {};
  while (r.pos < r.end) {
    const u = r.tag();
    if (u === F1_LEN) keyValue(r, found, t, RESOURCE_KEYS);
    else r.skip(u);
  }
  return found['service.name'];
}

function resourceSpans(r: Reader, t: Tally): DecodedResourceSpans {
  let serviceName: string | undefined;
  const spans: DecodedSpan[] = [];
  while (r.pos < r.end) {
    const u = r.tag();
    if (u === F1_LEN) {
      const outer = r.enter();
      const fieldEnd = r.end;
      try {
        serviceName = resourceServiceName(r, t);
      } catch {
        // an unreadable resource only loses its name (shown, never used for attribution)
      }
      r.abandon(fieldEnd, outer);
    } else if (u === F2_LEN || u === F1000_LEN) {
      const outer = r.enter();
      const fieldEnd = r.end;
      try {
        scopeSpans(r, spans, t);
      } catch (e) {
        invalid(t, `scope does not decode: ${(e as Error).message}`);
      }
      r.abandon(fieldEnd, outer);
    } else r.skip(u);
  }
  return serviceName !== undefined ? { serviceName, spans } : { spans };
}

/** Decodes one ExportTraceServiceRequest; never throws (what does not decode is counted in `invalid`). */
export function decodeTraceExport(buf: Buffer): DecodedTraceExport {
  const t: Tally = { invalid: 0, reason: undefined, huge: 0 };
  const resources: DecodedResourceSpans[] = [];
  const r = new Reader(buf, 0, buf.length);
  try {
    while (r.pos < r.end) {
      const u = r.tag();
      if (u !== F1_LEN) {
        r.skip(u);
        continue;
      }
      const s = r.sub();
      try {
        resources.push(resourceSpans(s, t));
      } catch (e) {
        invalid(t, `resource does not decode: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    invalid(t, `export request does not decode: ${(e as Error).message}`);
  }
  return {
    resources,
    invalid: t.invalid,
    ...(t.reason !== undefined && { invalidReason: t.reason }),
    hugeAttributes: t.huge,
  };
}

/**
 * How many spans an export holds, counted without decoding them (an export refused whole, e.g. over the size
 * bound, still says how many spans it rejected). Stops counting where the framing breaks.
 */
export function countSpans(buf: Buffer): number {
  let n = 0;
  const each = (r: Reader, field: number | readonly number[], fn: (s: Reader) => void): void => {
    const fields = typeof field === 'number' ? [field] : field;
    while (r.pos < r.end) {
      const u = r.tag();
      if ((u & 7) === LEN && fields.includes(u >>> 3)) fn(r.sub());
      else r.skip(u);
    }
  };
  try {
    each(new Reader(buf, 0, buf.length), 1, (rs) =>
      each(rs, [2, 1000], (ss) =>
        each(ss, 2, () => {
          n++;
        }),
      ),
    );
  } catch {
    // counted up to the break
  }
  return n;
}
