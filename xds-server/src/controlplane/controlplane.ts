// The control plane: wires the pure core (learn, convergence, generate) to its adapters (store, ADS, ALS, API,
// metrics). Facts flow in (inventory, access logs), the core decides, results flow out (xDS snapshots, API views).
import { chmodSync, chownSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { AggregatedDiscoveryServiceService } from '../../../proto/gen/envoy/service/discovery/v3/ads.js';
import type {
  Alert,
  AuditEvent,
  Edge,
  HttpLogEntry,
  Inventory,
  LogEntry,
  Mode,
  Observation,
  PolicyRule,
  ServiceName,
  ServicePolicy,
  TcpLogEntry,
  Workload,
} from '../model/index.js';
import { DENY_LOG_SUFFIX, EMPTY_INVENTORY, MODES, SERVICE_NAME_RE, isServicePeer } from '../model/index.js';
import {
  ConvergenceTracker,
  DEFAULT_CONVERGENCE,
  InventoryIndex,
  Learner,
  toObservation,
  describeEdge,
} from '../learn/index.js';
import type { ConvergenceConfig, ConvergenceMemory } from '../learn/index.js';
import { Store } from '../store/index.js';
import {
  AdsServer,
  PushDebouncer,
  SnapshotCache,
  makeSnapshot,
  resource,
  CDS,
  EDS,
  LDS,
  RDS,
  ECDS,
} from '../xds/index.js';
import type { NodeInfo, PushRequest, Snapshot, TypeUrl } from '../xds/index.js';
import {
  generateProxy,
  egressServices,
  emptyPolicy,
  type GeneratedResource,
  type ResourceKind,
} from '../generate/index.js';
import {
  compilePolicy,
  diffPolicy,
  explainDeny,
  freezePolicy,
  parsePolicyFile,
  policyDocument,
  type CompiledPolicy,
  type ParsedPolicy,
  type PolicyDocument,
} from '../policy/index.js';
import {
  AlertAggregator,
  AlertLog,
  JsonlAuditFile,
  WebhookSink,
  verdictOf,
  type VerdictResult,
} from '../alerts/index.js';
import { normalizeIp } from '../learn/index.js';
import { AccessLogService, RAW_ACCESS_LOG_SERVICE, type AlsStreamIdentity } from '../serve/als.js';
import { HttpApi, ApiError, socketAnswers } from '../serve/http-api.js';
import { Metrics } from '../serve/metrics.js';
import { OncePerKind, type Logger } from '../util/logger.js';
import { formatDuration } from '../util/duration.js';
import { serviceView, type ServiceView, type StatusView } from './views.js';
import { validateInventory } from '../inventory/index.js';

export interface ControlPlaneOptions {
  readonly stateDir: string;
  readonly apiSocket: string;
  /** gRPC (ADS + ALS) TCP address, plaintext; undefined = off */
  readonly xdsAddress?: string;
  /** gRPC (ADS + ALS) unix socket, group 1337 so sidecars running as uid/gid 1337 reach it */
  readonly xdsSocket?: string;
  readonly metricsAddress?: string;
  readonly convergence: ConvergenceConfig;
  readonly logger: Logger;
  /** how often evidence counts are written to the store (new edges are written at once) */
  readonly flushIntervalMs: number;
  /** how often convergence is re-evaluated */
  readonly tickMs: number;
  readonly debounceMs: number;
  readonly maxPushDelayMs: number;
  /** converged → monitor → (after a soak with zero would-deny) enforce, without a person */
  readonly autoPromote: boolean;
  readonly soakPeriodMs: number;
  /** HTTP endpoint that receives every alert as a JSON POST */
  readonly alertWebhook?: string;
}

export const DEFAULT_CONTROL_PLANE_OPTIONS: Omit<ControlPlaneOptions, 'logger'> = {
  stateDir: '/var/lib/nanoseg',
  apiSocket: '/run/nanoseg/api.sock',
  xdsAddress: '127.0.0.1:15010',
  xdsSocket: '/run/nanoseg/xds.sock',
  metricsAddress: '127.0.0.1:15014',
  convergence: DEFAULT_CONVERGENCE,
  flushIntervalMs: 1000,
  tickMs: 1000,
  debounceMs: 100,
  maxPushDelayMs: 1000,
  autoPromote: false,
  soakPeriodMs: 10 * 60_000,
};

/** Per-service state persisted in the services table. */
interface ServiceState {
  convergence?: ConvergenceMemory;
  /** the policy in force once the service left learn mode, or applied by a person */
  policy?: ServicePolicy;
  /** per server port, bumped when ingress rules on it are revoked while enforced (re-creates that port's chain) */
  inboundGenerations?: Record<number, number>;
  /** when the service entered monitor mode (auto-promotion soak) */
  monitorSince?: number;
}

const ENVOY_GID = 1337;
const FLUSH_CHUNK = 100;
/** how often the store's WAL is checkpointed, off the event loop */
const CHECKPOINT_INTERVAL_MS = 1000;
const KIND_TYPE: Record<ResourceKind, TypeUrl> = {
  cluster: CDS,
  endpoints: EDS,
  listener: LDS,
  route: RDS,
  extension: ECDS,
};
const TYPE_SHORT: Record<TypeUrl, 'cds' | 'eds' | 'lds' | 'rds' | 'ecds'> = {
  [CDS]: 'cds',
  [EDS]: 'eds',
  [LDS]: 'lds',
  [RDS]: 'rds',
  [ECDS]: 'ecds',
};

export class ControlPlane {
  private readonly log: Logger;
  private readonly metrics = new Metrics();
  private readonly learner = new Learner();
  private readonly tracker: ConvergenceTracker;
  private readonly cache = new SnapshotCache();
  private readonly ads: AdsServer;
  private readonly pushes: PushDebouncer;
  private readonly api: HttpApi;
  private readonly once: OncePerKind;
  private store?: Store;
  private grpc?: Server;
  private timers: NodeJS.Timeout[] = [];
  private started = false;
  private flushing = false;
  private readonly flushQueue: Edge[] = [];
  /** the bound TCP port of the gRPC server (useful with --xds-address HOST:0) */
  xdsPort?: number;
  private stopped = false;
  private startedAt = Date.now();

  private inventories = new Map<string, Inventory>();
  private inventory: Inventory = EMPTY_INVENTORY;
  private index = InventoryIndex.EMPTY;
  private readonly modes = new Map<ServiceName, Mode>();
  private readonly states = new Map<ServiceName, ServiceState>();
  /** last would-deny per service (auto-promotion gate) */
  private readonly lastWouldDeny = new Map<ServiceName, number>();
  /** sidecars we refuse to configure: they run config we cannot account for (fail-static) */
  private readonly held = new Map<string, { since: number; reason: string }>();
  /** the store had no state when this process opened it */
  private amnesiac = false;
  private readonly alertLog = new AlertLog();
  private readonly aggregator: AlertAggregator;
  private auditFile?: JsonlAuditFile;
  private webhook?: WebhookSink;
  /**
   * Generated snapshots by generation input (the sidecar's service), valid until the next config change: every
   * replica of a service gets the same resources, so a push generates once per service, not once per sidecar.
   */
  private readonly generated = new Map<string, Snapshot>();
  private readonly compiledPolicies = new Map<ServiceName, CompiledPolicy>();
  /** connected nodes: id → node info (latest stream) */
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly als = {
    entries: 0,
    rejected: 0,
    rejectedByKind: {} as Record<string, number>,
    streams: 0,
    window: [] as [number, number][],
  };

  constructor(private readonly opts: ControlPlaneOptions) {
    this.log = opts.logger;
    this.once = new OncePerKind(this.log, 60_000);
    this.tracker = new ConvergenceTracker(opts.convergence);
    this.ads = new AdsServer(this.cache, {
      logger: this.log,
      onNodeConnected: (n) => this.onNodeConnected(n),
      onNodeDisconnected: (n) => this.onNodeDisconnected(n),
      onAck: (_n, t) => this.metrics.acks.inc({ type: TYPE_SHORT[t] }),
      onNack: (n, t, version, message) => {
        this.metrics.nacks.inc({ type: TYPE_SHORT[t] });
        this.log.warn(
          { node: n.id, type: TYPE_SHORT[t], version, error: message },
          'Envoy rejected config (NACK); it keeps its last good config',
        );
      },
    });
    this.pushes = new PushDebouncer((req) => this.push(req), {
      debounceMs: opts.debounceMs,
      maxDelayMs: opts.maxPushDelayMs,
      logger: this.log,
    });
    this.aggregator = new AlertAggregator((a) => this.emitAlert(a), { logger: this.log });
    if (opts.alertWebhook) this.webhook = new WebhookSink(opts.alertWebhook, { logger: this.log });
    this.metrics.alertSinkStats = () => ({ webhook: this.webhook?.stats() });
    this.api = this.routes(new HttpApi(this.log));
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.startedAt = Date.now();
    const store = Store.open(this.opts.stateDir);
    this.store = store;
    store.checkpointInBackground(CHECKPOINT_INTERVAL_MS, (reason) =>
      this.log.warn({ reason }, 'background WAL checkpoints stopped; SQLite checkpoints during commits again'),
    );
    this.restore(store);
    this.auditFile = new JsonlAuditFile(join(this.opts.stateDir, 'audit.jsonl'), { logger: this.log });
    await this.listenGrpc();
    await this.api.listen(this.opts.apiSocket);
    if (this.opts.metricsAddress)
      await this.metrics.listen(this.opts.metricsAddress, () => this.started && !this.stopped);
    this.timers.push(setInterval(() => this.flush(), this.opts.flushIntervalMs).unref());
    this.timers.push(setInterval(() => this.tick(), this.opts.tickMs).unref());
    this.log.info(
      {
        stateDir: this.opts.stateDir,
        api: this.opts.apiSocket,
        xdsAddress: this.opts.xdsAddress,
        xdsSocket: this.opts.xdsSocket,
        metrics: this.opts.metricsAddress,
        edges: this.learner.size,
        workloads: this.inventory.workloads.length,
      },
      'nanoseg control plane serving',
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.pushes.stop();
    this.aggregator.stop();
    this.ads.stop();
    await this.webhook?.stop();
    await this.auditFile?.stop();
    await this.api.stop();
    await this.metrics.stop();
    const g = this.grpc;
    if (g) {
      // let in-flight calls finish briefly; access-log streams never end on their own
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          g.forceShutdown();
          r();
        }, 1000);
        g.tryShutdown(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    if (this.store) {
      this.flush(true);
      this.store.close();
      this.store = undefined;
    }
  }

  // ---- state in -------------------------------------------------------------------------------------------

  private restore(store: Store): void {
    for (const source of store.inventorySources()) {
      const inv = store.getInventory(source);
      if (inv) this.inventories.set(source, inv);
    }
    this.rebuildInventory();
    const edges = store.loadEdges();
    this.learner.load(edges);
    this.tracker.seed(edges);
    const rows = store.getServiceRows();
    for (const row of rows) {
      this.modes.set(row.name, row.mode);
      const st = (row.state ?? {}) as ServiceState;
      this.states.set(row.name, st);
      if (st.convergence) this.tracker.restore(row.name, st.convergence);
    }
    this.amnesiac = edges.length === 0 && rows.length === 0 && this.inventories.size === 0;
    this.refreshEdgeMetrics();
  }

  private rebuildInventory(): void {
    const workloads: Workload[] = [];
    const externals: Inventory['externals'][number][] = [];
    const vips: Inventory['vips'][number][] = [];
    for (const source of [...this.inventories.keys()].sort()) {
      const inv = this.inventories.get(source)!;
      workloads.push(...inv.workloads);
      externals.push(...inv.externals);
      vips.push(...inv.vips);
    }
    this.inventory = { workloads, externals, vips };
    this.index = InventoryIndex.build(this.inventory);
    if (this.index.conflicts.length)
      this.log.warn(
        { addresses: this.index.conflicts },
        'addresses claimed by more than one workload; the first claim wins',
      );
  }

  /** Replaces one inventory source (e.g. the lab) and pushes new config to every sidecar. */
  setInventory(source: string, inv: Inventory | undefined): void {
    if (inv) this.inventories.set(source, inv);
    else this.inventories.delete(source);
    if (inv) this.store?.putInventory(source, inv);
    else this.store?.deleteInventory(source);
    this.rebuildInventory();
    this.configChanged(`inventory ${source} changed`);
  }

  private readonly alsSink = {
    tcp: (s: AlsStreamIdentity, entries: readonly TcpLogEntry[]) => this.ingest(s, 'tcp', entries),
    http: (s: AlsStreamIdentity, entries: readonly HttpLogEntry[]) => this.ingest(s, 'http', entries),
    rejected: (kind: string, count: number, detail: string) => this.reject(kind, count, detail),
    streamOpened: () => {
      this.als.streams++;
      this.metrics.alsStreams.inc();
    },
    streamClosed: () => {
      this.als.streams--;
      this.metrics.alsStreams.dec();
    },
  };

  private ingest(s: AlsStreamIdentity, kind: 'tcp' | 'http', entries: readonly LogEntry[]): void {
    // deny chains log under "<side>-deny"; attribution is the same as for their side
    const denyChain = s.logName.endsWith(DENY_LOG_SUFFIX);
    const ctx = {
      logName: denyChain ? s.logName.slice(0, -DENY_LOG_SUFFIX.length) : s.logName,
      node: { id: s.nodeId, cluster: s.cluster },
      index: this.index,
      now: Date.now(),
    };
    let accepted = 0;
    for (const entry of entries) {
      const r = toObservation(entry, kind, ctx);
      if (!r.ok) {
        this.reject(r.kind, 1, r.detail, s.nodeId);
        continue;
      }
      accepted++;
      const verdict = verdictOf(entry, kind, s.logName);
      if (verdict) this.onVerdict(s, r.obs, entry, verdict);
      // a denied connection never happened: it is an alert, not evidence
      if (verdict?.verdict === 'denied') continue;
      const result = this.learner.observe(r.obs);
      this.tracker.record(result, r.obs.time);
      if (result.isNew) this.onNewEdge(result.edge);
    }
    this.als.entries += accepted;
    this.metrics.alsEntries.inc({ result: 'accepted' }, accepted);
    this.countRate(entries.length);
    for (const t of this.tracker.drainTransitions()) this.onTransition(t);
  }

  private onTransition(t: { service: ServiceName; from: string; to: string; reason: string }): void {
    this.log.info(
      { service: t.service, from: t.from, to: t.to, reason: t.reason },
      `service ${t.service} ${t.to === 'learning' ? 'went back to learning' : 'converged'}`,
    );
    this.persistService(t.service);
    // convergence decides config scoping
    this.configChanged(`${t.service} ${t.to}`, [t.service]);
  }

  /** A denied or would-deny connection seen by a sidecar: an alert naming the missing rule. */
  private onVerdict(s: AlsStreamIdentity, obs: Observation, entry: LogEntry, v: VerdictResult): void {
    const enforcer = this.index.workloadByNodeId(s.nodeId)?.service ?? s.cluster;
    const side = obs.side === 'outbound' ? 'egress' : 'ingress';
    const c = entry.commonProperties;
    const remote = c?.downstreamRemoteAddress?.socketAddress;
    const local = c?.downstreamLocalAddress?.socketAddress;
    const sourceIp = normalizeIp(remote?.address ?? '');
    const destIp = normalizeIp(local?.address ?? '');
    const sni = isServicePeer(obs.destination) ? undefined : obs.destination.sni;
    const mode = this.modeOf(enforcer);
    const compiled = this.compiled(enforcer);
    const reason = explainDeny(
      compiled,
      side,
      { sourceIp, destIp, port: obs.port, sni, protocol: obs.protocol },
      this.inventory,
    );
    const now = Date.now();
    if (v.verdict === 'would-deny') this.lastWouldDeny.set(enforcer, now);
    this.metrics.verdicts.inc({ service: enforcer, verdict: v.verdict });
    this.aggregator.push({
      time: new Date(obs.time || now).toISOString(),
      verdict: v.verdict,
      mode,
      source: {
        ...(isServicePeer(obs.source) && { service: obs.source.service }),
        ...(obs.sourceWorkload && { workload: obs.sourceWorkload }),
        ip: sourceIp,
      },
      destination: {
        ...(isServicePeer(obs.destination) && { service: obs.destination.service }),
        ip: destIp,
        port: obs.port,
        ...(sni && { sni }),
      },
      protocol: obs.protocol,
      count: 1,
      reason,
      reporter: s.nodeId,
      side,
    });
  }

  private emitAlert(a: Alert): void {
    this.alertLog.append(a);
    this.auditFile?.writeAlert(a);
    this.webhook?.send(a);
    this.log.warn({ alert: a }, `${a.verdict}: ${a.reason}`);
  }

  private onNewEdge(edge: Edge): void {
    // A learned edge is written at once: a crash never loses it (counts are batched, see flush()).
    try {
      this.store?.upsertEdges([edge]);
    } catch (e) {
      this.once.warn(
        'store-write',
        { err: (e as Error).message },
        'cannot persist a new edge; it stays in memory and is retried on the next flush',
      );
    }
    this.metrics.newEdges.inc();
    this.log.info({ edge: describeEdge(edge), protocol: edge.protocol }, 'learned new edge');
    if (isServicePeer(edge.source))
      this.metrics.learnedEdges.inc({ service: edge.source.service, direction: 'egress' });
    if (isServicePeer(edge.destination))
      this.metrics.learnedEdges.inc({ service: edge.destination.service, direction: 'ingress' });
    // In learn mode the learned edges shape the chains (a destination's own chain, a server port's chain), so
    // connections opened now already sit on the chain they will keep once the service is enforced.
    const learning = [edge.source, edge.destination].flatMap((p) =>
      isServicePeer(p) && this.modeOf(p.service) === 'learn' && !this.states.get(p.service)?.policy ? [p.service] : [],
    );
    if (learning.length) this.configChanged(`new edge ${describeEdge(edge)}`, learning);
  }

  private reject(kind: string, count: number, detail: string, node?: string): void {
    this.als.rejected += count;
    this.als.rejectedByKind[kind] = (this.als.rejectedByKind[kind] ?? 0) + count;
    this.metrics.alsEntries.inc({ result: `rejected:${kind}` }, count);
    this.once.warn(
      `als:${kind}`,
      { node, detail },
      `access-log entry rejected (${kind}); further ones of this kind are counted, logged once a minute`,
    );
  }

  private countRate(n: number): void {
    const sec = Math.floor(Date.now() / 1000);
    const w = this.als.window;
    const last = w[w.length - 1];
    if (last && last[0] === sec) last[1] += n;
    else w.push([sec, n]);
    while (w.length > 0 && w[0]![0] < sec - 10) w.shift();
  }

  // ---- periodic work --------------------------------------------------------------------------------------

  /**
   * Writes changed evidence in transactions of at most FLUSH_CHUNK edges, yielding between them, so a flush of
   * thousands of edges never blocks the event loop for long. `final` (on stop) writes everything that is queued.
   */
  private flush(final = false): void {
    if (!this.store) return;
    const dirty = this.learner.dirty();
    for (const e of dirty) this.flushQueue.push(e);
    if (final) {
      this.writeChunk(this.flushQueue.length);
      return;
    }
    if (this.flushing || this.flushQueue.length === 0) return;
    this.flushing = true;
    const step = (): void => {
      if (!this.writeChunk(FLUSH_CHUNK) || this.flushQueue.length === 0 || !this.store) {
        this.flushing = false;
        return;
      }
      setImmediate(step);
    };
    step();
  }

  /** Writes up to n queued edges in one transaction; false (and the edges stay dirty) when the store fails. */
  private writeChunk(n: number): boolean {
    const chunk = this.flushQueue.splice(0, n);
    if (chunk.length === 0) return true;
    try {
      this.store?.upsertEdges(chunk);
      return true;
    } catch (e) {
      this.once.warn('store-flush', { err: (e as Error).message }, 'cannot persist evidence; will retry');
      this.learner.markDirty([...chunk, ...this.flushQueue.splice(0)]);
      return false;
    }
  }

  private tick(): void {
    const now = Date.now();
    const reports = this.tracker.evaluate(now);
    for (const t of this.tracker.drainTransitions()) this.onTransition(t);
    if (this.opts.autoPromote) this.autoPromote(reports, now);
    for (const [svc, r] of reports) {
      this.metrics.converged.set({ service: svc }, r.state === 'converged' ? 1 : 0);
      this.metrics.confidence.set({ service: svc }, r.confidence);
    }
  }

  /** converged learn → monitor; monitor with no would-deny for the soak period → enforce. */
  private autoPromote(reports: Map<ServiceName, { state: string }>, now: number): void {
    for (const [svc, r] of reports) {
      const mode = this.modeOf(svc);
      if (mode === 'learn' && r.state === 'converged') {
        this.setMode(svc, 'monitor', 'nanoseg (auto-promote: converged)');
      } else if (mode === 'monitor') {
        const since = Math.max(this.states.get(svc)?.monitorSince ?? now, this.lastWouldDeny.get(svc) ?? 0);
        if (now - since >= this.opts.soakPeriodMs) {
          this.setMode(svc, 'enforce', `nanoseg (auto-promote: no would-deny for ${formatDuration(now - since)})`);
        }
      }
    }
  }

  private persistService(service: ServiceName): void {
    try {
      const st: ServiceState = { ...this.states.get(service), convergence: this.tracker.memory(service) };
      this.states.set(service, st);
      this.store?.putService({ name: service, mode: this.modeOf(service), state: st });
    } catch (e) {
      this.once.warn('store-service', { err: (e as Error).message }, 'cannot persist service state');
    }
  }

  private refreshEdgeMetrics(): void {
    this.metrics.learnedEdges.reset();
    for (const svc of this.serviceNames()) {
      const e = this.learner.edgesOf(svc);
      this.metrics.learnedEdges.set({ service: svc, direction: 'ingress' }, e.ingress.length);
      this.metrics.learnedEdges.set({ service: svc, direction: 'egress' }, e.egress.length);
    }
  }

  // ---- xDS out --------------------------------------------------------------------------------------------

  private async listenGrpc(): Promise<void> {
    const server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
    server.addService(AggregatedDiscoveryServiceService, this.ads.handlers());
    server.addService(RAW_ACCESS_LOG_SERVICE, new AccessLogService(this.alsSink, this.log).handlers());
    const bind = (addr: string) =>
      new Promise<number>((res, rej) =>
        server.bindAsync(addr, ServerCredentials.createInsecure(), (e, port) =>
          e ? rej(new Error(`cannot listen on ${addr}: ${e.message}`)) : res(port),
        ),
      );
    if (this.opts.xdsSocket) {
      const path = resolve(this.opts.xdsSocket);
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      if (existsSync(path)) {
        if (await socketAnswers(path))
          throw new Error(`${path}: another nanoseg control plane is already serving here`);
        unlinkSync(path);
      }
      await bind(`unix:${path}`);
      // sidecars run as uid/gid 1337: let that group (and only it, besides root) connect
      chownSync(path, 0, ENVOY_GID);
      chmodSync(path, 0o660);
    }
    if (this.opts.xdsAddress) this.xdsPort = await bind(this.opts.xdsAddress);
    this.grpc = server;
  }

  private onNodeConnected(n: NodeInfo): void {
    this.nodes.set(n.id, n);
    this.metrics.connectedEnvoys.set(this.nodes.size);
    this.log.info({ node: n.id, service: n.cluster, stream: n.streamId }, 'Envoy connected');
    if (this.amnesiac && n.hasConfig && !this.held.has(n.id)) {
      // Fail-static: this sidecar runs config from a control plane whose state we do not have (lost or new
      // store). Pushing ours could open what it keeps closed, so we send nothing: it keeps its config.
      const reason =
        'sidecar runs config this control plane has no record of (state dir lost or new); keeping its config — `nanoseg release` to take over';
      this.held.set(n.id, { since: Date.now(), reason });
      this.log.error({ node: n.id }, reason);
    }
    if (this.held.has(n.id)) return;
    this.updateNode(n);
  }

  /** Lets the control plane configure held sidecars again (a person decided our state is the truth). */
  release(nodes: 'all' | string[], actor: string): string[] {
    const ids = nodes === 'all' ? [...this.held.keys()] : nodes.filter((id) => this.held.has(id));
    if (nodes !== 'all') {
      const unknown = nodes.filter((id) => !this.held.has(id));
      if (unknown.length)
        throw new ApiError(
          404,
          `not held: ${unknown.join(', ')} (held: ${[...this.held.keys()].join(', ') || 'none'})`,
        );
    }
    for (const id of ids) {
      this.held.delete(id);
      const n = this.nodes.get(id);
      if (n) this.updateNode(n);
    }
    if (ids.length)
      this.audit({ actor, action: 'release', target: ids.join(','), before: 'held', after: 'configured' });
    if (this.held.size === 0) this.amnesiac = false;
    return ids;
  }

  private onNodeDisconnected(n: NodeInfo): void {
    if (this.nodes.get(n.id)?.streamId === n.streamId) this.nodes.delete(n.id);
    this.metrics.connectedEnvoys.set(this.nodes.size);
    this.log.info({ node: n.id, stream: n.streamId }, 'Envoy disconnected');
  }

  /**
   * Something that config is generated from changed: forget generated snapshots (all, or of some services) and
   * push to the affected sidecars (debounced, merged).
   */
  private configChanged(reason: string, services?: readonly ServiceName[]): void {
    if (!services) {
      this.generated.clear();
      this.compiledPolicies.clear();
      this.pushes.enqueue({ full: true, reasons: [reason] });
      return;
    }
    for (const svc of services) {
      this.generated.delete(svc);
      this.compiledPolicies.delete(svc);
    }
    const nodes = new Set(
      [...this.nodes.values()].filter((n) => services.includes(this.serviceOfNode(n))).map((n) => n.id),
    );
    if (nodes.size) this.pushes.enqueue({ full: false, nodes, reasons: [reason] });
  }

  private serviceOfNode(n: NodeInfo): ServiceName {
    return this.index.workloadByNodeId(n.id)?.service ?? n.cluster;
  }

  private push(req: PushRequest): void {
    this.metrics.pushes.inc();
    for (const n of this.nodes.values()) {
      if (req.nodes && !req.nodes.has(n.id)) continue;
      if (this.held.has(n.id)) continue;
      this.updateNode(n);
    }
  }

  /** Generates the node's resources (shared by its service's replicas) and sets its snapshot; an inconsistent
   * result keeps the last good one. */
  private updateNode(n: NodeInfo): void {
    const ref = this.index.workloadByNodeId(n.id);
    const service = ref?.service ?? n.cluster;
    let snapshot = this.generated.get(service);
    if (!snapshot) {
      const mode = this.modeOf(service);
      const policy = this.policyInForce(service);
      const converged = this.tracker.memory(service)?.state === 'converged';
      // scoping only where it cannot break anything: monitor must let off-segment traffic (to any VIP) through
      const scope = mode === 'enforce' && converged ? egressServices(policy) : undefined;
      snapshot = makeSnapshot(
        generateProxy({
          identity: { nodeId: n.id, service, workload: ref?.workload },
          inventory: this.inventory,
          mode,
          policy,
          scope,
          inboundGenerations: this.states.get(service)?.inboundGenerations ?? {},
        }).map(toXds),
      );
      this.generated.set(service, snapshot);
    }
    const r = this.cache.setSnapshot(n.id, snapshot);
    if (!r.valid) {
      this.metrics.snapshotRejected.inc();
      this.log.error(
        { node: n.id, errors: r.errors },
        'generated config is inconsistent; keeping the last good config for this node',
      );
    }
  }

  // ---- policy and modes -----------------------------------------------------------------------------------

  /** The rules a sidecar is configured with: the frozen/applied policy, or in learn mode the learned edges. */
  private policyInForce(service: ServiceName): ServicePolicy {
    const p = this.states.get(service)?.policy;
    if (p) return p;
    return this.modeOf(service) === 'learn'
      ? freezePolicy(service, this.learner.edgesOf(service), 0)
      : emptyPolicy(service);
  }

  /** The compiled policy in force (for alert explanations), cached until the service's config changes. */
  private compiled(service: ServiceName): CompiledPolicy {
    let c = this.compiledPolicies.get(service);
    if (!c) this.compiledPolicies.set(service, (c = compilePolicy(this.policyInForce(service), this.inventory)));
    return c;
  }

  private requireService(service: string): ServiceName {
    if (!SERVICE_NAME_RE.test(service))
      throw new ApiError(400, `service "${service}": expected namespace/name in lowercase DNS labels`);
    if (!this.serviceNames().includes(service))
      throw new ApiError(404, `unknown service ${service} (known: ${this.serviceNames().join(', ') || 'none'})`);
    return service;
  }

  /** Sets a service's mode. Leaving learn mode freezes the learned edges into the policy in force. */
  setMode(service: ServiceName, mode: Mode, actor: string): { service: ServiceName; before: Mode; after: Mode } {
    if (!MODES.includes(mode)) throw new ApiError(400, `unknown mode "${mode}" (use ${MODES.join(', ')})`);
    this.requireService(service);
    const before = this.modeOf(service);
    if (before === mode) return { service, before, after: mode };
    const st: ServiceState = { ...this.states.get(service) };
    if (before === 'learn' && !st.policy) st.policy = freezePolicy(service, this.learner.edgesOf(service), Date.now());
    if (mode === 'monitor') st.monitorSince = Date.now();
    this.states.set(service, st);
    this.modes.set(service, mode);
    this.persistService(service);
    this.audit({ actor, action: 'mode', target: service, before, after: mode });
    this.configChanged(`${service} mode ${before} → ${mode}`, [service]);
    return { service, before, after: mode };
  }

  setAllModes(mode: Mode, actor: string): { service: ServiceName; before: Mode; after: Mode }[] {
    if (!MODES.includes(mode)) throw new ApiError(400, `unknown mode "${mode}" (use ${MODES.join(', ')})`);
    return this.serviceNames().map((s) => this.setMode(s, mode, actor));
  }

  /** Replaces a service's policy with a person's edit (validated by the caller's parser and again here). */
  applyPolicy(p: ParsedPolicy, actor: string): { service: ServiceName; changed: boolean } {
    const service = this.requireService(p.service);
    if (p.mode !== undefined && !MODES.includes(p.mode)) throw new ApiError(400, `mode: unknown mode "${p.mode}"`);
    const before = this.policyInForce(service);
    const next: ServicePolicy = {
      service,
      ingress: p.ingress,
      egress: p.egress,
      origin: 'applied',
      updatedAt: Date.now(),
    };
    const d = diffPolicy(before, next);
    const changed =
      d.ingress.added.length + d.ingress.removed.length + d.egress.added.length + d.egress.removed.length > 0;
    const st: ServiceState = { ...this.states.get(service), policy: next };
    // revoking ingress while enforced: re-create the inbound chains so open connections are re-checked
    if (this.modeOf(service) === 'enforce' && d.ingress.removed.length > 0) {
      const gens = { ...st.inboundGenerations };
      for (const r of d.ingress.removed) gens[r.port] = (gens[r.port] ?? 0) + 1;
      st.inboundGenerations = gens;
    }
    this.states.set(service, st);
    this.persistService(service);
    this.audit({
      actor,
      action: 'policy-apply',
      target: service,
      before: policyDocument(before, this.modeOf(service)),
      after: policyDocument(next, p.mode ?? this.modeOf(service)),
    });
    this.configChanged(`${service} policy applied`, [service]);
    if (p.mode !== undefined) this.setMode(service, p.mode, actor);
    return { service, changed };
  }

  private audit(e: Omit<AuditEvent, 'time'>): void {
    const ev: AuditEvent = { time: new Date().toISOString(), ...e };
    try {
      this.store?.appendAudit(ev);
    } catch (err) {
      this.once.warn(
        'store-audit',
        { err: (err as Error).message },
        'cannot persist an audit event (it is still in audit.jsonl)',
      );
    }
    this.auditFile?.writeAudit(ev);
    this.log.info({ audit: ev }, `audit: ${ev.actor} ${ev.action} ${ev.target}`);
  }

  // ---- API ------------------------------------------------------------------------------------------------

  private modeOf(service: ServiceName): Mode {
    return this.modes.get(service) ?? 'learn';
  }

  private serviceNames(): ServiceName[] {
    const names = new Set<ServiceName>(this.inventory.workloads.map((w) => w.service));
    for (const e of this.learner.edges()) {
      if (isServicePeer(e.source)) names.add(e.source.service);
      if (isServicePeer(e.destination)) names.add(e.destination.service);
    }
    return [...names].sort();
  }

  services(now = Date.now()): ServiceView[] {
    return this.serviceNames().map((s) =>
      serviceView(s, this.modeOf(s), this.tracker.report(s, now), this.learner.edgesOf(s), this.inventory),
    );
  }

  /** The policy document of a service: learned edges in learn mode, the policy in force otherwise; with evidence. */
  policy(service: ServiceName): PolicyDocument {
    this.requireService(service);
    const mode = this.modeOf(service);
    const policy =
      mode === 'learn' && !this.states.get(service)?.policy
        ? freezePolicy(service, this.learner.edgesOf(service), 0)
        : this.policyInForce(service);
    const edges = this.learner.edgesOf(service);
    const key = (r: PolicyRule) => `${JSON.stringify(r.peer)}|${r.protocol}|${r.port}`;
    const ev = new Map<string, Edge['evidence']>();
    for (const e of edges.ingress)
      ev.set(`ingress|${key({ peer: e.source, protocol: e.protocol, port: e.port })}`, e.evidence);
    for (const e of edges.egress)
      ev.set(`egress|${key({ peer: e.destination, protocol: e.protocol, port: e.port })}`, e.evidence);
    return policyDocument(policy, mode, (side, r) => ev.get(`${side}|${key(r)}`));
  }

  alerts(sinceMs = 0): Alert[] {
    return this.alertLog.list(sinceMs);
  }

  auditEvents(sinceMs = 0): AuditEvent[] {
    return this.store?.listAudit(sinceMs) ?? [];
  }

  status(): StatusView {
    const conns = this.ads.status();
    const totals = conns.reduce(
      (a, c) => ({ pushes: a.pushes + c.totals.pushes, acks: a.acks + c.totals.acks, nacks: a.nacks + c.totals.nacks }),
      { pushes: 0, acks: 0, nacks: 0 },
    );
    const w = this.als.window;
    const now = Math.floor(Date.now() / 1000);
    const recent = w.filter(([s]) => s >= now - 10 && s < now).reduce((a, [, n]) => a + n, 0);
    return {
      startedAt: this.startedAt,
      stateDir: this.opts.stateDir,
      xdsListen: { tcp: this.opts.xdsAddress, unix: this.opts.xdsSocket },
      accessLogs: {
        entries: this.als.entries,
        perSecond: recent / 10,
        rejected: this.als.rejected,
        rejectedByKind: { ...this.als.rejectedByKind },
        streams: this.als.streams,
      },
      xds: { connected: conns.length, ...totals },
      envoys: conns
        .map((c) => {
          const acked: StatusView['envoys'][number]['acked'] = {};
          const sent: StatusView['envoys'][number]['sent'] = {};
          let lastNack: StatusView['envoys'][number]['lastNack'];
          for (const [t, s] of Object.entries(c.types) as [TypeUrl, NonNullable<(typeof c.types)[TypeUrl]>][]) {
            if (s.ackedVersion) acked[TYPE_SHORT[t]] = s.ackedVersion;
            if (s.sentVersion) sent[TYPE_SHORT[t]] = s.sentVersion;
            if (s.lastNack && (!lastNack || s.lastNack.at > Date.parse(lastNack.at))) {
              lastNack = {
                type: TYPE_SHORT[t].toUpperCase(),
                version: s.lastNack.version,
                message: s.lastNack.message,
                at: new Date(s.lastNack.at).toISOString(),
              };
            }
          }
          const held = this.held.get(c.nodeId);
          return {
            node: c.nodeId,
            service: c.cluster,
            kind: c.kind,
            connectedAt: c.connectedAt,
            acked,
            sent,
            ...(lastNack && { lastNack }),
            ...(held && { held: held.reason }),
          };
        })
        .sort((a, b) => a.node.localeCompare(b.node)),
      store: { edges: this.learner.size, path: this.store?.file ?? '' },
      alerts: { webhook: this.webhook?.stats(), aggregator: this.aggregator.stats() },
      held: [...this.held].map(([node, h]) => ({ node, since: new Date(h.since).toISOString(), reason: h.reason })),
    };
  }

  private routes(api: HttpApi): HttpApi {
    return api
      .route('GET', '/v1/health', () => ({ ok: true }))
      .route('GET', '/v1/info', () => ({
        xdsSocket: this.opts.xdsSocket,
        xdsAddress: this.opts.xdsAddress,
        stateDir: this.opts.stateDir,
        pid: process.pid,
      }))
      .route('GET', '/v1/status', () => this.status())
      .route('GET', '/v1/services', () => this.services())
      .route('GET', '/v1/services/:ns/:name/policy', ({ params }) => this.policy(`${params.ns}/${params.name}`))
      .route('PUT', '/v1/services/:ns/:name/policy', ({ params, body, raw }) => {
        const v = parsePolicyBody(body);
        if (v.service !== `${params.ns}/${params.name}`)
          throw new ApiError(400, `service: the document is for ${v.service}, not ${params.ns}/${params.name}`);
        return this.applyPolicy(v, actorOf(raw));
      })
      .route('PUT', '/v1/services/:ns/:name/mode', ({ params, body, raw }) =>
        this.setMode(`${params.ns}/${params.name}`, modeOfBody(body), actorOf(raw)),
      )
      .route('PUT', '/v1/modes', ({ body, raw }) => this.setAllModes(modeOfBody(body), actorOf(raw)))
      .route('GET', '/v1/alerts', ({ query, res }) => {
        const since = Number(query.get('since') ?? 0);
        if (!Number.isFinite(since)) throw new ApiError(400, 'since: expected ms since epoch');
        if (query.get('follow') !== '1') return this.alerts(since);
        // NDJSON stream: what is there, then every new alert, until the client goes away
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        for (const a of this.alerts(since)) res.write(JSON.stringify(a) + '\n');
        const off = this.alertLog.subscribe((a) => res.write(JSON.stringify(a) + '\n'));
        res.on('close', off);
        return undefined;
      })
      .route('GET', '/v1/audit', ({ query }) => this.auditEvents(Number(query.get('since') ?? 0)))
      .route('POST', '/v1/release', ({ body, raw }) => {
        const b = body as { nodes?: unknown } | undefined;
        const nodes =
          b?.nodes === 'all'
            ? 'all'
            : Array.isArray(b?.nodes) && b.nodes.every((x) => typeof x === 'string')
              ? (b.nodes as string[])
              : undefined;
        if (!nodes) throw new ApiError(400, 'nodes: expected "all" or a list of node ids');
        return { released: this.release(nodes, actorOf(raw)) };
      })
      .route('GET', '/v1/inventory', () => this.inventory)
      .route('PUT', '/v1/inventory/:source', ({ params, body }) => {
        const v = validateInventory(body);
        if (!v.valid)
          throw new ApiError(
            400,
            `inventory ${params.source}: ${v.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
            v.errors,
          );
        this.setInventory(params.source!, v.result);
        return { ok: true, workloads: v.result.workloads.length };
      })
      .route('DELETE', '/v1/inventory/:source', ({ params }) => {
        this.setInventory(params.source!, undefined);
        return { ok: true };
      });
  }
}

function actorOf(req: import('node:http').IncomingMessage): string {
  const a = req.headers['x-nanoseg-actor'];
  return (typeof a === 'string' && a.trim() ? a.trim() : 'unknown').slice(0, 200);
}

function modeOfBody(body: unknown): Mode {
  const m = (body as { mode?: unknown } | undefined)?.mode;
  if (typeof m !== 'string' || !MODES.includes(m as Mode))
    throw new ApiError(400, `mode: expected one of ${MODES.join(', ')}, got ${JSON.stringify(m)}`);
  return m as Mode;
}

/** The API takes the policy file's text (the CLI sends it as is) so the server validates with the same parser. */
function parsePolicyBody(body: unknown): ParsedPolicy {
  const b = body as { text?: unknown; file?: unknown } | undefined;
  if (typeof b?.text !== 'string') throw new ApiError(400, 'expected {"text": "<policy file>", "file": "<name>"}');
  const r = parsePolicyFile(b.text, typeof b.file === 'string' ? b.file : 'policy');
  if (!r.valid) throw new ApiError(400, r.errors.map((e) => e.message).join('\n'), r.errors);
  return r.result;
}

function toXds(g: GeneratedResource) {
  return resource(
    KIND_TYPE[g.kind],
    g.name,
    g.body,
    g.deps.map((d) => ({ typeUrl: KIND_TYPE[d.kind], name: d.name })),
  );
}
