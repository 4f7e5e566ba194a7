// The parts of Envoy's access-log entries (envoy.data.accesslog.v3) that nanoseg reads: attribution (learn/als.ts),
// verdicts (alerts/verdict.ts) and alerts. Field names and defaults are those of the generated messages, so a
// ts-proto TCPAccessLogEntry / HTTPAccessLogEntry is one of these too; the ALS service decodes only these fields
// (serve/als-decode.ts), which keeps ingest cheap.

/** envoy.config.core.v3.Address; only socket addresses are usable, the others are told apart to say why. */
export interface LogAddress {
  /** portValue is absent when the address names a port instead */
  readonly socketAddress?: { readonly address: string; readonly portValue?: number | undefined } | undefined;
  readonly pipe?: unknown;
  readonly envoyInternalAddress?: unknown;
}

/** google.protobuf.Timestamp / Duration */
export interface LogTime {
  readonly seconds: number;
  readonly nanos: number;
}

/** envoy.data.accesslog.v3.AccessLogCommon (subset) */
export interface LogCommon {
  readonly downstreamRemoteAddress?: LogAddress | undefined;
  readonly downstreamLocalAddress?: LogAddress | undefined;
  readonly upstreamRemoteAddress?: LogAddress | undefined;
  readonly upstreamLocalAddress?: LogAddress | undefined;
  readonly tlsProperties?: { readonly tlsSniHostname: string } | undefined;
  readonly startTime?: LogTime | undefined;
  readonly duration?: LogTime | undefined;
  /** dynamic metadata: filter name → its Struct as a plain object */
  readonly metadata?:
    | { readonly filterMetadata: { readonly [filter: string]: { readonly [key: string]: unknown } | undefined } }
    | undefined;
  readonly connectionTerminationDetails: string;
  /**
   * response_flags as bits (bit = the flag's field number in ResponseFlags - 1); the decoder's own field, absent
   * from generated messages
   */
  readonly responseFlagBits?: number;
  readonly downstreamWireBytesSent: number;
  readonly downstreamWireBytesReceived: number;
}

/** envoy.data.accesslog.v3.TCPAccessLogEntry (subset) */
export interface TcpLogEntry {
  readonly commonProperties?: LogCommon | undefined;
  readonly connectionProperties?: { readonly receivedBytes: number; readonly sentBytes: number } | undefined;
}

/** envoy.data.accesslog.v3.HTTPAccessLogEntry (subset) */
export interface HttpLogEntry {
  readonly commonProperties?: LogCommon | undefined;
  /** HTTPAccessLogEntry.HTTPVersion: 1 HTTP/1.0, 2 HTTP/1.1, 3 HTTP/2, 4 HTTP/3 */
  readonly protocolVersion: number;
  readonly request?:
    | {
        readonly authority: string;
        readonly path: string;
        readonly originalPath: string;
        readonly requestId: string;
        /** envoy.config.core.v3.RequestMethod: 1 GET … 9 PATCH; absent or 0 when unknown */
        readonly requestMethod?: number;
        readonly requestHeadersBytes: number;
        readonly requestBodyBytes: number;
        /** the headers the log config names (`traceparent`, for the trace id of an alert) */
        readonly requestHeaders?: { readonly [name: string]: string } | undefined;
      }
    | undefined;
  readonly response?:
    | {
        readonly responseCode?: number | undefined;
        readonly responseCodeDetails: string;
        readonly responseHeadersBytes: number;
        readonly responseBodyBytes: number;
        /** the `grpc-status` trailer (or header, for a trailers-only response), when logged and numeric */
        readonly grpcStatus?: number;
      }
    | undefined;
}

export type LogEntry = TcpLogEntry | HttpLogEntry;

/** Who an access-log stream is, from its first message's identifier. */
export interface AccessLogStream {
  readonly nodeId: string;
  readonly cluster: string;
  /** `identifier.log_name`: "outbound", "inbound", or a deny chain's "<side>-deny" */
  readonly logName: string;
}
