// Envoy access-log entries → ObservedFlows: attribution (als.ts) plus the sidecar's verdict (alerts/verdict.ts) with
// the addresses the explanation needs. Pure, never throws: what cannot be attributed goes to `reject`. This is the
// hot path of ingest: one small object per entry, addresses normalized only for entries that carry a verdict.
import { verdictOf } from '../alerts/verdict.js';
import type { IdentityIndex } from '../inventory/identity.js';
import { normalizeIp } from '../inventory/identity.js';
import type { AccessLogStream, HttpLogEntry, LogEntry, ObservedFlow } from '../model/index.js';
import { DENY_LOG_SUFFIX, isServicePeer } from '../model/index.js';
import { toObservation, type AlsEntryKind } from './als.js';
import { methodName, stripQuery } from './l7.js';

export type Reject = (kind: string, detail: string, node: string) => void;

const TRACEPARENT_RE = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;

/** The trace id of a W3C `traceparent` header (`00-<trace id>-<parent id>-<flags>`); undefined when not one. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  const m = traceparent ? TRACEPARENT_RE.exec(traceparent.trim().toLowerCase()) : null;
  return m && !/^0+$/.test(m[1]!) ? m[1] : undefined;
}

/** The flows of one batch of entries from one access-log stream. */
export function envoyFlows(
  stream: AccessLogStream,
  kind: AlsEntryKind,
  entries: readonly LogEntry[],
  index: IdentityIndex,
  now: number,
  reject: Reject,
): ObservedFlow[] {
  // deny chains log under "<side>-deny"; attribution is the same as for their side
  const denyChain = stream.logName.endsWith(DENY_LOG_SUFFIX);
  const logName = denyChain ? stream.logName.slice(0, -DENY_LOG_SUFFIX.length) : stream.logName;
  const ctx = { logName, node: { id: stream.nodeId, cluster: stream.cluster }, index, now };
  const out: ObservedFlow[] = [];
  for (const entry of entries) {
    const r = toObservation(entry, kind, ctx);
    if (!r.ok) {
      reject(r.kind, r.detail, stream.nodeId);
      continue;
    }
    const v = verdictOf(entry, kind, stream.logName);
    if (!v) {
      out.push({ obs: r.obs });
      continue;
    }
    const c = entry.commonProperties;
    const sni = isServicePeer(r.obs.destination) ? undefined : r.obs.destination.sni;
    const request = kind === 'http' ? requestOf(entry) : undefined;
    const traceId =
      kind === 'http' ? traceIdOf((entry as HttpLogEntry).request?.requestHeaders?.traceparent) : undefined;
    out.push({
      obs: r.obs,
      verdict: {
        verdict: v.verdict,
        point: 'sidecar',
        enforcer: index.serviceOfNode(stream.nodeId, stream.cluster),
        detail: v.detail,
        ...(v.policy !== undefined && { policy: v.policy }),
        sourceIp: normalizeIp(c?.downstreamRemoteAddress?.socketAddress?.address ?? ''),
        destIp: normalizeIp(c?.downstreamLocalAddress?.socketAddress?.address ?? ''),
        ...(sni !== undefined && { sni }),
        ...(request !== undefined && { request }),
        ...(traceId !== undefined && { traceId }),
      },
    });
  }
  return out;
}

/** The method and path (without its query string, which may carry secrets) of an HTTP entry, when it has both. */
function requestOf(entry: LogEntry): { method: string; path: string } | undefined {
  const rq = 'request' in entry ? entry.request : undefined;
  const raw = rq?.originalPath || rq?.path;
  if (!raw) return undefined;
  return { method: methodName(rq?.requestMethod) ?? '*', path: stripQuery(raw) };
}
