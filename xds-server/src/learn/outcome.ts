// Did a request (or a TCP connection) fail? One definition for access-log entries and spans. Pure.
//
// An error is
//  - an HTTP response status ≥ 500 (5xx, including the 503 Envoy answers with when it cannot reach the upstream);
//  - a gRPC status other than 0 (OK), from the `grpc-status` trailer (or header, for a trailers-only response) in
//    the access log, or the span's `grpc.status_code`;
//  - an upstream failure flag of Envoy (response flags): no healthy upstream (UH), upstream connection failure
//    (UF), upstream overflow (UO), upstream request timeout (UT), upstream remote reset (UR), local reset (LR), no
//    route (NR), no cluster (NC), retry limit exceeded (URX), stream idle timeout (SI), max stream duration reached
//    (UMSDR), upstream protocol error (UPE), DNS resolution failure (DF). For a TCP connection these flags are the
//    only signal (a TCP proxy has no status);
//  - a span with OTLP status ERROR or the tag `error=true` (Envoy sets it on the same conditions).
// Not errors: 4xx responses (the caller's mistake, and a 403 may be an RBAC denial, which is an alert and never
// evidence), a client that went away (DC, DR), and a request that was never answered for no upstream reason.

/** Envoy's ResponseFlags (envoy.data.accesslog.v3.ResponseFlags): bit (field number - 1) per flag, and short names. */
const FLAGS: readonly [field: number, short: string][] = [
  [2, 'UH'],
  [3, 'UT'],
  [4, 'LR'],
  [5, 'UR'],
  [6, 'UF'],
  [8, 'UO'],
  [9, 'NR'],
  [16, 'URX'],
  [17, 'SI'],
  [20, 'UMSDR'],
  [24, 'UPE'],
  [25, 'NC'],
  [27, 'DF'],
];

/** The response-flag bits (bit = field number - 1) that make a request or connection an error. */
export const ERROR_FLAG_BITS = FLAGS.reduce((m, [f]) => m | (1 << (f - 1)), 0) >>> 0;

const ERROR_FLAG_NAMES = new Set(FLAGS.map(([, s]) => s));

/** From an access-log entry: HTTP status (0/absent: none), gRPC status (absent: none), response-flag bits. */
export function logEntryFailed(
  responseCode: number | undefined,
  grpcStatus: number | undefined,
  flagBits: number | undefined,
): boolean {
  if (responseCode !== undefined && responseCode >= 500) return true;
  if (grpcStatus !== undefined && grpcStatus !== 0) return true;
  return flagBits !== undefined && (flagBits & ERROR_FLAG_BITS) !== 0;
}

/** Envoy's span tag `response_flags`: `-` or short names joined by `,` (`UF,URX`). */
export function spanFlagsFailed(flags: string | undefined): boolean {
  if (flags === undefined || flags === '' || flags === '-') return false;
  for (const f of flags.split(',')) if (ERROR_FLAG_NAMES.has(f.trim())) return true;
  return false;
}
