// One request's identity across its logs and spans: the `x-request-id` Envoy generates (a UUID) or keeps. Pure.
//
// Envoy's UUID request-id extension packs the tracing decision into the UUID's version nibble (character 14):
// '4' not traced, '9' sampled, 'a' forced, 'b' traced because the client asked. Each sidecar on the way may set it
// again, so the client's and the server's access-log entries (and spans, tag `guid:x-request-id`) of one request can
// differ in exactly that character. The key blanks it, so they are one request again.

const TRACE_NIBBLES = new Set(['4', '9', 'a', 'b', 'A', 'B']);

/** The request id with Envoy's trace-decision character blanked (UUID-shaped ids only; others as they are). */
export function requestKey(rid: string): string {
  if (
    rid.length === 36 &&
    rid.charCodeAt(8) === 45 /* - */ &&
    rid.charCodeAt(13) === 45 &&
    rid.charCodeAt(18) === 45 &&
    rid.charCodeAt(23) === 45 &&
    TRACE_NIBBLES.has(rid[14]!)
  ) {
    return `${rid.slice(0, 14)}x${rid.slice(15)}`.toLowerCase();
  }
  return rid;
}
