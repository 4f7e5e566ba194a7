// The discovery server (pilot's split: it serves, it never builds config): connected nodes, which group (service)
// each is served from, which groups a change affects, and debounced, merged pushes. Config comes from an injected
// generator (generate/config.ts through the composition root), one snapshot per service shared by its replicas.
import type { ServiceName, ValidationError } from '../model/index.js';
import { REAL_SCHEDULER, type Scheduler } from '../util/scheduler.js';
import { AdsServer } from './ads.js';
import type { ConnectionStatus, NodeInfo } from './ads-types.js';
import { SnapshotCache } from './cache.js';
import { PushDebouncer, type PushRequest } from './push.js';
import type { Snapshot } from './snapshot.js';
import { SILENT, type Logger, type TypeUrl } from './types.js';
import { NOOP_TRACER, type Tracer } from '../util/tracing.js';
import { PushTrace } from './push-trace.js';

export interface DiscoveryHooks {
  onConnected?(node: NodeInfo, connected: number): void;
  onDisconnected?(node: NodeInfo, connected: number): void;
  onAck?(node: NodeInfo, typeUrl: TypeUrl, version: string): void;
  onNack?(node: NodeInfo, typeUrl: TypeUrl, version: string, message: string): void;
  onPush?(req: PushRequest, groups: number): void;
  /** a generated snapshot failed the consistency check; the group keeps its last good one */
  onRejected?(group: string, errors: readonly ValidationError[]): void;
}

export interface DiscoveryOptions {
  /** The service whose config a node is served (its group); undefined: none yet, the node is served nothing. */
  readonly serviceOf: (node: NodeInfo) => ServiceName | undefined;
  /** Builds a service's snapshot from the current state (pure generation behind it). */
  readonly generate: (service: ServiceName) => Snapshot;
  /** Called when a node's stream identifies itself, before it is served: fail-static decides holds here. */
  readonly admit?: (node: NodeInfo) => void;
  /** A held node is served nothing until released. */
  readonly isHeld?: (nodeId: string) => boolean;
  readonly debounceMs: number;
  readonly maxPushDelayMs: number;
  readonly scheduler?: Scheduler;
  readonly logger?: Logger;
  readonly hooks?: DiscoveryHooks;
  /** longest a slice of work (generation of one group, or writes) holds the event loop */
  readonly sliceMs?: number;
  /** each push as spans (xds/push-trace.ts); default: not traced */
  readonly tracer?: Tracer;
}

export class DiscoveryServer {
  readonly cache = new SnapshotCache();
  readonly ads: AdsServer;
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly pushes: PushDebouncer;
  private readonly log: Logger;
  private readonly hooks: DiscoveryHooks;
  /** groups whose snapshot is out of date: regenerated on the next push, or when a node of theirs connects */
  private readonly stale = new Set<string>();
  private stopped = false;
  private readonly tracer: Tracer;
  private readonly sched: Scheduler;
  /** traced pushes still waiting for answers */
  private readonly tracing = new Set<PushTrace>();

  constructor(private readonly opts: DiscoveryOptions) {
    this.log = opts.logger ?? SILENT;
    this.hooks = opts.hooks ?? {};
    this.tracer = opts.tracer ?? NOOP_TRACER;
    const sched = opts.scheduler ?? REAL_SCHEDULER;
    this.sched = sched;
    this.ads = new AdsServer(this.cache, {
      logger: this.log,
      now: () => sched.now(),
      ...(opts.sliceMs !== undefined && { sliceMs: opts.sliceMs }),
      group: (n) => (opts.isHeld?.(n.id) ? undefined : this.groupFor(n)),
      onNodeConnected: (n) => this.connected(n),
      onNodeDisconnected: (n) => this.disconnected(n),
      onAck: (n, t, v) => this.hooks.onAck?.(n, t, v),
      onNack: (n, t, v, m) => this.hooks.onNack?.(n, t, v, m),
    });
    this.pushes = new PushDebouncer((req) => this.push(req), {
      debounceMs: opts.debounceMs,
      maxDelayMs: opts.maxPushDelayMs,
      scheduler: sched,
      logger: this.log,
    });
  }

  /** Connected nodes (the latest stream of each node id). */
  connectedNodes(): NodeInfo[] {
    return [...this.nodes.values()];
  }

  node(id: string): NodeInfo | undefined {
    return this.nodes.get(id);
  }

  status(): ConnectionStatus[] {
    return this.ads.status();
  }

  /** Debounce statistics (events received, pushes made). */
  get pushStats(): { readonly events: number; readonly pushes: number } {
    return this.pushes.stats;
  }

  /**
   * Something config is generated from changed: the given services' config (undefined: everyone's, e.g. the
   * inventory). Their snapshots are regenerated on the next (debounced, merged) push to their nodes.
   */
  configChanged(reason: string, services?: readonly ServiceName[]): void {
    if (this.stopped) return;
    // traced: the change's span (an API request, an ingest batch, a transition) is linked from the push
    const cause = this.tracer.active();
    const links = cause && { links: [cause] };
    if (!services) {
      for (const g of this.cache.groupNames()) this.stale.add(g);
      this.pushes.enqueue({ full: true, reasons: [reason], ...links });
      return;
    }
    const affected = new Set<string>();
    for (const s of services) {
      this.stale.add(s);
      for (const n of this.cache.members(s)) affected.add(n);
    }
    if (affected.size) this.pushes.enqueue({ full: false, nodes: affected, reasons: [reason], ...links });
  }

  /** Serves nodes that were held (fail-static released them). */
  released(nodeIds: readonly string[]): void {
    const ids = new Set(nodeIds.filter((id) => this.nodes.has(id)));
    if (ids.size === 0) return;
    for (const id of ids) this.ensureSnapshot(this.groupFor(this.nodes.get(id)!));
    this.ads.regroup(ids);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.pushes.stop();
    this.ads.stop();
    for (const t of [...this.tracing]) t.finish();
  }

  private groupFor(n: NodeInfo): ServiceName | undefined {
    return this.opts.serviceOf(n);
  }

  private connected(n: NodeInfo): void {
    this.nodes.set(n.id, n);
    try {
      this.opts.admit?.(n);
    } catch (err) {
      this.log.error({ node: n.id, err: String(err) }, 'admission of a sidecar failed; it is not served');
    }
    if (!this.opts.isHeld?.(n.id)) this.ensureSnapshot(this.groupFor(n));
    this.hooks.onConnected?.(n, this.nodes.size);
  }

  private disconnected(n: NodeInfo): void {
    if (this.nodes.get(n.id)?.streamId === n.streamId) this.nodes.delete(n.id);
    this.hooks.onDisconnected?.(n, this.nodes.size);
  }

  /** A group about to be served gets a snapshot now when it has none or an out-of-date one. */
  private ensureSnapshot(group: string | undefined): void {
    if (group === undefined) return;
    if (this.cache.getSnapshot(group) && !this.stale.has(group)) return;
    this.refresh(group);
  }

  private refresh(group: string, trace?: PushTrace): void {
    this.stale.delete(group);
    let snap: Snapshot;
    const t0 = trace && performance.now();
    try {
      snap = this.opts.generate(group);
    } catch (err) {
      this.log.error({ group, err: String(err) }, 'config generation failed; keeping the last good config');
      trace?.generated(group, performance.now() - t0!, `generation failed: ${String(err)}`);
      return;
    }
    const r = trace
      ? this.ads.trackPush(trace, () => this.cache.setSnapshot(group, snap))
      : this.cache.setSnapshot(group, snap);
    const problem = r.valid ? undefined : `inconsistent: ${r.errors.map((e) => e.message).join('; ')}`;
    trace?.generated(group, performance.now() - t0!, problem);
    if (!r.valid) {
      this.hooks.onRejected?.(group, r.errors);
      this.log.error({ group, errors: r.errors }, 'generated config is inconsistent; keeping the last good config');
    }
  }

  /**
   * One push: regenerate each stale group that the affected nodes are (or, after an inventory change, will be)
   * served from — one group per slice, yielding between them — then, on a full push, move nodes whose service
   * changed and forget the snapshots of groups nobody is served from any more (regenerated when one connects).
   */
  private async push(req: PushRequest): Promise<void> {
    const targets = new Set<string>();
    const nodes = req.full ? [...this.nodes.values()] : [...(req.nodes ?? [])].map((id) => this.nodes.get(id));
    for (const n of nodes) {
      const g = n && !this.opts.isHeld?.(n.id) ? this.groupFor(n) : undefined;
      if (g !== undefined) targets.add(g);
    }
    const trace = this.tracer.enabled
      ? new PushTrace(this.tracer, req, nodes.length, this.sched, (t) => this.tracing.delete(t))
      : undefined;
    if (trace) this.tracing.add(trace);
    try {
      await this.pushTo(req, targets, trace);
    } finally {
      trace?.generationDone();
    }
  }

  private async pushTo(req: PushRequest, targets: ReadonlySet<string>, trace?: PushTrace): Promise<void> {
    let done = 0;
    for (const g of targets) {
      if (this.stopped) return;
      if (!this.stale.has(g) && this.cache.getSnapshot(g)) continue;
      this.refresh(g, trace);
      done++;
      await new Promise<void>((r) => setImmediate(r));
    }
    if (this.stopped) return;
    if (req.full) {
      if (trace) this.ads.trackPush(trace, () => this.ads.regroup());
      else this.ads.regroup();
      for (const g of [...this.stale]) {
        if (this.cache.members(g).length > 0) continue;
        this.stale.delete(g);
        this.cache.clearGroup(g);
      }
    }
    this.hooks.onPush?.(req, done);
  }
}
