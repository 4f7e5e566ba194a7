// The parts of an OTLP span (opentelemetry.proto.trace.v1.Span) that nanoseg reads, as the lean decoder
// (serve/otlp-decode.ts) hands them over: ids as lowercase hex, times in ms since the epoch, and only the attributes
// attribution, learning and the trace views need (SPAN_ATTRIBUTES), each value cut at MAX_ATTRIBUTE_CHARS.

/** opentelemetry.proto.trace.v1.Span.SpanKind */
export type SpanKind = 'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer';
/** The span kinds by their OTLP enum value (what the decoder reads, and the code the trace store keeps). */
export const SPAN_KINDS: readonly SpanKind[] = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];

/** opentelemetry.proto.trace.v1.Status.StatusCode */
export type SpanStatus = 'unset' | 'ok' | 'error';

/**
 * The span attributes kept (Envoy's tracer sets all of them; an SDK's spans may carry some). Any other attribute is
 * skipped by the decoder without being copied.
 */
export const SPAN_ATTRIBUTES = [
  'node_id',
  'guid:x-request-id',
  'http.url',
  'http.method',
  'http.status_code',
  'http.protocol',
  'upstream_cluster',
  'upstream_address',
  'peer.address',
  'response_flags',
  'grpc.status_code',
  'error',
  'nanoseg.port',
] as const;
export type SpanAttribute = (typeof SPAN_ATTRIBUTES)[number];

/** The tag an inbound chain's tracer adds with its port (generate/telemetry.ts): a server span's edge port. */
export const SPAN_PORT_TAG = 'nanoseg.port';

/** Longest attribute value kept; a longer one is cut there and counted as a huge attribute. */
export const MAX_ATTRIBUTE_CHARS = 2048;

export interface DecodedSpan {
  /** 32 hex digits */
  readonly traceId: string;
  /** 16 hex digits */
  readonly spanId: string;
  /** '' for a root span */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: SpanKind;
  readonly startMs: number;
  readonly endMs: number;
  readonly status: SpanStatus;
  readonly attributes: Partial<Record<SpanAttribute, string>>;
}

/** Spans of one resource (one process) in an export. */
export interface DecodedResourceSpans {
  /** the resource's `service.name`, shown only: attribution never uses it */
  readonly serviceName?: string;
  readonly spans: DecodedSpan[];
}

export interface DecodedTraceExport {
  readonly resources: DecodedResourceSpans[];
  /** spans that were not valid (bad ids, times, wire bytes), with the first reason */
  readonly invalid: number;
  readonly invalidReason?: string;
  /** attribute values cut at MAX_ATTRIBUTE_CHARS */
  readonly hugeAttributes: number;
}
