// Decodes the spans of an OTLP ExportTraceServiceRequest as an SDK encodes them, for tests of what the control plane
// exports. The generated ts-proto codec reads fixed64 times as numbers and refuses nanosecond epochs (past 2^53), so
// this reads the few fields the tests check with @bufbuild/protobuf's reader; times stay bigints.
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

export type AttrValue = string | number | boolean | undefined;

export interface DecodedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root */
  readonly parentSpanId: string;
  readonly name: string;
  /** 1 internal, 2 server, ... */
  readonly kind: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Record<string, AttrValue>;
  readonly links: readonly { readonly traceId: string; readonly spanId: string }[];
  /** 0 unset, 1 ok, 2 error */
  readonly statusCode: number;
  readonly resource: Record<string, AttrValue>;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Calls `each(field, wireType, reader)` for every field of the message in `buf`; unread fields are skipped. */
function fields(buf: Uint8Array, each: (no: number, r: BinaryReader) => boolean): void {
  const r = new BinaryReader(buf);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (!each(no, r)) r.skip(wt as WireType);
  }
}

function anyValue(buf: Uint8Array): AttrValue {
  let v: AttrValue;
  fields(buf, (no, r) => {
    if (no === 1) v = r.string();
    else if (no === 2) v = r.bool();
    else if (no === 3) v = Number(r.int64());
    else if (no === 4) v = r.double();
    else return false;
    return true;
  });
  return v;
}

function keyValue(buf: Uint8Array, into: Record<string, AttrValue>): void {
  let key = '';
  let value: AttrValue;
  fields(buf, (no, r) => {
    if (no === 1) key = r.string();
    else if (no === 2) value = anyValue(r.bytes());
    else return false;
    return true;
  });
  into[key] = value;
}

function span(buf: Uint8Array, resource: Record<string, AttrValue>): DecodedSpan {
  const s = {
    traceId: '',
    spanId: '',
    parentSpanId: '',
    name: '',
    kind: 0,
    startNs: 0n,
    endNs: 0n,
    attributes: {} as Record<string, AttrValue>,
    links: [] as { traceId: string; spanId: string }[],
    statusCode: 0,
    resource,
  };
  fields(buf, (no, r) => {
    if (no === 1) s.traceId = hex(r.bytes());
    else if (no === 2) s.spanId = hex(r.bytes());
    else if (no === 4) s.parentSpanId = hex(r.bytes());
    else if (no === 5) s.name = r.string();
    else if (no === 6) s.kind = r.int32();
    else if (no === 7) s.startNs = BigInt(r.fixed64());
    else if (no === 8) s.endNs = BigInt(r.fixed64());
    else if (no === 9) keyValue(r.bytes(), s.attributes);
    else if (no === 13) {
      const link = { traceId: '', spanId: '' };
      fields(r.bytes(), (n, lr) => {
        if (n === 1) link.traceId = hex(lr.bytes());
        else if (n === 2) link.spanId = hex(lr.bytes());
        else return false;
        return true;
      });
      s.links.push(link);
    } else if (no === 15)
      fields(r.bytes(), (n, sr) => {
        if (n !== 3) return false;
        s.statusCode = sr.int32();
        return true;
      });
    else return false;
    return true;
  });
  return s;
}

/** Every span of an export, with its resource's attributes. */
export function decodeExport(buf: Uint8Array): DecodedSpan[] {
  const out: DecodedSpan[] = [];
  fields(buf, (no, r) => {
    if (no !== 1) return false;
    const resource: Record<string, AttrValue> = {};
    const scopes: Uint8Array[] = [];
    fields(r.bytes(), (n, rr) => {
      if (n === 1)
        fields(rr.bytes(), (m, ar) => {
          if (m !== 1) return false;
          keyValue(ar.bytes(), resource);
          return true;
        });
      else if (n === 2) scopes.push(rr.bytes());
      else return false;
      return true;
    });
    for (const sc of scopes)
      fields(sc, (n, sr) => {
        if (n !== 2) return false;
        out.push(span(sr.bytes(), resource));
        return true;
      });
    return true;
  });
  return out;
}
