// Core domain types. No I/O here: everything in this folder is plain data and pure helpers.

/** A service is `namespace/name`. In the lab it is declared per pod; in Kubernetes it is the owning workload. */
export type ServiceName = string;

export type Mode = 'learn' | 'monitor' | 'enforce';
export const MODES: readonly Mode[] = ['learn', 'monitor', 'enforce'];

/**
 * tcp, http and grpc ride on TCP (the sidecar sees them, the kernel checks them as TCP); udp and icmp only the
 * kernel sees. icmp has no port: its rules, edges and observations carry port 0 (`NO_PORT`), shown as plain `icmp`.
 */
export type Protocol = 'tcp' | 'http' | 'grpc' | 'udp' | 'icmp';
export const PROTOCOLS: readonly Protocol[] = ['tcp', 'http', 'grpc', 'udp', 'icmp'];

/** The port of a protocol that has none (icmp). */
export const NO_PORT = 0;

/** Whether the protocol has ports (everything but icmp). */
export function hasPort(p: Protocol): boolean {
  return p !== 'icmp';
}

/** The transport a protocol rides on, as the kernel sees it. */
export type Transport = 'tcp' | 'udp' | 'icmp';
export function transportOf(p: Protocol): Transport {
  return p === 'udp' || p === 'icmp' ? p : 'tcp';
}

/** `tcp/5432`, `udp/53`, `icmp` (no port). */
export function protocolPortLabel(protocol: Protocol, port: number): string {
  return hasPort(protocol) ? `${protocol}/${port}` : protocol;
}

export type ConvergenceState = 'learning' | 'converged';

/** One running instance (pod) of a service. Replicas collapse into their service. */
export interface Workload {
  readonly name: string;
  readonly service: ServiceName;
  readonly addresses: readonly string[];
  /** Ports the workload serves, when declared (lab file `ports`). Used for service VIP routing. */
  readonly ports: readonly number[];
  /**
   * The host side of the workload's network interface (the lab: its veth on the lab bridge), when the inventory
   * knows it: the kernel enforcement point binds the workload's addresses to it (anti-spoofing).
   */
  readonly interface?: string;
  /**
   * `false`: the workload takes no new connections (Kubernetes: its pod is not Ready, or terminating), so a VIP
   * does not balance to it; it is still who its addresses are (identity, rules). Absent: serving (the lab).
   */
  readonly serving?: false;
}

/** A host without a sidecar that the inventory knows by name (display only: it is still an external). */
export interface NamedExternal {
  readonly name: string;
  readonly address: string;
  /** the host side of its interface, when it is attached to a network nanoseg enforces (the lab bridge) */
  readonly interface?: string;
}

/** A service's virtual address (like a Kubernetes ClusterIP); connections to it are balanced over replicas. */
export interface ServiceVip {
  readonly service: ServiceName;
  readonly address: string;
}

/** Everything known about who is who, from one or more inventory sources, merged. */
export interface Inventory {
  readonly workloads: readonly Workload[];
  readonly externals: readonly NamedExternal[];
  readonly vips: readonly ServiceVip[];
}

export const EMPTY_INVENTORY: Inventory = { workloads: [], externals: [], vips: [] };

/** The other end of an edge: a known service, or an exact external address (optionally with TLS SNI / HTTP host). */
export type Peer = ServicePeer | ExternalPeer;
export interface ServicePeer {
  readonly service: ServiceName;
}
export interface ExternalPeer {
  /** Exact address as a prefix: `/32` for IPv4, `/128` for IPv6. Grouping into wider CIDRs is an explicit step. */
  readonly cidr: string;
  readonly sni?: string;
}

export function isServicePeer(p: Peer): p is ServicePeer {
  return (p as ServicePeer).service !== undefined;
}

/** Identity of an edge. Source ports never appear. */
export interface EdgeKey {
  readonly source: Peer;
  readonly destination: Peer;
  readonly protocol: Protocol;
  readonly port: number;
}

export interface Evidence {
  /** ms since epoch */
  firstSeen: number;
  lastSeen: number;
  /** connections (tcp) or requests (http/grpc) */
  count: number;
  bytesSent: number;
  bytesReceived: number;
  /** up to a few source workload names that made this connection */
  exampleWorkloads: string[];
  /** HTTP/gRPC edges: requests per method + path template (learn/l7.ts), at most 50 */
  paths?: PathEvidence[];
  /** the edge had more templates than it keeps: its paths are `PREFIX/*` wildcards */
  pathsCollapsed?: boolean;
  /**
   * requests (connections for tcp) that failed: HTTP 5xx, a gRPC status other than OK, or an upstream failure flag
   * (learn/outcome.ts); absent on edges learned before errors were counted
   */
  errors?: number;
  /** HTTP/gRPC edges: request durations (learn/latency.ts); absent until one was measured */
  latency?: LatencyEvidence;
}

/**
 * Request durations on fixed log-scale buckets (learn/latency.ts `LATENCY_BOUNDS_MS`): `counts[i]` are the
 * durations in (bound[i-1], bound[i]] ms, the last count those above the largest bound.
 */
export interface LatencyEvidence {
  counts: number[];
  sumMs: number;
  maxMs: number;
}

/** An HTTP method and a path template (`/items/{id}`, or `PREFIX/*` once an edge collapsed). */
export interface PathRule {
  readonly method: string;
  readonly path: string;
}

/** Requests of one method + path template on an edge. */
export interface PathEvidence {
  readonly method: string;
  readonly path: string;
  count: number;
  firstSeen: number;
  lastSeen: number;
}

export interface Edge extends EdgeKey {
  readonly id: string;
  readonly evidence: Evidence;
}

export function peerId(p: Peer): string {
  if (isServicePeer(p)) return `svc:${p.service}`;
  return p.sni ? `ext:${p.cidr}#${p.sni}` : `ext:${p.cidr}`;
}

/** Canonical, stable id of an edge (used as the store key). */
export function edgeId(k: EdgeKey): string {
  return `${peerId(k.source)}>${peerId(k.destination)}|${k.protocol}/${k.port}`;
}

export function hostCidr(ip: string): string {
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
}

/**
 * Access-log names of the sidecar's listeners, and the suffix of chains that deny (enforce mode): the generator
 * names its loggers with them, the learner and the alert pipeline read them back.
 */
export const LOG_OUTBOUND = 'outbound';
export const LOG_INBOUND = 'inbound';
export const DENY_LOG_SUFFIX = '-deny';
/**
 * L7 RBAC: the action a request takes when its rule's address matched and none of its paths did is named
 * `<rule>|no-path` (generate/rbac-l7.ts); the alert pipeline reads it back to name the request and closest template.
 */
export const NO_PATH = 'no-path';

export const SERVICE_NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * One connection (tcp) or request (http/grpc) seen by one sidecar, attributed to services.
 * Produced from an access-log entry; consumed by the learner. `connectionKey` carries the transport 4-tuple only
 * to recognise the client-side and server-side logs of the same connection; it is never stored.
 */
export interface Observation {
  readonly time: number;
  readonly side: 'outbound' | 'inbound';
  /** node id of the reporting Envoy */
  readonly reporter: string;
  readonly source: Peer;
  readonly sourceWorkload?: string;
  readonly destination: Peer;
  readonly port: number;
  readonly protocol: Protocol;
  /** same value on both sides of one connection/request; undefined when it cannot be known */
  readonly dedupKey?: string;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** HTTP/gRPC: the request's method and path template (learn/l7.ts), when the log carried them */
  readonly method?: string;
  readonly path?: string;
  /** how long the request took as this record saw it (HTTP/gRPC; absent when unknown), ms */
  readonly durationMs?: number;
  /** true: the request or connection failed (learn/outcome.ts); absent when it did not, or this record cannot tell */
  readonly error?: boolean;
}

/**
 * Where a policy is enforced: the sidecar's RBAC (identity, L7, TCP through Envoy) today; the kernel on the host side
 * of each pod (L3/L4, every protocol) next. Alerts name the point that denied.
 */
export type EnforcementPointName = 'sidecar' | 'kernel';

/**
 * The EnforcementPoint seam: something that enforces the compiled policy (the sidecars through xDS today, the
 * kernel through a node agent next). Level-triggered: told which services' config changed (undefined: everyone's),
 * it brings what it enforces in line with the current state, however many changes it was told of.
 */
export interface EnforcementPoint {
  readonly name: EnforcementPointName;
  changed(reason: string, services?: readonly ServiceName[]): void;
}

/** What an enforcement point said about an observed connection: it denied it, or would have. */
export interface FlowVerdict {
  readonly verdict: Verdict;
  readonly point: EnforcementPointName;
  /** the service whose policy decided (the reporting workload's) */
  readonly enforcer: ServiceName;
  /** the rule the point named, when it names one */
  readonly policy?: string;
  /** which signal fired and what the point said */
  readonly detail: string;
  /** the connection's addresses as the point saw them, for the explanation (normalized) */
  readonly sourceIp: string;
  readonly destIp: string;
  readonly sni?: string;
  /** HTTP: the request the point denied (its path without the query string), for L7 explanations */
  readonly request?: { readonly method: string; readonly path: string };
  /** the trace of the request, when it was traced (its `traceparent` at the deciding sidecar) */
  readonly traceId?: string;
}

/**
 * One observed connection or request, from any ObservationSource (Envoy access logs today; kernel flow events and
 * OTLP spans next): the Observation the learner counts (deduplicated there, in one place), and a verdict when an
 * enforcement point denied it or would have.
 */
export interface ObservedFlow {
  readonly obs: Observation;
  readonly verdict?: FlowVerdict;
  /**
   * Reported for its verdict only, never counted as evidence: another source observes this kind of flow (the
   * kernel's TCP verdicts: Envoy's access logs are what learns TCP).
   */
  readonly verdictOnly?: boolean;
}

export interface ConvergenceReport {
  readonly state: ConvergenceState;
  /** 1 - estimated probability that the next observation reveals an unseen edge */
  readonly confidence: number;
  readonly missingMass: number;
  readonly observations: number;
  readonly singletons: number;
  readonly lastNewEdgeAt?: number;
  readonly convergedAt?: number;
  /** why it is not converged yet (or why it went back to learning) */
  readonly reason: string;
}

/** One allowed connection in a service's policy: the peer, the protocol and the server port. */
export interface PolicyRule {
  readonly peer: Peer;
  readonly protocol: Protocol;
  readonly port: number;
  /** HTTP/gRPC: the method + path templates allowed (enforced only for a service with L7 on); absent = any */
  readonly paths?: readonly PathRule[];
}

/**
 * A service's policy: who may connect to it (ingress: peer = source) and where it may connect (egress: peer =
 * destination). Frozen from the learned edges when the service leaves learn mode, or applied by a person.
 * Immutable: a change builds a new object.
 */
export interface ServicePolicy {
  readonly service: ServiceName;
  readonly ingress: readonly PolicyRule[];
  readonly egress: readonly PolicyRule[];
  /** where it came from: frozen from learning, or applied from a file by a person */
  readonly origin: 'learned' | 'applied';
  /** ms since epoch */
  readonly updatedAt: number;
}

export type Verdict = 'denied' | 'would-deny';

/** A blocked (enforce) or would-be-blocked (monitor) connection, aggregated per key. */
export interface Alert {
  /** ISO time of the first occurrence in this aggregate */
  readonly time: string;
  readonly verdict: Verdict;
  /** mode of the service whose policy caused the verdict */
  readonly mode: Mode;
  readonly source: { readonly service?: ServiceName; readonly workload?: string; readonly ip: string };
  readonly destination: {
    readonly service?: ServiceName;
    readonly ip: string;
    readonly port: number;
    readonly sni?: string;
  };
  readonly protocol: Protocol;
  /** occurrences aggregated in this alert (1 for the first, immediate one) */
  readonly count: number;
  /** which rule is missing, e.g. "shop/web egress has no rule for data/db tcp/5432" */
  readonly reason: string;
  /** the sidecar that reported it and which side it enforced */
  readonly reporter?: string;
  readonly side?: 'ingress' | 'egress';
  /** the enforcement point that denied it (or would have) */
  readonly point?: EnforcementPointName;
  /** L7: the request that matched no learned path (path without its query string) */
  readonly request?: { readonly method: string; readonly path: string };
  /** L7: the learned template closest to that request, when the rule has any */
  readonly closestTemplate?: { readonly method: string; readonly path: string };
  /** the trace of the blocked request, when it was traced (`nanoseg trace ID`) */
  readonly traceId?: string;
}

/** A change made by a person (mode, policy apply), kept in the audit trail. */
export interface AuditEvent {
  readonly time: string;
  readonly actor: string;
  readonly action: 'mode' | 'policy-apply' | 'release';
  readonly target: string;
  readonly before: unknown;
  readonly after: unknown;
}
