// JSON shapes of the API (and so of `nanoseg ... -o json`), built by pure functions from the core state.
import type { IdentityIndex } from '../inventory/identity.js';
import type { ConvergenceReport, Edge, Mode, PolicyRule, ServiceName, ServicePolicy } from '../model/index.js';
import type { Hold } from '../model/mesh-state.js';
import { policyDocument, type PolicyDocument } from '../policy/index.js';
import { typeShort, type ConnectionStatus, type TypeShortName, type TypeUrl } from '../xds/index.js';

export interface ServiceView {
  name: ServiceName;
  state: ConvergenceReport['state'];
  mode: Mode;
  confidence: number;
  edges: number;
  ingress: number;
  egress: number;
  workloads: { name: string; address: string }[];
  observations: number;
  missingMass: number;
  lastNewEdgeAt?: string;
  convergedAt?: string;
  reason: string;
}

type PerType = Partial<Record<TypeShortName, string>>;

export interface EnvoyView {
  node: string;
  service: string;
  kind: 'sotw' | 'delta';
  connectedAt: number;
  acked: PerType;
  sent: PerType;
  lastNack?: { type: string; version: string; message: string; at: string };
  held?: string;
}

export interface StatusView {
  startedAt: number;
  stateDir: string;
  xdsListen: { tcp?: string; unix?: string };
  /** the id every served version carries (fail-static tells our sidecars from others by it) */
  storeId: string;
  accessLogs: {
    entries: number;
    perSecond: number;
    rejected: number;
    rejectedByKind: Record<string, number>;
    streams: number;
  };
  xds: { connected: number; pushes: number; acks: number; nacks: number };
  envoys: EnvoyView[];
  store: { edges: number; path: string };
  alerts: {
    webhook?: { sent: number; failed: number; dropped: number; queued: number; retries: number };
    aggregator: { received: number; emitted: number; aggregated: number; evicted: number; keys: number };
  };
  /** sidecars the control plane refuses to configure (fail-static) */
  held: { node: string; since: string; reason: string }[];
  /** inventory sources that report a status (the --inventory file: what it loaded, a pending error) */
  inventorySources: { name: string; file?: string; server?: string; loadedAt?: number; error?: string }[];
  /** the kernel enforcement point, when this control plane hosts it (`serve --kernel-netns`) */
  kernel?: KernelView;
  /** the node agents (`serve --node-agents`): one per node that ever connected, and what each has in force */
  nodeAgents?: NodeAgentStatusView[];
  /** the OTLP trace receiver and the recent-traces store */
  traces?: {
    exports: number;
    spans: number;
    rejected: number;
    hugeAttributes: number;
    kept: { traces: number; spans: number; bytes: number; budgetBytes: number; evictedTraces: number };
    forward?: { target: string; sent: number; failed: number; dropped: number; queued: number };
  };
  /** the control plane's own spans (`serve --otlp-endpoint`) */
  selfTraces?: { endpoint: string; exported: number; failed: number; dropped: number; queued: number };
}

export interface NodeAgentStatusView {
  node: string;
  /** NAMESPACE/POD of the agent, from its token */
  pod: string;
  connected: boolean;
  /** when it connected, or disconnected */
  since: string;
  /** the rules version last sent to it */
  sentVersion?: number;
  /** what it last said is in force on its node (the rules stay in force while it is disconnected) */
  applied?: {
    state: 'pending' | 'ok' | 'failed';
    version?: number;
    updates: number;
    failures: number;
    rulesBytes: number;
    lastUpdateMs?: number;
    error?: string;
    droppedLines: number;
  };
  flows: { lines: number; flows: number; spoofed: number; lost: number; overflows: number; readerRestarts: number };
}

export interface KernelView {
  namespace?: string;
  /** ok: the desired rules are in force; failed: the last update failed and the last good rules stay */
  state: 'pending' | 'ok' | 'failed';
  updates: number;
  failures: number;
  lastUpdate?: string;
  lastUpdateMs?: number;
  /** the last successful apply: the whole ruleset, or an update of what differed */
  lastApply?: 'full' | 'update';
  rulesBytes: number;
  error?: string;
  errorAt?: string;
  flows: { lines: number; flows: number; spoofed: number; lost: number; overflows: number; readerRestarts: number };
}

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

export function serviceView(
  name: ServiceName,
  mode: Mode,
  report: ConvergenceReport,
  edges: { ingress: readonly Edge[]; egress: readonly Edge[] },
  index: IdentityIndex,
): ServiceView {
  return {
    name,
    state: report.state,
    mode,
    confidence: Math.round(report.confidence * 10000) / 10000,
    edges: edges.ingress.length + edges.egress.length,
    ingress: edges.ingress.length,
    egress: edges.egress.length,
    workloads: index
      .workloadsOf(name)
      .map((w) => ({ name: w.name, address: w.addresses[0] ?? '' }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    observations: report.observations,
    missingMass: Math.round(report.missingMass * 10000) / 10000,
    lastNewEdgeAt: iso(report.lastNewEdgeAt),
    convergedAt: iso(report.convergedAt),
    reason: report.reason,
  };
}

/** The policy document of a service with the learned evidence of each rule that has some. */
export function policyView(
  policy: ServicePolicy,
  mode: Mode,
  edges: { ingress: readonly Edge[]; egress: readonly Edge[] },
  l7 = false,
): PolicyDocument {
  const key = (r: PolicyRule) => `${JSON.stringify(r.peer)}|${r.protocol}|${r.port}`;
  const ev = new Map<string, Edge['evidence']>();
  for (const e of edges.ingress)
    ev.set(`ingress|${key({ peer: e.source, protocol: e.protocol, port: e.port })}`, e.evidence);
  for (const e of edges.egress)
    ev.set(`egress|${key({ peer: e.destination, protocol: e.protocol, port: e.port })}`, e.evidence);
  return policyDocument(policy, mode, (side, r) => ev.get(`${side}|${key(r)}`), l7);
}

/** One connected sidecar: what it was sent and ACKed per type, its last NACK, and why it is held. */
export function envoyView(c: ConnectionStatus, service: string, held: Hold | undefined): EnvoyView {
  const acked: PerType = {};
  const sent: PerType = {};
  let lastNack: EnvoyView['lastNack'];
  for (const [t, s] of Object.entries(c.types) as [TypeUrl, NonNullable<(typeof c.types)[TypeUrl]>][]) {
    const short = typeShort(t);
    if (s.ackedVersion) acked[short] = s.ackedVersion;
    // nothing is outstanding for a type subscribed to nothing: the response sent before that is never ACKed
    if (s.sentVersion && !s.unsubscribed) sent[short] = s.sentVersion;
    if (s.lastNack && (!lastNack || s.lastNack.at > Date.parse(lastNack.at))) {
      const { version, message, at } = s.lastNack;
      lastNack = { type: short.toUpperCase(), version, message, at: new Date(at).toISOString() };
    }
  }
  return {
    node: c.nodeId,
    service,
    kind: c.kind,
    connectedAt: c.connectedAt,
    acked,
    sent,
    ...(lastNack && { lastNack }),
    ...(held && { held: held.reason }),
  };
}
