// Envoy access-log entries → Observations. Pure: no I/O, never throws.
//
// Our sidecars log under two names:
//  - "outbound" (capture listener 15001, the app's outgoing connections):
//      downstream_remote = app ip:ephemeral, downstream_local = original destination ip:port,
//      upstream_local = sidecar source ip:ephemeral2, upstream_remote = the server actually connected to.
//  - "inbound" (capture listener 15006, incoming connections):
//      downstream_remote = client ip:port (= the client sidecar's upstream_local), downstream_local = pod ip:port.
// So the 4-tuple upstream_local→upstream_remote (outbound) equals downstream_remote→downstream_local (inbound) for
// one connection, and that tuple is the dedup key that lets the learner count the connection once.

import type {
  ExternalPeer,
  HttpLogEntry,
  LogAddress,
  LogCommon,
  LogEntry,
  Observation,
  Peer,
  Protocol,
  TcpLogEntry,
} from '../model/index.js';
import { hostCidr } from '../model/index.js';
import { normalizeIp, type IdentityIndex } from '../inventory/identity.js';
import { methodName, pathTemplate } from './l7.js';
import { logEntryFailed } from './outcome.js';
import { requestKey } from './request-id.js';

export type AlsEntryKind = 'tcp' | 'http';

export interface AlsContext {
  /** `identifier.log_name` of the stream: "outbound" or "inbound". */
  readonly logName: string;
  readonly node: { readonly id: string; readonly cluster: string };
  /** The current inventory index (swapped whole by the caller when the inventory changes). */
  readonly index: IdentityIndex;
  /** Used as the observation time only when the entry carries no start_time (ms since epoch). */
  readonly now?: number;
}

export type AlsErrorKind =
  | 'missing-common'
  | 'unknown-log-name'
  | 'missing-address'
  | 'bad-address'
  | 'bad-port'
  | 'missing-time'
  | 'unknown-reporter'
  | 'internal';

export type ToObservationResult =
  | { readonly ok: true; readonly obs: Observation }
  | { readonly ok: false; readonly kind: AlsErrorKind; readonly detail: string };

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface HostPort {
  readonly ip: string;
  readonly port: number;
}

/** gRPC paths are `/package.Service/Method`. */
export const GRPC_PATH_RE = /^\/[A-Za-z_][\w.]*\.[A-Za-z_]\w*\/[A-Za-z_]\w*$/;
const HTTP2 = 3; // HTTPAccessLogEntry.HTTPVersion.HTTP2
const HTTP3 = 4;

type Failure = Extract<ToObservationResult, { ok: false }>;

function fail(kind: AlsErrorKind, detail: string): Failure {
  return { ok: false, kind, detail };
}

function isPort(p: unknown, allowZero: boolean): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p <= 65535 && (allowZero ? p >= 0 : p > 0);
}

/** `undefined` = absent; `string` = present but unusable (the reason). */
function hostPort(a: LogAddress | undefined, allowZeroPort: boolean): HostPort | undefined | string {
  const sa = a?.socketAddress;
  if (sa === undefined || sa === null) return a?.pipe || a?.envoyInternalAddress ? 'not a socket address' : undefined;
  if (typeof sa.address !== 'string' || sa.address === '') return 'empty ip';
  if (!isPort(sa.portValue, allowZeroPort)) return `port ${String(sa.portValue)}`;
  return { ip: normalizeIp(sa.address), port: sa.portValue };
}

/** A usable address, or the failure that names `field` (no wrapper object: this runs twice per entry). */
function required(a: LogAddress | undefined, field: string): HostPort | Failure {
  const hp = hostPort(a, false);
  if (hp === undefined) return fail('missing-address', `${field} is missing`);
  if (typeof hp === 'string') return fail(hp.startsWith('port') ? 'bad-port' : 'bad-address', `${field}: ${hp}`);
  return hp;
}

/** The optional half of a 4-tuple: usable or nothing (a bad upstream address only costs the dedup key). */
function optional(a: LogAddress | undefined): HostPort | undefined {
  const hp = hostPort(a, true);
  return typeof hp === 'object' ? hp : undefined;
}

function tupleKey(prefix: string, c: HostPort, s: HostPort): string {
  return `${prefix}|${c.ip}:${c.port}>${s.ip}:${s.port}`;
}

function timeOf(c: LogCommon, now: number | undefined): number | undefined {
  const st = c.startTime;
  if (st && typeof st.seconds === 'number') {
    let t = st.seconds * 1000 + Math.floor((st.nanos ?? 0) / 1e6);
    // The end (or periodic flush) of a connection is when it was last seen alive.
    const d = c.duration;
    if (d && typeof d.seconds === 'number') t += d.seconds * 1000 + Math.floor((d.nanos ?? 0) / 1e6);
    return t;
  }
  return now;
}

/** The host part of an HTTP authority (`api.example:443` → `api.example`), or undefined when it is an address. */
export function authorityHost(authority: string | undefined): string | undefined {
  if (!authority) return undefined;
  let h = authority;
  if (h.startsWith('[')) return undefined; // IPv6 literal
  const colon = h.lastIndexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  if (h === '' || /^[\d.]+$/.test(h)) return undefined;
  return h.toLowerCase();
}

function externalPeer(ip: string, sni: string | undefined): ExternalPeer {
  return sni ? { cidr: hostCidr(ip), sni } : { cidr: hostCidr(ip) };
}

/**
 * HTTP protocol of an entry: 'grpc' when the request is HTTP/2 (or HTTP/3) and its path has the gRPC shape
 * `/package.Service/Method` (our access-log config does not log content-type, and the path shape is what every
 * gRPC client sends); otherwise 'http'. Both sides of one request see the same path, so they agree.
 */
export function httpProtocol(e: HttpLogEntry): Protocol {
  const v = e.protocolVersion;
  const path = e.request?.originalPath || e.request?.path || '';
  if ((v === HTTP2 || v === HTTP3) && GRPC_PATH_RE.test(path)) return 'grpc';
  return 'http';
}

/**
 * Turns one access-log entry into an Observation attributed to services, or says why it cannot.
 *
 * outbound: source = the reporter's service (workload found by the app's address, else by node id; the node
 *           cluster is the last resort), destination = the service behind the original destination (VIP or
 *           workload address) or the exact external address with the TLS SNI (or, for plain HTTP, the authority
 *           host); port = original destination port (the VIP port for a VIP).
 * inbound:  source = the service of the client address, or the exact external address; destination = the
 *           reporter's service; port = the local (pod) port.
 * Source ports only ever appear in the dedup key, never in the attribution.
 */
export function toObservation(entry: LogEntry, kind: AlsEntryKind, ctx: AlsContext): ToObservationResult {
  try {
    return convert(entry, kind, ctx);
  } catch (err) {
    // Only reachable with structurally broken input (e.g. hand-built objects); never let it escape.
    return fail('internal', err instanceof Error ? err.message : String(err));
  }
}

function convert(entry: LogEntry, kind: AlsEntryKind, ctx: AlsContext): ToObservationResult {
  const side = ctx.logName;
  if (side !== 'outbound' && side !== 'inbound') return fail('unknown-log-name', `log name "${side}"`);
  const c = entry?.commonProperties;
  if (!c) return fail('missing-common', 'entry has no common_properties');

  const dl = required(c.downstreamLocalAddress, 'downstream_local_address');
  if ('ok' in dl) return dl;
  const dr = required(c.downstreamRemoteAddress, 'downstream_remote_address');
  if ('ok' in dr) return dr;

  const time = timeOf(c, ctx.now);
  if (time === undefined || !Number.isFinite(time)) return fail('missing-time', 'entry has no start_time');

  const index = ctx.index;
  const http = kind === 'http' ? (entry as HttpLogEntry) : undefined;
  const protocol: Protocol = http ? httpProtocol(http) : 'tcp';

  // Bytes from the source's point of view: sent = source → destination. Downstream is the client on both sides.
  let bytesSent: number;
  let bytesReceived: number;
  if (http) {
    bytesSent =
      c.downstreamWireBytesReceived || (http.request?.requestHeadersBytes ?? 0) + (http.request?.requestBodyBytes ?? 0);
    bytesReceived =
      c.downstreamWireBytesSent || (http.response?.responseHeadersBytes ?? 0) + (http.response?.responseBodyBytes ?? 0);
  } else {
    const cp = (entry as TcpLogEntry).connectionProperties;
    bytesSent = cp?.receivedBytes || c.downstreamWireBytesReceived || 0;
    bytesReceived = cp?.sentBytes || c.downstreamWireBytesSent || 0;
  }

  let dedupKey: string | undefined;
  let method: string | undefined;
  let path: string | undefined;
  if (http) {
    const rq = http.request;
    const rid = rq?.requestId;
    // Envoy rewrites one character of the id with its tracing decision: the key ignores it (request-id.ts)
    dedupKey = rid ? `http|${requestKey(rid)}` : undefined;
    const raw = rq?.originalPath || rq?.path;
    method = methodName(rq?.requestMethod);
    // gRPC is always POST; an HTTP request whose method the log lacks still has its path learned (method "*")
    if (protocol === 'grpc') method = 'POST';
    if (raw) path = pathTemplate(raw, protocol === 'grpc');
    if (path !== undefined && method === undefined) method = '*';
  }

  let source: Peer;
  let destination: Peer;
  let sourceWorkload: string | undefined;
  let port: number;

  if (side === 'outbound') {
    const me = index.workloadAt(dr.ip) ?? index.workloadByNodeId(ctx.node.id);
    const myService = me?.service ?? (index.hasService(ctx.node.cluster) ? ctx.node.cluster : undefined);
    if (myService === undefined) {
      return fail('unknown-reporter', `node ${ctx.node.id} (cluster ${ctx.node.cluster}, ${dr.ip}) is in no inventory`);
    }
    source = { service: myService };
    sourceWorkload = me?.workload;
    port = dl.port;
    const dstService = index.serviceAt(dl.ip);
    if (dstService !== undefined) {
      destination = { service: dstService };
    } else {
      const sni = c.tlsProperties?.tlsSniHostname || authorityHost(http?.request?.authority);
      destination = externalPeer(dl.ip, sni);
    }
    if (!http) {
      const ul = optional(c.upstreamLocalAddress);
      const ur = optional(c.upstreamRemoteAddress);
      // Upstream never connected: nobody else logs this connection; a distinct prefix keeps it from ever
      // matching an inbound key.
      dedupKey = ul && ur ? tupleKey('tcp', ul, ur) : tupleKey('tcp-d', dr, dl);
    }
  } else {
    const me = index.workloadAt(dl.ip) ?? index.workloadByNodeId(ctx.node.id);
    const myService = me?.service ?? (index.hasService(ctx.node.cluster) ? ctx.node.cluster : undefined);
    if (myService === undefined) {
      return fail('unknown-reporter', `node ${ctx.node.id} (cluster ${ctx.node.cluster}, ${dl.ip}) is in no inventory`);
    }
    destination = { service: myService };
    port = dl.port;
    const client = index.workloadAt(dr.ip);
    if (client !== undefined) {
      source = { service: client.service };
      sourceWorkload = client.workload;
    } else {
      // A VIP is never a source address; anything else unknown is an external, kept exact.
      source = { cidr: hostCidr(dr.ip) };
    }
    if (!http) dedupKey = tupleKey('tcp', dr, dl);
  }

  // HTTP: the entry's duration is the request's as this sidecar saw it (first byte in to last byte out); a TCP
  // connection's lifetime is no latency, and only its upstream failure flags say it failed
  const d = http ? c.duration : undefined;
  const durationMs =
    d && typeof d.seconds === 'number'
      ? d.seconds * 1000 + (typeof d.nanos === 'number' ? d.nanos : 0) / 1e6
      : undefined;
  const rs = http?.response;
  const error = logEntryFailed(rs?.responseCode, protocol === 'grpc' ? rs?.grpcStatus : undefined, c.responseFlagBits);

  // optional fields assigned, not spread: a spread of a conditional literal allocates twice per field
  const obs: Mutable<Observation> = {
    time,
    side,
    reporter: ctx.node.id,
    source,
    destination,
    port,
    protocol,
    bytesSent,
    bytesReceived,
  };
  if (sourceWorkload !== undefined) obs.sourceWorkload = sourceWorkload;
  if (dedupKey !== undefined) obs.dedupKey = dedupKey;
  if (path !== undefined) {
    obs.method = method!;
    obs.path = path;
  }
  if (durationMs !== undefined && durationMs >= 0) obs.durationMs = durationMs;
  if (error) obs.error = error;
  return { ok: true, obs };
}
