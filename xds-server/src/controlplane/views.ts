// JSON shapes of the API (and so of `nanoseg ... -o json`). Plain data, built by pure functions from the core state.
import type { ConvergenceReport, Edge, Mode, Peer, Protocol, ServiceName, Inventory } from '../model/index.js';
import { isServicePeer } from '../model/index.js';

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

export interface RuleView {
  peer: { service: ServiceName } | { cidr: string; sni?: string };
  protocol: Protocol;
  port: number;
  evidence: {
    firstSeen: string;
    lastSeen: string;
    count: number;
    bytesSent: number;
    bytesReceived: number;
    exampleWorkloads: string[];
  };
}

export interface PolicyView {
  service: ServiceName;
  mode: Mode;
  state: ConvergenceReport['state'];
  ingress: RuleView[];
  egress: RuleView[];
}

export interface StatusView {
  startedAt: number;
  stateDir: string;
  xdsListen: { tcp?: string; unix?: string };
  accessLogs: {
    entries: number;
    perSecond: number;
    rejected: number;
    rejectedByKind: Record<string, number>;
    streams: number;
  };
  xds: { connected: number; pushes: number; acks: number; nacks: number };
  envoys: {
    node: string;
    service: string;
    kind: 'sotw' | 'delta';
    connectedAt: number;
    acked: { cds?: string; eds?: string; lds?: string; rds?: string; ecds?: string };
    sent: { cds?: string; eds?: string; lds?: string; rds?: string; ecds?: string };
    lastNack?: { type: string; version: string; message: string; at: string };
    held?: string;
  }[];
  store: { edges: number; path: string };
  alerts: {
    webhook?: { sent: number; failed: number; dropped: number; queued: number; retries: number };
    aggregator: { received: number; emitted: number; aggregated: number; evicted: number; keys: number };
  };
  /** sidecars the control plane refuses to configure (fail-static) */
  held: { node: string; since: string; reason: string }[];
}

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

function peerView(p: Peer): RuleView['peer'] {
  return isServicePeer(p) ? { service: p.service } : p.sni ? { cidr: p.cidr, sni: p.sni } : { cidr: p.cidr };
}

function sortRules(a: RuleView, b: RuleView): number {
  const pa = JSON.stringify(a.peer),
    pb = JSON.stringify(b.peer);
  return pa < pb ? -1 : pa > pb ? 1 : a.port - b.port || a.protocol.localeCompare(b.protocol);
}

export function ruleView(e: Edge, side: 'ingress' | 'egress'): RuleView {
  const v = e.evidence;
  return {
    peer: peerView(side === 'ingress' ? e.source : e.destination),
    protocol: e.protocol,
    port: e.port,
    evidence: {
      firstSeen: iso(v.firstSeen)!,
      lastSeen: iso(v.lastSeen)!,
      count: v.count,
      bytesSent: v.bytesSent,
      bytesReceived: v.bytesReceived,
      exampleWorkloads: [...v.exampleWorkloads],
    },
  };
}

export function policyView(
  service: ServiceName,
  mode: Mode,
  report: ConvergenceReport,
  edges: { ingress: readonly Edge[]; egress: readonly Edge[] },
): PolicyView {
  return {
    service,
    mode,
    state: report.state,
    ingress: edges.ingress.map((e) => ruleView(e, 'ingress')).sort(sortRules),
    egress: edges.egress.map((e) => ruleView(e, 'egress')).sort(sortRules),
  };
}

export function serviceView(
  name: ServiceName,
  mode: Mode,
  report: ConvergenceReport,
  edges: { ingress: readonly Edge[]; egress: readonly Edge[] },
  inv: Inventory,
): ServiceView {
  return {
    name,
    state: report.state,
    mode,
    confidence: Math.round(report.confidence * 10000) / 10000,
    edges: edges.ingress.length + edges.egress.length,
    ingress: edges.ingress.length,
    egress: edges.egress.length,
    workloads: inv.workloads
      .filter((w) => w.service === name)
      .map((w) => ({ name: w.name, address: w.addresses[0] ?? '' }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    observations: report.observations,
    missingMass: Math.round(report.missingMass * 10000) / 10000,
    lastNewEdgeAt: iso(report.lastNewEdgeAt),
    convergedAt: iso(report.convergedAt),
    reason: report.reason,
  };
}
