// A lean decoder for envoy.service.accesslog.v3.StreamAccessLogsMessage: reads only the fields in
// model/access-log.ts and skips the rest of the wire bytes. Decoding every field of every entry with the generated
// code was most of ingest's garbage (about 40 fields and a dozen objects per entry); this builds one small object
// per message part that is read. Pure; throws AlsDecodeError on bytes that are not a valid message.
//
// Field numbers are those of the .proto files (data/accesslog/v3/accesslog.proto, config/core/v3/address.proto,
// service/accesslog/v3/als.proto, google/protobuf/struct.proto). A property test checks every field against the
// generated decoder (test/unit/serve/als-decode.test.ts).

import type { HttpLogEntry, LogAddress, LogCommon, LogTime, TcpLogEntry } from '../model/access-log.js';
import { AlsDecodeError, LEN, Reader, VARINT, nested, stringEntry, stringMap, struct, tag } from './wire-reader.js';

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
      const o = r.enter();
      let addr = '';
      let portValue: number | undefined;
      while (r.pos < r.end) {
        const u = r.tag();
        if (u === tag(2, LEN)) addr = r.string();
        else if (u === tag(3, VARINT)) portValue = r.varint() >>> 0;
        else r.skip(u);
      }
      r.leave(o);
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
        downstreamRemoteAddress = nested(r, address);
        break;
      case tag(3, LEN):
        downstreamLocalAddress = nested(r, address);
        break;
      case tag(4, LEN): {
        const o = r.enter();
        let sni = '';
        while (r.pos < r.end) {
          const u = r.tag();
          if (u === tag(3, LEN)) sni = r.string();
          else r.skip(u);
        }
        r.leave(o);
        tlsProperties = { tlsSniHostname: sni };
        break;
      }
      case tag(5, LEN):
        startTime = nested(r, time);
        break;
      case tag(13, LEN):
        upstreamRemoteAddress = nested(r, address);
        break;
      case tag(14, LEN):
        upstreamLocalAddress = nested(r, address);
        break;
      case tag(16, LEN): {
        // ResponseFlags: a bool per flag (field n → bit n-1); unauthorized_details (13) is a message
        const o = r.enter();
        while (r.pos < r.end) {
          const u = r.tag();
          const field = u >>> 3;
          if ((u & 7) === VARINT) {
            if (r.varint() !== 0 && field <= 32) responseFlagBits |= 1 << (field - 1);
          } else {
            if (field <= 32) responseFlagBits |= 1 << (field - 1);
            r.skip(u);
          }
        }
        r.leave(o);
        break;
      }
      case tag(17, LEN):
        md = nested(r, metadata);
        break;
      case tag(23, LEN):
        duration = nested(r, time);
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
    if (t === tag(1, LEN)) commonProperties = nested(r, common);
    else if (t === tag(2, LEN)) {
      const o = r.enter();
      let receivedBytes = 0;
      let sentBytes = 0;
      while (r.pos < r.end) {
        const u = r.tag();
        if (u === tag(1, VARINT)) receivedBytes = r.varint();
        else if (u === tag(2, VARINT)) sentBytes = r.varint();
        else r.skip(u);
      }
      r.leave(o);
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
    if (t === tag(1, LEN)) commonProperties = nested(r, common);
    else if (t === tag(2, VARINT)) protocolVersion = r.signedVarint() | 0;
    else if (t === tag(3, LEN)) {
      const o = r.enter();
      let authority = '';
      let path = '';
      let originalPath = '';
      let requestId = '';
      let requestMethod = 0;
      let requestHeadersBytes = 0;
      let requestBodyBytes = 0;
      let requestHeaders: Record<string, string> | undefined;
      while (r.pos < r.end) {
        const u = r.tag();
        switch (u) {
          case tag(1, VARINT):
            requestMethod = r.signedVarint() | 0;
            break;
          case tag(3, LEN):
            authority = r.string();
            break;
          case tag(5, LEN):
            path = r.string();
            break;
          case tag(9, LEN):
            requestId = r.string();
            break;
          case tag(10, LEN):
            originalPath = r.string();
            break;
          case tag(11, VARINT):
            requestHeadersBytes = r.varint();
            break;
          case tag(12, VARINT):
            requestBodyBytes = r.varint();
            break;
          case tag(13, LEN): {
            // map<string, string> request_headers: one entry per field
            const [key, value] = nested(r, stringEntry);
            (requestHeaders ??= {})[key] = value;
            break;
          }
          default:
            r.skip(u);
        }
      }
      r.leave(o);
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
      const o = r.enter();
      let responseCode: number | undefined;
      let responseCodeDetails = '';
      let responseHeadersBytes = 0;
      let responseBodyBytes = 0;
      let grpcStatus: number | undefined;
      while (r.pos < r.end) {
        const u = r.tag();
        switch (u) {
          case tag(1, LEN): {
            // google.protobuf.UInt32Value
            const ow = r.enter();
            responseCode = 0;
            while (r.pos < r.end) {
              const x = r.tag();
              if (x === tag(1, VARINT)) responseCode = r.varint() >>> 0;
              else r.skip(x);
            }
            r.leave(ow);
            break;
          }
          case tag(2, VARINT):
            responseHeadersBytes = r.varint();
            break;
          case tag(3, VARINT):
            responseBodyBytes = r.varint();
            break;
          case tag(4, LEN):
          case tag(5, LEN): {
            // response_headers / response_trailers (map<string, string>): only grpc-status is logged; a trailer
            // (field 5) wins over a header
            const [key, value] = nested(r, stringEntry);
            if (key === 'grpc-status' && /^\d{1,3}$/.test(value) && (grpcStatus === undefined || u === tag(5, LEN))) {
              grpcStatus = Number(value);
            }
            break;
          }
          case tag(6, LEN):
            responseCodeDetails = r.string();
            break;
          default:
            r.skip(u);
        }
      }
      r.leave(o);
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
      const o = r.enter();
      while (r.pos < r.end) {
        const u = r.tag();
        if (u === tag(1, LEN)) nodeId = r.string();
        else if (u === tag(2, LEN)) cluster = r.string();
        else r.skip(u);
      }
      r.leave(o);
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
    if (t === tag(1, LEN)) id = nested(r, identifier);
    else if (t === tag(2, LEN) || t === tag(3, LEN)) {
      const o = r.enter();
      while (r.pos < r.end) {
        const u = r.tag();
        if (u !== tag(1, LEN)) r.skip(u);
        else if (t === tag(2, LEN)) http.push(nested(r, httpEntry));
        else tcp.push(nested(r, tcpEntry));
      }
      r.leave(o);
    } else r.skip(t);
  }
  return id ? { identifier: id, tcp, http } : { tcp, http };
}
