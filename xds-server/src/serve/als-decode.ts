// A lean decoder for envoy.service.accesslog.v3.StreamAccessLogsMessage: reads only the fields in
// model/access-log.ts and skips the rest of the wire bytes. Decoding every field of every entry with the generated
// code was most of ingest's garbage (about 40 fields and a dozen objects per entry); this builds one small object
// per message part that is read. Pure; throws AlsDecodeError on bytes that are not a valid message.
//
// Field numbers are those of the .proto files (data/accesslog/v3/accesslog.proto, config/core/v3/address.proto,
// service/accesslog/v3/als.proto, google/protobuf/struct.proto). A property test checks every field against the
// generated decoder (test/unit/serve/als-decode.test.ts).

import type { HttpLogEntry, LogAddress, LogCommon, LogTime, TcpLogEntry } from '../model/access-log.js';
import { AlsDecodeError, LEN, Reader, VARINT, stringEntry, stringMap, struct, tag } from './wire-reader.js';

export { AlsDecodeError };

export interface DecodedAlsMessage {
  /** present on the first message of a stream */
  readonly identifier?: { readonly nodeId: string; readonly cluster: string; readonly logName: string };
  readonly tcp: TcpLogEntry[];
  readonly http: HttpLogEntry[];
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
  let responseFlagBits = 0;
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
      case tag(16, LEN): {
        // ResponseFlags: a bool per flag (field n → bit n-1); unauthorized_details (13) is a message
        const s = r.sub();
        while (s.pos < s.end) {
          const u = s.tag();
          const field = u >>> 3;
          if ((u & 7) === VARINT) {
            if (s.varint() !== 0 && field <= 32) responseFlagBits |= 1 << (field - 1);
          } else {
            if (field <= 32) responseFlagBits |= 1 << (field - 1);
            s.skip(u);
          }
        }
        break;
      }
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
    ...(responseFlagBits !== 0 && { responseFlagBits: responseFlagBits >>> 0 }),
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
      let requestMethod = 0;
      let requestHeadersBytes = 0;
      let requestBodyBytes = 0;
      let requestHeaders: Record<string, string> | undefined;
      while (s.pos < s.end) {
        const u = s.tag();
        switch (u) {
          case tag(1, VARINT):
            requestMethod = s.signedVarint() | 0;
            break;
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
          case tag(13, LEN): {
            // map<string, string> request_headers: one entry per field
            const [key, value] = stringEntry(s.sub());
            (requestHeaders ??= {})[key] = value;
            break;
          }
          default:
            s.skip(u);
        }
      }
      request = {
        authority,
        path,
        originalPath,
        requestId,
        requestMethod,
        requestHeadersBytes,
        requestBodyBytes,
        ...(requestHeaders && { requestHeaders }),
      };
    } else if (t === tag(4, LEN)) {
      const s = r.sub();
      let responseCode: number | undefined;
      let responseCodeDetails = '';
      let responseHeadersBytes = 0;
      let responseBodyBytes = 0;
      let grpcStatus: number | undefined;
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
          case tag(4, LEN):
          case tag(5, LEN): {
            // response_headers / response_trailers (map<string, string>): only grpc-status is logged; a trailer
            // (field 5) wins over a header
            const [key, value] = stringEntry(s.sub());
            if (key === 'grpc-status' && /^\d{1,3}$/.test(value) && (grpcStatus === undefined || u === tag(5, LEN))) {
              grpcStatus = Number(value);
            }
            break;
          }
          case tag(6, LEN):
            responseCodeDetails = s.string();
            break;
          default:
            s.skip(u);
        }
      }
      response = {
        responseCode,
        responseCodeDetails,
        responseHeadersBytes,
        responseBodyBytes,
        ...(grpcStatus !== undefined && { grpcStatus }),
      };
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
