// The control plane: wires the pure core (learn, convergence, generate) to its adapters (store, ADS, ALS, API,
// metrics). Facts flow in (inventory, access logs), the core decides, results flow out (xDS snapshots, API views).
import { chmodSync, chownSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { AggregatedDiscoveryServiceService } from '../../../proto/gen/envoy/service/discovery/v3/ads.js';
import { AccessLogServiceService } from '../../../proto/gen/envoy/service/accesslog/v3/als.js';
import type { HTTPAccessLogEntry, TCPAccessLogEntry } from '../../../proto/gen/envoy/data/accesslog/v3/accesslog.js';
import type { Edge, Inventory, Mode, ServiceName, Workload } from '../model/index.js';
import { EMPTY_INVENTORY, SERVICE_NAME_RE, isServicePeer } from '../model/index.js';
import { ConvergenceTracker, DEFAULT_CONVERGENCE, InventoryIndex, Learner, toObservation, describeEdge } from '../learn/index.js';
import type { ConvergenceConfig, ConvergenceMemory } from '../learn/index.js';
import { Store } from '../store/index.js';
import { AdsServer, PushDebouncer, SnapshotCache, makeSnapshot, resource, CDS, EDS, LDS, RDS, ECDS } from '../xds/index.js';
import type { NodeInfo, PushRequest, Snapshot, TypeUrl } from '../xds/index.js';
import { generateProxy, type GeneratedResource, type ResourceKind } from '../generate/index.js';
import { AccessLogService, type AlsStreamIdentity } from '../serve/als.js';
import { HttpApi, ApiError, socketAnswers } from '../serve/http-api.js';
import { Metrics } from '../serve/metrics.js';
import { OncePerKind, type Logger } from '../util/logger.js';
import { policyView, serviceView, type PolicyView, type ServiceView, type StatusView } from './views.js';
import { validateInventory } from './inventory.js';

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
};

const ENVOY_GID = 1337;
const KIND_TYPE: Record<ResourceKind, TypeUrl> = { cluster: CDS, endpoints: EDS, listener: LDS, route: RDS, extension: ECDS };
const TYPE_SHORT: Record<TypeUrl, 'cds' | 'eds' | 'lds' | 'rds' | 'ecds'> = { [CDS]: 'cds', [EDS]: 'eds', [LDS]: 'lds', [RDS]: 'rds', [ECDS]: 'ecds' };

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
  /** the bound TCP port of the gRPC server (useful with --xds-address HOST:0) */
  xdsPort?: number;
  private stopped = false;
  private startedAt = Date.now();

  private inventories = new Map<string, Inventory>();
  private inventory: Inventory = EMPTY_INVENTORY;
  private index = InventoryIndex.EMPTY;
  private readonly modes = new Map<ServiceName, Mode>();
  /**
   * Generated snapshots by generation input (the sidecar's service), valid until the next config change: every
   * replica of a service gets the same resources, so a push generates once per service, not once per sidecar.
   */
  private readonly generated = new Map<string, Snapshot>();
  /** connected nodes: id → node info (latest stream) */
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly als = { entries: 0, rejected: 0, rejectedByKind: {} as Record<string, number>, streams: 0, window: [] as [number, number][] };

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
        this.log.warn({ node: n.id, type: TYPE_SHORT[t], version, error: message }, 'Envoy rejected config (NACK); it keeps its last good config');
      },
    });
    this.pushes = new PushDebouncer((req) => this.push(req), { debounceMs: opts.debounceMs, maxDelayMs: opts.maxPushDelayMs, logger: this.log });
    this.api = this.routes(new HttpApi(this.log));
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.startedAt = Date.now();
    const store = Store.open(this.opts.stateDir);
    this.store = store;
    this.restore(store);
    await this.listenGrpc();
    await this.api.listen(this.opts.apiSocket);
    if (this.opts.metricsAddress) await this.metrics.listen(this.opts.metricsAddress, () => this.started && !this.stopped);
    this.timers.push(setInterval(() => this.flush(), this.opts.flushIntervalMs).unref());
    this.timers.push(setInterval(() => this.tick(), this.opts.tickMs).unref());
    this.log.info({
      stateDir: this.opts.stateDir, api: this.opts.apiSocket, xdsAddress: this.opts.xdsAddress, xdsSocket: this.opts.xdsSocket,
      metrics: this.opts.metricsAddress, edges: this.learner.size, workloads: this.inventory.workloads.length,
    }, 'nanoseg control plane serving');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.pushes.stop();
    this.ads.stop();
    await this.api.stop();
    await this.metrics.stop();
    const g = this.grpc;
    if (g) {
      // let in-flight calls finish briefly; access-log streams never end on their own
      await new Promise<void>((r) => {
        const t = setTimeout(() => { g.forceShutdown(); r(); }, 1000);
        g.tryShutdown(() => { clearTimeout(t); r(); });
      });
    }
    if (this.store) {
      this.flush();
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
    for (const row of store.getServiceRows()) {
      this.modes.set(row.name, row.mode);
      const mem = row.state as { convergence?: ConvergenceMemory } | null;
      if (mem?.convergence) this.tracker.restore(row.name, mem.convergence);
    }
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
    if (this.index.conflicts.length) this.log.warn({ addresses: this.index.conflicts }, 'addresses claimed by more than one workload; the first claim wins');
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
    tcp: (s: AlsStreamIdentity, entries: readonly TCPAccessLogEntry[]) => this.ingest(s, 'tcp', entries),
    http: (s: AlsStreamIdentity, entries: readonly HTTPAccessLogEntry[]) => this.ingest(s, 'http', entries),
    rejected: (kind: string, count: number, detail: string) => this.reject(kind, count, detail),
    streamOpened: () => { this.als.streams++; this.metrics.alsStreams.inc(); },
    streamClosed: () => { this.als.streams--; this.metrics.alsStreams.dec(); },
  };

  private ingest(s: AlsStreamIdentity, kind: 'tcp' | 'http', entries: readonly (TCPAccessLogEntry | HTTPAccessLogEntry)[]): void {
    const ctx = { logName: s.logName, node: { id: s.nodeId, cluster: s.cluster }, index: this.index, now: Date.now() };
    let accepted = 0;
    for (const entry of entries) {
      const r = toObservation(entry, kind, ctx);
      if (!r.ok) {
        this.reject(r.kind, 1, r.detail, s.nodeId);
        continue;
      }
      accepted++;
      const result = this.learner.observe(r.obs);
      this.tracker.record(result, r.obs.time);
      if (result.isNew) this.onNewEdge(result.edge);
    }
    this.als.entries += accepted;
    this.metrics.alsEntries.inc({ result: 'accepted' }, accepted);
    this.countRate(entries.length);
    for (const t of this.tracker.drainTransitions()) {
      this.log.info({ service: t.service, from: t.from, to: t.to, reason: t.reason }, `service ${t.service} ${t.to === 'learning' ? 'went back to learning' : 'converged'}`);
      this.persistService(t.service);
    }
  }

  private onNewEdge(edge: Edge): void {
    // A learned edge is written at once: a crash never loses it (counts are batched, see flush()).
    try {
      this.store?.upsertEdges([edge]);
    } catch (e) {
      this.once.warn('store-write', { err: (e as Error).message }, 'cannot persist a new edge; it stays in memory and is retried on the next flush');
    }
    this.metrics.newEdges.inc();
    this.log.info({ edge: describeEdge(edge), protocol: edge.protocol }, 'learned new edge');
    if (isServicePeer(edge.source)) this.metrics.learnedEdges.inc({ service: edge.source.service, direction: 'egress' });
    if (isServicePeer(edge.destination)) this.metrics.learnedEdges.inc({ service: edge.destination.service, direction: 'ingress' });
  }

  private reject(kind: string, count: number, detail: string, node?: string): void {
    this.als.rejected += count;
    this.als.rejectedByKind[kind] = (this.als.rejectedByKind[kind] ?? 0) + count;
    this.metrics.alsEntries.inc({ result: `rejected:${kind}` }, count);
    this.once.warn(`als:${kind}`, { node, detail }, `access-log entry rejected (${kind}); further ones of this kind are counted, logged once a minute`);
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

  private flush(): void {
    const dirty = this.learner.dirty();
    if (dirty.length === 0 || !this.store) return;
    try {
      this.store.upsertEdges(dirty);
    } catch (e) {
      this.once.warn('store-flush', { err: (e as Error).message }, 'cannot persist evidence; will retry');
      this.learner.markDirty(dirty);
    }
  }

  private tick(): void {
    const reports = this.tracker.evaluate(Date.now());
    for (const t of this.tracker.drainTransitions()) {
      this.log.info({ service: t.service, from: t.from, to: t.to, reason: t.reason }, `service ${t.service} ${t.to}`);
      this.persistService(t.service);
    }
    for (const [svc, r] of reports) {
      this.metrics.converged.set({ service: svc }, r.state === 'converged' ? 1 : 0);
      this.metrics.confidence.set({ service: svc }, r.confidence);
    }
  }

  private persistService(service: ServiceName): void {
    try {
      this.store?.putService({ name: service, mode: this.modeOf(service), state: { convergence: this.tracker.memory(service) } });
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
    server.addService(AccessLogServiceService, new AccessLogService(this.alsSink, this.log).handlers());
    const bind = (addr: string) => new Promise<number>((res, rej) =>
      server.bindAsync(addr, ServerCredentials.createInsecure(), (e, port) => (e ? rej(new Error(`cannot listen on ${addr}: ${e.message}`)) : res(port))));
    if (this.opts.xdsSocket) {
      const path = resolve(this.opts.xdsSocket);
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      if (existsSync(path)) {
        if (await socketAnswers(path)) throw new Error(`${path}: another nanoseg control plane is already serving here`);
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
    this.updateNode(n);
  }

  private onNodeDisconnected(n: NodeInfo): void {
    if (this.nodes.get(n.id)?.streamId === n.streamId) this.nodes.delete(n.id);
    this.metrics.connectedEnvoys.set(this.nodes.size);
    this.log.info({ node: n.id, stream: n.streamId }, 'Envoy disconnected');
  }

  /** Something that config is generated from changed: forget generated snapshots and push (debounced). */
  private configChanged(reason: string): void {
    this.generated.clear();
    this.pushes.enqueue({ full: true, reasons: [reason] });
  }

  private push(req: PushRequest): void {
    this.metrics.pushes.inc();
    for (const n of this.nodes.values()) {
      if (req.nodes && !req.nodes.has(n.id)) continue;
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
      snapshot = makeSnapshot(generateProxy({ nodeId: n.id, service, workload: ref?.workload }, this.inventory).map(toXds));
      this.generated.set(service, snapshot);
    }
    const r = this.cache.setSnapshot(n.id, snapshot);
    if (!r.valid) {
      this.metrics.snapshotRejected.inc();
      this.log.error({ node: n.id, errors: r.errors }, 'generated config is inconsistent; keeping the last good config for this node');
    }
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
    return this.serviceNames().map((s) => serviceView(s, this.modeOf(s), this.tracker.report(s, now), this.learner.edgesOf(s), this.inventory));
  }

  policy(service: ServiceName, now = Date.now()): PolicyView {
    if (!SERVICE_NAME_RE.test(service)) throw new ApiError(400, `service "${service}": expected namespace/name in lowercase DNS labels`);
    if (!this.serviceNames().includes(service)) throw new ApiError(404, `unknown service ${service}`);
    return policyView(service, this.modeOf(service), this.tracker.report(service, now), this.learner.edgesOf(service));
  }

  status(): StatusView {
    const conns = this.ads.status();
    const totals = conns.reduce((a, c) => ({ pushes: a.pushes + c.totals.pushes, acks: a.acks + c.totals.acks, nacks: a.nacks + c.totals.nacks }), { pushes: 0, acks: 0, nacks: 0 });
    const w = this.als.window;
    const now = Math.floor(Date.now() / 1000);
    const recent = w.filter(([s]) => s >= now - 10 && s < now).reduce((a, [, n]) => a + n, 0);
    return {
      startedAt: this.startedAt,
      stateDir: this.opts.stateDir,
      xdsListen: { tcp: this.opts.xdsAddress, unix: this.opts.xdsSocket },
      accessLogs: { entries: this.als.entries, perSecond: recent / 10, rejected: this.als.rejected, rejectedByKind: { ...this.als.rejectedByKind }, streams: this.als.streams },
      xds: { connected: conns.length, ...totals },
      envoys: conns.map((c) => {
        const acked: StatusView['envoys'][number]['acked'] = {};
        const sent: StatusView['envoys'][number]['sent'] = {};
        let lastNack: StatusView['envoys'][number]['lastNack'];
        for (const [t, s] of Object.entries(c.types) as [TypeUrl, NonNullable<(typeof c.types)[TypeUrl]>][]) {
          if (s.ackedVersion) acked[TYPE_SHORT[t]] = s.ackedVersion;
          if (s.sentVersion) sent[TYPE_SHORT[t]] = s.sentVersion;
          if (s.lastNack && (!lastNack || s.lastNack.at > Date.parse(lastNack.at))) {
            lastNack = { type: TYPE_SHORT[t].toUpperCase(), version: s.lastNack.version, message: s.lastNack.message, at: new Date(s.lastNack.at).toISOString() };
          }
        }
        return { node: c.nodeId, service: c.cluster, kind: c.kind, connectedAt: c.connectedAt, acked, sent, ...(lastNack && { lastNack }) };
      }).sort((a, b) => a.node.localeCompare(b.node)),
      store: { edges: this.learner.size, path: this.store?.file ?? '' },
    };
  }

  private routes(api: HttpApi): HttpApi {
    return api
      .route('GET', '/v1/health', () => ({ ok: true }))
      .route('GET', '/v1/info', () => ({ xdsSocket: this.opts.xdsSocket, xdsAddress: this.opts.xdsAddress, stateDir: this.opts.stateDir, pid: process.pid }))
      .route('GET', '/v1/status', () => this.status())
      .route('GET', '/v1/services', () => this.services())
      .route('GET', '/v1/services/:ns/:name/policy', ({ params }) => this.policy(`${params.ns}/${params.name}`))
      .route('GET', '/v1/inventory', () => this.inventory)
      .route('PUT', '/v1/inventory/:source', ({ params, body }) => {
        const v = validateInventory(body);
        if (!v.valid) throw new ApiError(400, `inventory ${params.source}: ${v.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, v.errors);
        this.setInventory(params.source!, v.result);
        return { ok: true, workloads: v.result.workloads.length };
      })
      .route('DELETE', '/v1/inventory/:source', ({ params }) => {
        this.setInventory(params.source!, undefined);
        return { ok: true };
      });
  }
}

function toXds(g: GeneratedResource) {
  return resource(KIND_TYPE[g.kind], g.name, g.body, g.deps.map((d) => ({ typeUrl: KIND_TYPE[d.kind], name: d.name })));
}
