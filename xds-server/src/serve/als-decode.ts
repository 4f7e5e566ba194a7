// A lean decoder for envoy.service.accesslog.v3.StreamAccessLogsMessage: reads only the fields in
// model/access-log.ts and skips the rest of the wire bytes. Decoding every field of every entry with the generated
// code was most of ingest's garbage (about 40 fields and a dozen objects per entry); this builds one small object
// per message part that is read. Pure; throws AlsDecodeError on bytes that are not a valid message.
//
// Field numbers are those of the .proto files (data/accesslog/v3/accesslog.proto, config/core/v3/address.proto,
// service/accesslog/v3/als.proto, google/protobuf/struct.proto). A property test checks every field against the
// generated decoder (test/unit/serve/als-decode.test.ts).

import type { HttpLogEntry, LogAddress, LogCommon, LogTime, TcpLogEntry } from '../model/access-log.js';

export class AlsDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AlsDecodeError';
  }
}

export interface DecodedAlsMessage {
  /** present on the first message of a stream */
  readonly identifier?: { readonly nodeId: string; readonly cluster: string; readonly logName: string };
  readonly tcp: TcpLogEntry[];
  readonly http: HttpLogEntry[];
}

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

const tag = (field: number, wire: number): number => (field << 3) | wire;

/** A cursor over protobuf wire bytes. */
class Reader {
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

function address(r: Reader): LogAddress {
  let socketAddress: { address: string; portValue: number | undefined } | undefined;
  let pipe: object | undefined;
  let envoyInternalAddress: object | undefined;
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === tag(1, LEN)) {
      const s = r.sub();
      let addr = '';
      let portValue: number | undefined;
      while (s.pos < s.end) {
        const u = s.tag();
        if (u === tag(2, LEN)) addr = s.string();
        else if (u === tag(3, VARINT)) portValue = s.varint() >>> 0;
        else s.skip(u);
      }
      socketAddress = { address: addr, portValue };
    } else if (t === tag(2, LEN)) {
      r.len();
      pipe = {};
    } else if (t === tag(3, LEN)) {
      r.len();
      envoyInternalAddress = {};
    } else r.skip(t);
  }
  return { socketAddress, pipe, envoyInternalAddress };
}

function time(r: Reader): LogTime {
  let seconds = 0;
  let nanos = 0;
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === tag(1, VARINT)) seconds = r.signedVarint();
    else if (t === tag(2, VARINT)) nanos = r.signedVarint() | 0;
    else r.skip(t);
  }
  return { seconds, nanos };
}

/** google.protobuf.Value → JSON-like value (as the generated code unwraps it) */
function value(r: Reader): unknown {
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
        v = struct(r.sub());
        break;
      case tag(6, LEN): {
        const l = r.sub();
        const list: unknown[] = [];
        while (l.pos < l.end) {
          const u = l.tag();
          if (u === tag(1, LEN)) list.push(value(l.sub()));
          else l.skip(u);
        }
        v = list;
        break;
      }
      default:
        r.skip(t);
    }
  }
  return v;
}

/** A map<string, V> field (number 1: Struct.fields, Metadata.filter_metadata) → plain object. */
function stringMap<V>(r: Reader, decodeValue: (r: Reader) => V, absent: () => V): Record<string, V> {
  const out: Record<string, V> = {};
  while (r.pos < r.end) {
    const t = r.tag();
    if (t !== tag(1, LEN)) {
      r.skip(t);
      continue;
    }
    const e = r.sub();
    let key = '';
    let v: V | undefined;
    while (e.pos < e.end) {
      const u = e.tag();
      if (u === tag(1, LEN)) key = e.string();
      else if (u === tag(2, LEN)) v = decodeValue(e.sub());
      else e.skip(u);
    }
    out[key] = v === undefined ? absent() : v;
  }
  return out;
}

/** google.protobuf.Struct → plain object */
function struct(r: Reader): Record<string, unknown> {
  return stringMap(r, value, () => undefined);
}

/** envoy.config.core.v3.Metadata: filter_metadata → plain objects */
function metadata(r: Reader): { filterMetadata: Record<string, Record<string, unknown>> } {
  return { filterMetadata: stringMap(r, struct, () => ({})) };
}

function common(r: Reader): LogCommon {
  let downstreamRemoteAddress: LogAddress | undefined;
  let downstreamLocalAddress: LogAddress | undefined;
  let upstreamRemoteAddress: LogAddress | undefined;
  let upstreamLocalAddress: LogAddress | undefined;
  let tlsProperties: { tlsSniHostname: string } | undefined;
  let startTime: LogTime | undefined;
  let duration: LogTime | undefined;
  let md: LogCommon['metadata'];
  let connectionTerminationDetails = '';
  let downstreamWireBytesSent = 0;
  let downstreamWireBytesReceived = 0;
  while (r.pos < r.end) {
    const t = r.tag();
    switch (t) {
      case tag(2, LEN):
        downstreamRemoteAddress = address(r.sub());
        break;
      case tag(3, LEN):
        downstreamLocalAddress = address(r.sub());
        break;
      case tag(4, LEN): {
        const s = r.sub();
        let sni = '';
        while (s.pos < s.end) {
          const u = s.tag();
          if (u === tag(3, LEN)) sni = s.string();
          else s.skip(u);
        }
        tlsProperties = { tlsSniHostname: sni };
        break;
      }
      case tag(5, LEN):
        startTime = time(r.sub());
        break;
      case tag(13, LEN):
        upstreamRemoteAddress = address(r.sub());
        break;
      case tag(14, LEN):
        upstreamLocalAddress = address(r.sub());
        break;
      case tag(17, LEN):
        md = metadata(r.sub());
        break;
      case tag(23, LEN):
        duration = time(r.sub());
        break;
      case tag(25, LEN):
        connectionTerminationDetails = r.string();
        break;
      case tag(29, VARINT):
        downstreamWireBytesSent = r.varint();
        break;
      case tag(30, VARINT):
        downstreamWireBytesReceived = r.varint();
        break;
      default:
        r.skip(t);
    }
  }
  return {
    downstreamRemoteAddress,
    downstreamLocalAddress,
    upstreamRemoteAddress,
    upstreamLocalAddress,
    tlsProperties,
    startTime,
    duration,
    metadata: md,
    connectionTerminationDetails,
    downstreamWireBytesSent,
    downstreamWireBytesReceived,
  };
}

function tcpEntry(r: Reader): TcpLogEntry {
  let commonProperties: LogCommon | undefined;
  let connectionProperties: { receivedBytes: number; sentBytes: number } | undefined;
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === tag(1, LEN)) commonProperties = common(r.sub());
    else if (t === tag(2, LEN)) {
      const s = r.sub();
      let receivedBytes = 0;
      let sentBytes = 0;
      while (s.pos < s.end) {
        const u = s.tag();
        if (u === tag(1, VARINT)) receivedBytes = s.varint();
        else if (u === tag(2, VARINT)) sentBytes = s.varint();
        else s.skip(u);
      }
      connectionProperties = { receivedBytes, sentBytes };
    } else r.skip(t);
  }
  return { commonProperties, connectionProperties };
}

function httpEntry(r: Reader): HttpLogEntry {
  let commonProperties: LogCommon | undefined;
  let protocolVersion = 0;
  let request: HttpLogEntry['request'];
  let response: HttpLogEntry['response'];
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === tag(1, LEN)) commonProperties = common(r.sub());
    else if (t === tag(2, VARINT)) protocolVersion = r.signedVarint() | 0;
    else if (t === tag(3, LEN)) {
      const s = r.sub();
      let authority = '';
      let path = '';
      let originalPath = '';
      let requestId = '';
      let requestHeadersBytes = 0;
      let requestBodyBytes = 0;
      while (s.pos < s.end) {
        const u = s.tag();
        switch (u) {
          case tag(3, LEN):
            authority = s.string();
            break;
          case tag(5, LEN):
            path = s.string();
            break;
          case tag(9, LEN):
            requestId = s.string();
            break;
          case tag(10, LEN):
            originalPath = s.string();
            break;
          case tag(11, VARINT):
            requestHeadersBytes = s.varint();
            break;
          case tag(12, VARINT):
            requestBodyBytes = s.varint();
            break;
          default:
            s.skip(u);
        }
      }
      request = { authority, path, originalPath, requestId, requestHeadersBytes, requestBodyBytes };
    } else if (t === tag(4, LEN)) {
      const s = r.sub();
      let responseCode: number | undefined;
      let responseCodeDetails = '';
      let responseHeadersBytes = 0;
      let responseBodyBytes = 0;
      while (s.pos < s.end) {
        const u = s.tag();
        switch (u) {
          case tag(1, LEN): {
            // google.protobuf.UInt32Value
            const w = s.sub();
            responseCode = 0;
            while (w.pos < w.end) {
              const x = w.tag();
              if (x === tag(1, VARINT)) responseCode = w.varint() >>> 0;
              else w.skip(x);
            }
            break;
          }
          case tag(2, VARINT):
            responseHeadersBytes = s.varint();
            break;
          case tag(3, VARINT):
            responseBodyBytes = s.varint();
            break;
          case tag(6, LEN):
            responseCodeDetails = s.string();
            break;
          default:
            s.skip(u);
        }
      }
      response = { responseCode, responseCodeDetails, responseHeadersBytes, responseBodyBytes };
    } else r.skip(t);
  }
  return { commonProperties, protocolVersion, request, response };
}

function identifier(r: Reader): { nodeId: string; cluster: string; logName: string } {
  let nodeId = '';
  let cluster = '';
  let logName = '';
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === tag(1, LEN)) {
      const n = r.sub();
      while (n.pos < n.end) {
        const u = n.tag();
        if (u === tag(1, LEN)) nodeId = n.string();
        else if (u === tag(2, LEN)) cluster = n.string();
        else n.skip(u);
      }
    } else if (t === tag(2, LEN)) logName = r.string();
    else r.skip(t);
  }
  return { nodeId, cluster, logName };
}

/** Decodes one StreamAccessLogsMessage; throws AlsDecodeError when the bytes are not one. */
export function decodeAlsMessage(buf: Buffer): DecodedAlsMessage {
  const r = new Reader(buf, 0, buf.length);
  let id: DecodedAlsMessage['identifier'];
  const tcp: TcpLogEntry[] = [];
  const http: HttpLogEntry[] = [];
  while (r.pos < r.end) {
    const t = r.tag();
    if (t === tag(1, LEN)) id = identifier(r.sub());
    else if (t === tag(2, LEN) || t === tag(3, LEN)) {
      const list = r.sub();
      while (list.pos < list.end) {
        const u = list.tag();
        if (u !== tag(1, LEN)) list.skip(u);
        else if (t === tag(2, LEN)) http.push(httpEntry(list.sub()));
        else tcp.push(tcpEntry(list.sub()));
      }
    } else r.skip(t);
  }
  return id ? { identifier: id, tcp, http } : { tcp, http };
}
