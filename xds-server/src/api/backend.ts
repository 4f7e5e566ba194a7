// What the API serves, assembled from the core: read views (services, a policy with evidence, status) and the
// commands, which go to the controllers unchanged (their outcomes become statuses in routes.ts).
import type { MeshCore } from '../controlplane/core.js';
import { fail, ok, type Outcome } from '../model/errors.js';
import type { Alert, AuditEvent, Inventory } from '../model/index.js';
import { SERVICE_NAME_RE } from '../model/index.js';
import type { ParsedPolicy, PolicyDocument } from '../policy/index.js';
import type { ApiBackend, TraceView } from './routes.js';
import { spanView, type TraceQuery, type TraceSummary } from '../traces/index.js';
import type { KernelFlowStats, KernelStatus } from '../kernel/index.js';
import type { NodeAgentView } from '../nodeagent/hub.js';
import {
  envoyView,
  policyView,
  serviceView,
  type KernelView,
  type NodeAgentStatusView,
  type ServiceView,
  type StatusView,
} from './views.js';

export interface ServingInfo {
  readonly startedAt: number;
  readonly stateDir: string;
  readonly xdsSocket?: string;
  readonly xdsAddress?: string;
  /** the exporter of the control plane's own spans, when `--otlp-endpoint` is set */
  readonly selfTraces?: () => NonNullable<StatusView['selfTraces']>;
}

export class CoreBackend implements ApiBackend {
  constructor(
    private readonly core: MeshCore,
    private readonly serving: ServingInfo,
    private readonly now: () => number,
  ) {}

  info(): Record<string, unknown> {
    const s = this.serving;
    return { xdsSocket: s.xdsSocket, xdsAddress: s.xdsAddress, stateDir: s.stateDir, pid: process.pid };
  }

  services(): ServiceView[] {
    const c = this.core;
    const now = this.now();
    return c
      .serviceNames()
      .map((s) =>
        serviceView(s, c.policy.modeOf(s), c.tracker.report(s, now), c.learner.edgesOf(s), c.inventory.index),
      );
  }

  /** The policy document of a service: learned edges in learn mode, the policy in force otherwise; with evidence. */
  policy(service: string): Outcome<PolicyDocument> {
    if (!SERVICE_NAME_RE.test(service)) return fail('invalid', `service "${service}": expected namespace/name`);
    const known = this.core.serviceNames();
    if (!known.includes(service)) {
      return fail('not-found', `unknown service ${service} (known: ${known.join(', ') || 'none'})`);
    }
    const p = this.core.policy;
    return ok(
      policyView(p.policyInForce(service), p.modeOf(service), this.core.learner.edgesOf(service), p.l7Of(service)),
    );
  }

  applyPolicy(parsed: ParsedPolicy, actor: string) {
    return this.core.policy.applyPolicy(parsed, actor);
  }

  setMode(service: string, mode: string, actor: string, l7?: boolean) {
    return this.core.policy.setMode(service, mode, actor, l7);
  }

  setAllModes(mode: string, actor: string) {
    return this.core.policy.setAllModes(mode, actor);
  }

  release(nodes: 'all' | readonly string[], actor: string) {
    return this.core.policy.release(nodes, actor);
  }

  alerts(sinceMs: number): Alert[] {
    return this.core.alerts.alerts(sinceMs);
  }

  subscribeAlerts(fn: (a: Alert) => void): () => void {
    return this.core.alerts.subscribe(fn);
  }

  audit(sinceMs: number): AuditEvent[] {
    return this.core.alerts.auditEvents(sinceMs);
  }

  inventory(): Inventory {
    return this.core.inventory.index.inventory;
  }

  putInventory(source: string, inv: Inventory): void {
    this.core.pushed.put(source, inv);
  }

  deleteInventory(source: string): void {
    this.core.pushed.delete(source);
  }

  traces(q: TraceQuery): TraceSummary[] {
    return this.core.traces.store.list(q);
  }

  trace(id: string): Outcome<TraceView> {
    if (!/^[0-9a-fA-F]{32}$/.test(id)) return fail('invalid', `trace id "${id}": expected 32 hex digits`);
    const t = this.core.traces.store.get(id);
    if (!t) return fail('not-found', `no trace ${id.toLowerCase()} (not received, or no longer kept)`);
    return ok({
      trace: t.summary,
      spans: t.spans.map(spanView),
      kinds: Object.fromEntries(t.spans.map((s) => [s.spanId, s.kind])),
    });
  }

  status(): StatusView {
    const c = this.core;
    const conns = c.discovery.status();
    const totals = conns.reduce(
      (a, x) => ({ pushes: a.pushes + x.totals.pushes, acks: a.acks + x.totals.acks, nacks: a.nacks + x.totals.nacks }),
      { pushes: 0, acks: 0, nacks: 0 },
    );
    const held = c.policy.state.held;
    const index = c.inventory.index;
    const st = c.ingest.stats;
    return {
      startedAt: this.serving.startedAt,
      stateDir: this.serving.stateDir,
      xdsListen: { tcp: this.serving.xdsAddress, unix: this.serving.xdsSocket },
      storeId: c.store.id,
      accessLogs: {
        entries: st.entries,
        perSecond: c.ingest.perSecond(),
        rejected: st.rejected,
        rejectedByKind: { ...st.rejectedByKind },
        streams: st.streams,
      },
      xds: { connected: conns.length, ...totals },
      envoys: conns
        .map((x) => envoyView(x, index.serviceOfNode(x.nodeId, x.cluster), held.get(x.nodeId)))
        .sort((a, b) => a.node.localeCompare(b.node)),
      store: { edges: c.learner.size, path: c.store.file },
      alerts: c.alerts.stats(),
      held: [...held].map(([node, h]) => ({ node, since: new Date(h.since).toISOString(), reason: h.reason })),
      inventorySources: c.inventory.sourceStatus(),
      ...(c.kernel && { kernel: kernelView(c.kernel.point.status(), c.kernel.flows.stats) }),
      ...(c.nodeAgents && { nodeAgents: c.nodeAgents.agentsView().map(nodeAgentView) }),
      traces: {
        exports: c.traces.stats.exports,
        spans: c.traces.stats.accepted,
        rejected: c.traces.stats.rejected,
        hugeAttributes: c.traces.stats.hugeAttributes,
        kept: {
          traces: c.traces.store.stats.traces,
          spans: c.traces.store.stats.spans,
          bytes: c.traces.store.stats.bytes,
          budgetBytes: c.traces.store.stats.budgetBytes,
          evictedTraces: c.traces.store.stats.evictedTraces,
        },
        ...(c.forwarder && { forward: { target: c.forwarder.target, ...c.forwarder.stats } }),
      },
      ...(this.serving.selfTraces && { selfTraces: this.serving.selfTraces() }),
    };
  }
}

function nodeAgentView(a: NodeAgentView): NodeAgentStatusView {
  const s = a.status;
  return {
    node: a.node,
    pod: a.pod,
    connected: a.connected,
    since: new Date(a.since).toISOString(),
    ...(a.sentVersion !== undefined && { sentVersion: a.sentVersion }),
    ...(s && {
      applied: {
        state: s.state,
        ...(s.version !== undefined && { version: s.version }),
        updates: s.applies,
        failures: s.failures,
        rulesBytes: s.rulesBytes,
        ...(s.lastApplyMs !== undefined && { lastUpdateMs: s.lastApplyMs }),
        ...(s.error !== undefined && { error: s.error }),
        droppedLines: s.droppedLines,
      },
    }),
    flows: { ...a.flows },
  };
}

function kernelView(k: KernelStatus, flows: KernelFlowStats): KernelView {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  return {
    ...(k.namespace !== undefined && { namespace: k.namespace }),
    state: k.state,
    updates: k.applies,
    failures: k.failures,
    ...(k.lastAppliedAt !== undefined && { lastUpdate: iso(k.lastAppliedAt) }),
    ...(k.lastApplyMs !== undefined && { lastUpdateMs: Math.round(k.lastApplyMs * 10) / 10 }),
    ...(k.lastApply !== undefined && { lastApply: k.lastApply }),
    rulesBytes: k.rulesBytes,
    ...(k.error !== undefined && { error: k.error, errorAt: iso(k.errorAt) }),
    flows: { ...flows },
  };
}
