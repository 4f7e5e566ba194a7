// OTLP spans → Observations and the facts a trace view shows. Pure: no I/O, never throws.
//
// A span is attributed to the node that exported it (serve/otlp-source.ts exportNode: the sidecar Envoy names in
// its spans and its export, like an access-log stream's identifier), never to the span's own `service.name`. A span
// that names another node (`node_id`) or whose own side of the request is another workload's address claims another
// workload: it is refused ('foreign-span').
//
// Envoy's spans (tags set by the HTTP connection manager):
//   client (outbound): peer.address = the app (ip:port), upstream_cluster = `outbound|PORT||SVC` for a VIP, or
//                      upstream_address = the original destination (passthrough)
//   server (inbound):  peer.address = the client (an ip, no port); no local or upstream address (Envoy 1.40), so
//                      the inbound chain of a known port adds `nanoseg.port` (generate/telemetry.ts)
// The request id (`guid:x-request-id`) gives the same dedup key as the access-log entries of that request, so one
// request counts once whichever of its two spans and two log entries arrive. A 403 is not learned from a span: it
// may be an RBAC denial, which is an alert and never evidence; the access log, which carries the verdict, decides.

import type { IdentityIndex, WorkloadRef } from '../inventory/identity.js';
import { normalizeIp } from '../inventory/identity.js';
import type { DecodedSpan, Observation, Peer, Protocol, ServiceName } from '../model/index.js';
import { SPAN_PORT_TAG, hostCidr } from '../model/index.js';
import { GRPC_PATH_RE, authorityHost } from './als.js';
import { pathTemplate } from './l7.js';
import { spanFlagsFailed } from './outcome.js';
import { requestKey } from './request-id.js';

/** What a trace view shows of an accepted span. */
export interface SpanFacts {
  readonly service: ServiceName;
  readonly workload: string;
  readonly node: string;
  readonly side?: 'inbound' | 'outbound';
  /** the other end: a service, or an address */
  readonly peer: string;
  /** the request's key (request-id.ts), to join with access-log verdicts */
  readonly requestKey?: string;
  readonly httpStatus?: number;
  readonly error: boolean;
}

export type SpanErrorKind = 'unknown-reporter' | 'foreign-span' | 'internal';

export type SpanResult =
  | { readonly ok: true; readonly facts: SpanFacts; readonly obs?: Observation }
  | { readonly ok: false; readonly kind: SpanErrorKind; readonly detail: string };

const OUTBOUND_CLUSTER_RE = /^outbound\|(\d+)\|\|(.+)$/;

interface HostPort {
  readonly ip: string;
  readonly port: number | undefined;
}

/** `ip:port`, `[v6]:port` or a bare ip → parts; undefined when it is no address. */
export function parseHostPort(s: string | undefined): HostPort | undefined {
  if (!s) return undefined;
  let host = s;
  let port: number | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return undefined;
    host = s.slice(1, close);
    if (s[close + 1] === ':') port = Number(s.slice(close + 2));
  } else {
    const colon = s.lastIndexOf(':');
    if (colon >= 0 && s.indexOf(':') === colon) {
      host = s.slice(0, colon);
      port = Number(s.slice(colon + 1));
    }
  }
  if (host === '' || !/^[0-9a-fA-F.:]+$/.test(host)) return undefined;
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port <= 65535)) port = undefined;
  return { ip: normalizeIp(host), port };
}

/** The path part of `http.url` (`http://host:port/a/b?q` → `/a/b?q`). */
function urlPath(url: string | undefined): { authority?: string; path?: string } {
  if (!url) return {};
  const scheme = url.indexOf('://');
  if (scheme < 0) return url.startsWith('/') ? { path: url } : {};
  const slash = url.indexOf('/', scheme + 3);
  const authority = url.slice(scheme + 3, slash < 0 ? url.length : slash);
  return { authority, path: slash < 0 ? '/' : url.slice(slash) };
}

function num(s: string | undefined): number | undefined {
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

function peerText(p: Peer, port?: number): string {
  const base = 'service' in p ? p.service : p.cidr.replace(/\/(32|128)$/, '');
  return port !== undefined && !('service' in p) ? `${base}:${port}` : base;
}

/** Is this address some other workload's than `me`? */
function othersAddress(index: IdentityIndex, ip: string | undefined, me: WorkloadRef): WorkloadRef | undefined {
  if (ip === undefined) return undefined;
  const w = index.workloadAt(ip);
  return w !== undefined && w.workload !== me.workload ? w : undefined;
}

/** Attributes one span to the exporting node, and the Observation it makes when it says enough about its edge. */
export function fromSpan(span: DecodedSpan, node: string, index: IdentityIndex): SpanResult {
  try {
    return convert(span, node, index);
  } catch (err) {
    return { ok: false, kind: 'internal', detail: err instanceof Error ? err.message : String(err) };
  }
}

function convert(span: DecodedSpan, node: string, index: IdentityIndex): SpanResult {
  const me = index.workloadByNodeId(node);
  if (me === undefined) return { ok: false, kind: 'unknown-reporter', detail: `node ${node} is in no inventory` };
  const a = span.attributes;
  const claimed = a.node_id;
  if (claimed !== undefined && claimed !== '' && claimed !== node) {
    return { ok: false, kind: 'foreign-span', detail: `span of node ${claimed} exported by node ${node}` };
  }
  const peerAddr = parseHostPort(a['peer.address']);
  const upstream = parseHostPort(a['upstream_address']);
  const side = span.kind === 'client' ? 'outbound' : span.kind === 'server' ? 'inbound' : undefined;
  // the span's own end of the request must be this node's workload
  const mine = side === 'outbound' ? peerAddr : side === 'inbound' ? upstream : undefined;
  const other = othersAddress(index, mine?.ip, me);
  if (other !== undefined) {
    return {
      ok: false,
      kind: 'foreign-span',
      detail: `span of ${other.workload} (${mine!.ip}) exported by node ${node}`,
    };
  }

  const httpStatus = num(a['http.status_code']);
  const grpcStatus = num(a['grpc.status_code']);
  // the same definition of a failed request as the access logs' (learn/outcome.ts)
  const error =
    span.status === 'error' ||
    a.error === 'true' ||
    (httpStatus !== undefined && httpStatus >= 500) ||
    (grpcStatus !== undefined && grpcStatus !== 0) ||
    spanFlagsFailed(a.response_flags);
  const rid = a['guid:x-request-id'];
  const key = rid ? requestKey(rid) : undefined;
  const { authority, path: rawPath } = urlPath(a['http.url']);

  let source: Peer | undefined;
  let destination: Peer | undefined;
  let port: number | undefined;
  let sourceWorkload: string | undefined;
  if (side === 'outbound') {
    source = { service: me.service };
    sourceWorkload = me.workload;
    const vip = OUTBOUND_CLUSTER_RE.exec(a.upstream_cluster ?? '');
    if (vip) {
      destination = { service: vip[2]! };
      port = Number(vip[1]);
    } else if (upstream) {
      const svc = index.serviceAt(upstream.ip);
      const sni = authorityHost(authority);
      destination = svc
        ? { service: svc }
        : sni
          ? { cidr: hostCidr(upstream.ip), sni }
          : { cidr: hostCidr(upstream.ip) };
      port = upstream.port;
    }
  } else if (side === 'inbound') {
    destination = { service: me.service };
    // Envoy's server span carries no local or upstream address: the inbound chain's tracer names its port
    // (generate/telemetry.ts); a span of the catch-all chain (a port the inventory does not list) has none and
    // teaches nothing, while the access logs of its request still do
    port = upstream?.port ?? num(a[SPAN_PORT_TAG]);
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port <= 65535)) port = undefined;
    if (peerAddr) {
      const client = index.workloadAt(peerAddr.ip);
      source = client ? { service: client.service } : { cidr: hostCidr(peerAddr.ip) };
      sourceWorkload = client?.workload;
    }
  }
  const peer =
    side === 'outbound' && destination
      ? peerText(destination, port)
      : side === 'inbound' && source
        ? peerText(source)
        : (a['peer.address'] ?? '');
  const facts: SpanFacts = {
    service: me.service,
    workload: me.workload,
    node,
    ...(side !== undefined && { side }),
    peer,
    ...(key !== undefined && { requestKey: key }),
    ...(httpStatus !== undefined && { httpStatus }),
    error,
  };
  if (!source || !destination || port === undefined || !side || httpStatus === 403) return { ok: true, facts };

  const grpc = a['http.protocol'] === 'HTTP/2' && rawPath !== undefined && GRPC_PATH_RE.test(rawPath.split('?')[0]!);
  const protocol: Protocol = grpc ? 'grpc' : 'http';
  const method = grpc ? 'POST' : a['http.method'] || '*';
  const obs: Observation = {
    time: span.endMs,
    side,
    reporter: node,
    source,
    destination,
    port,
    protocol,
    // bytes come from the access logs (wire bytes); a span's request_size would count the request again in the
    // learner's cumulative byte deltas
    bytesSent: 0,
    bytesReceived: 0,
    ...(sourceWorkload !== undefined && { sourceWorkload }),
    ...(key !== undefined && { dedupKey: `http|${key}` }),
    ...(rawPath !== undefined && { method, path: pathTemplate(rawPath, grpc) }),
    ...(span.endMs >= span.startMs && { durationMs: span.endMs - span.startMs }),
    ...(error && { error }),
  };
  return { ok: true, facts, obs };
}
