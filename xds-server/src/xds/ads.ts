// The ADS gRPC service (state of the world and incremental) over a SnapshotCache. It builds no config: it carries
// out what decide.ts decides, keeps per-stream state, parks watches and reports ACK/NACK. Responses are written as
// pre-encoded bytes (wire.ts: each body encoded once per group, only the nonce per stream), and changes pushed to
// parked watches go out in slices (util/slices.ts), so a push to thousands of streams never holds the event loop.
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Node } from '../../../proto/gen/envoy/config/core/v3/base.js';
import type {
  DeltaDiscoveryRequest,
  DiscoveryRequest,
} from '../../../proto/gen/envoy/service/discovery/v3/discovery.js';
import { SliceQueue } from '../util/slices.js';
import type { SnapshotCache } from './cache.js';
import {
  afterDeltaSend,
  afterSotwSend,
  decideDelta,
  decideSotw,
  deltaChanges,
  sotwHasNewer,
  sotwResources,
} from './decide.js';
import type { Decision, DeltaChanges, DeltaState, SotwState } from './decide.js';
import type { AuthorizeCall } from '../auth/decide.js';
import type { AnyConn, Call, Conn, DeltaConn, SotwConn, TypeState } from './ads-conn.js';
import { connectionStatus } from './ads-types.js';
import type { AdsServerOptions, ConnectionStatus, NodeInfo, StreamKind } from './ads-types.js';
import { trackAnswer, trackClose, trackSend, type PushTracking } from './push-trace.js';
import type { Snapshot, TypeSnapshot } from './snapshot.js';
import { SILENT, isTypeUrl, isWildcardType, typeName } from './types.js';
import type { Logger, TypeUrl } from './types.js';
import { deltaResponse, namesKey, sotwBody, withNonce } from './wire.js';

export class AdsServer {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly conns = new Map<number, AnyConn>();
  /** open identified streams per node id: the cache forgets a node only when its last stream ends */
  private readonly streamsOf = new Map<string, number>();
  private readonly sends: SliceQueue;
  private nextStreamId = 1;
  private stopped = false;
  /** the traced push whose changes are being applied: the responses they cause are its own */
  private tracking: PushTracking | undefined;

  constructor(
    private readonly cache: SnapshotCache,
    private readonly opts: AdsServerOptions = {},
  ) {
    this.log = opts.logger ?? SILENT;
    this.now = opts.now ?? Date.now;
    this.sends = new SliceQueue(opts.sliceMs ?? 5, (err) =>
      this.log.error({ err: String(err) }, 'ADS push to a stream failed'),
    );
  }

  /**
   * For `server.addService(ADS_SERVICE, ads.handlers())`. With `authorize` (the authenticated listener's), a stream
   * whose node id the call may not speak as is ended with PERMISSION_DENIED before it is served anything.
   */
  handlers(authorize?: AuthorizeCall): UntypedServiceImplementation {
    return {
      streamAggregatedResources: (call: Call) => {
        const c = this.open<'sotw', SotwState>('sotw', call, authorize);
        call.on('data', (req: DiscoveryRequest) => this.guard(c, () => this.onSotwRequest(c, req)));
      },
      deltaAggregatedResources: (call: Call) => {
        const c = this.open<'delta', DeltaState>('delta', call, authorize);
        call.on('data', (req: DeltaDiscoveryRequest) => this.guard(c, () => this.onDeltaRequest(c, req)));
      },
    };
  }

  /** Runs fn (a push setting snapshots) with the responses it queues counted as `push`'s. */
  trackPush<T>(push: PushTracking, fn: () => T): T {
    const outer = this.tracking;
    this.tracking = push;
    try {
      return fn();
    } finally {
      this.tracking = outer;
    }
  }

  /** Pushed responses waiting for their slice. */
  get queuedSends(): number {
    return this.sends.length;
  }

  /** Asks `group` again for connected nodes (all, or those given): after an inventory change or a release. */
  regroup(nodeIds?: ReadonlySet<string>): void {
    for (const c of this.conns.values()) {
      if (!c.node || (nodeIds && !nodeIds.has(c.node.id))) continue;
      this.cache.assign(c.node.id, this.groupOf(c.node));
    }
  }

  status(): ConnectionStatus[] {
    return [...this.conns.values()].flatMap((c) => {
      const s = c.node && connectionStatus(c.node, c, c.states as Map<TypeUrl, TypeState>);
      return s ? [s] : [];
    });
  }

  /** Ends every stream; later streams are refused. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.sends.clear();
    for (const c of [...this.conns.values()]) {
      this.close(c);
      c.call.end();
    }
  }

  // ---- stream lifecycle ----------------------------------------------------------------------------------------

  private open<K extends StreamKind, S extends TypeState>(kind: K, call: Call, authorize?: AuthorizeCall): Conn<K, S> {
    const c: Conn<K, S> = {
      authorize,
      id: this.nextStreamId++,
      kind,
      call,
      connectedAt: this.now(),
      nonce: 0,
      closed: false,
      states: new Map(),
      watches: new Map(),
      warned: new Set(),
      totals: { pushes: 0, acks: 0, nacks: 0 },
      lastBytes: 0,
    };
    const conn = c as unknown as AnyConn;
    call.on('error', (err: Error) => {
      this.log.debug({ streamId: c.id, node: c.node?.id, err: err.message }, 'ADS stream error');
      this.close(conn);
    });
    call.on('cancelled', () => this.close(conn));
    call.on('close', () => this.close(conn));
    call.on('end', () => {
      this.close(conn);
      call.end();
    });
    if (this.stopped) {
      c.closed = true;
      call.emit('error', { code: GrpcStatus.UNAVAILABLE, details: 'ADS server is stopping' });
      return c;
    }
    this.conns.set(c.id, conn);
    return c;
  }

  private close(c: AnyConn): void {
    if (c.closed) return;
    c.closed = true;
    for (const w of c.watches.values()) w.cancel();
    c.watches.clear();
    trackClose(c);
    this.conns.delete(c.id);
    if (!c.node) return;
    const node = c.node;
    const left = (this.streamsOf.get(node.id) ?? 1) - 1;
    if (left > 0) this.streamsOf.set(node.id, left);
    else {
      this.streamsOf.delete(node.id);
      this.cache.forget(node.id);
    }
    this.log.info({ node: node.id, streamId: c.id, kind: c.kind }, 'ADS stream closed');
    this.hook('onNodeDisconnected', () => this.opts.onNodeDisconnected?.(node));
  }

  /** Ends the stream with a status; the client sees why, the server carries on. */
  private fail(c: AnyConn, code: GrpcStatus, details: string): void {
    this.log.warn({ streamId: c.id, node: c.node?.id, details }, 'ending ADS stream');
    this.close(c);
    c.call.emit('error', { code, details });
  }

  private guard(c: AnyConn, handle: () => void): void {
    if (c.closed) return;
    try {
      handle();
    } catch (err) {
      this.log.error({ streamId: c.id, node: c.node?.id, err: String(err) }, 'ADS request handling failed');
      this.fail(c, GrpcStatus.INTERNAL, 'internal error handling the request');
    }
  }

  private groupOf(node: NodeInfo): string | undefined {
    return this.opts.group ? this.opts.group(node) : node.id;
  }

  /** The node is taken from the stream's first request (Envoy may omit it later). */
  private identify(c: AnyConn, node: Node | undefined, reported: readonly string[]): NodeInfo | undefined {
    if (c.node) return c.node;
    if (!node?.id) {
      this.fail(c, GrpcStatus.INVALID_ARGUMENT, 'the first request of a stream must carry node.id');
      return undefined;
    }
    let verified = false;
    if (c.authorize) {
      const d = c.authorize(c.call, node.id);
      if (!d.ok) {
        this.fail(c, GrpcStatus.PERMISSION_DENIED, d.detail);
        return undefined;
      }
      verified = true;
    }
    const versions = reported.filter((v) => v !== '');
    const info: NodeInfo = {
      verified,
      id: node.id,
      cluster: node.cluster,
      metadata: node.metadata ?? {},
      streamId: c.id,
      hasConfig: versions.length > 0,
      reportedVersions: versions,
    };
    c.node = info;
    this.streamsOf.set(info.id, (this.streamsOf.get(info.id) ?? 0) + 1);
    this.log.info({ node: info.id, cluster: info.cluster, streamId: c.id, kind: c.kind }, 'ADS stream connected');
    this.hook('onNodeConnected', () => this.opts.onNodeConnected?.(info));
    if (c.closed) return undefined;
    this.cache.assign(info.id, this.groupOf(info));
    return info;
  }

  private typeOf(c: AnyConn, typeUrl: string): TypeUrl | undefined {
    if (isTypeUrl(typeUrl)) return typeUrl;
    this.warnOnce(c, `type:${typeUrl}`, { typeUrl }, 'request for an unsupported type URL ignored');
    return undefined;
  }

  // ---- state of the world --------------------------------------------------------------------------------------

  private onSotwRequest(c: SotwConn, req: DiscoveryRequest): void {
    const node = this.identify(c, req.node, [req.versionInfo]);
    const t = node && this.typeOf(c, req.typeUrl);
    if (!node || !t) return;
    const snap = this.cache.snapshotOf(node.id);
    const d = decideSotw(req, t, c.states.get(t), snap?.types[t].version, this.now());
    this.log.debug({ ...this.ctx(c, t), action: d.action, why: d.why }, 'SotW request');
    if (d.action === 'ignore') return;
    c.states.set(t, d.next);
    if (d.action === 'respond' && snap) this.sendSotw(c, t, snap);
    this.park(c, t, snap?.types[t].version ?? '');
    this.report(c, t, d, req.responseNonce);
  }

  private onSotwChange(c: SotwConn, t: TypeUrl, snap: Snapshot): void {
    const s = c.states.get(t);
    if (!s) return;
    if (sotwHasNewer(s, snap.types[t].version) && (isWildcardType(t) || s.names.size > 0)) this.sendSotw(c, t, snap);
    this.park(c, t, snap.types[t].version);
  }

  private sendSotw(c: SotwConn, t: TypeUrl, snap: Snapshot): void {
    const s = c.states.get(t)!;
    const current = snap.types[t];
    const nonce = String(++c.nonce);
    const body = sotwBody(current, t, namesKey(t, s.names), () => sotwResources(t, s, current));
    const out = withNonce(body, nonce);
    c.call.write(out);
    c.lastBytes = out.length;
    c.states.set(t, afterSotwSend(s, current.version, nonce));
    c.totals.pushes++;
    this.log.debug({ ...this.ctx(c, t), version: current.version, nonce, bytes: body.length }, 'SotW response');
  }

  // ---- incremental ---------------------------------------------------------------------------------------------

  private onDeltaRequest(c: DeltaConn, req: DeltaDiscoveryRequest): void {
    const node = this.identify(c, req.node, Object.values(req.initialResourceVersions ?? {}));
    const t = node && this.typeOf(c, req.typeUrl);
    if (!node || !t) return;
    const current = this.cache.snapshotOf(node.id)?.types[t];
    const d = decideDelta(req, t, c.states.get(t), current, this.now());
    this.log.debug({ ...this.ctx(c, t), action: d.action, why: d.why }, 'delta request');
    if (d.action === 'ignore') return;
    c.states.set(t, d.next);
    if (d.action === 'respond' && current && d.changes) this.sendDelta(c, t, current, d.changes);
    this.park(c, t, current?.version ?? '');
    this.report(c, t, d, req.responseNonce);
  }

  private onDeltaChange(c: DeltaConn, t: TypeUrl, snap: Snapshot): void {
    const s = c.states.get(t);
    if (!s) return;
    const current = snap.types[t];
    const changes = deltaChanges(s, current);
    if (changes.resources.length || changes.removed.length) this.sendDelta(c, t, current, changes);
    this.park(c, t, current.version);
  }

  private sendDelta(c: DeltaConn, t: TypeUrl, current: TypeSnapshot, changes: DeltaChanges): void {
    const nonce = String(++c.nonce);
    const { version } = current;
    const out = deltaResponse(version, t, changes.resources, changes.removed, nonce);
    c.call.write(out);
    c.lastBytes = out.length;
    c.states.set(t, afterDeltaSend(c.states.get(t)!, current, nonce));
    c.totals.pushes++;
    const { resources, removed } = changes;
    this.log.debug(
      { ...this.ctx(c, t), version, nonce, count: resources.length, removed: removed.length },
      'delta response',
    );
  }

  // ---- shared --------------------------------------------------------------------------------------------------

  /**
   * One parked watch per stream and type, waiting for the type to move past `knownVersion`. When it fires, the
   * response is queued for a slice, and built from the node's snapshot at that moment (a newer one may have come).
   */
  private park(c: AnyConn, t: TypeUrl, knownVersion: string): void {
    const parked = c.watches.get(t);
    if (parked?.version === knownVersion && !c.closed) return; // still waiting for just that (an ACK after a push)
    parked?.cancel();
    if (c.closed || !c.node) return;
    const id = c.node.id;
    const cancel = this.cache.watch(id, t, knownVersion, () => {
      c.watches.delete(t);
      if (c.closed) return;
      const push = this.tracking;
      push?.queued();
      this.sends.push(() => {
        const nonce = c.nonce;
        try {
          const snap = this.cache.snapshotOf(id);
          if (c.closed) return;
          if (!snap) return this.park(c, t, knownVersion);
          this.guard(c, () => (c.kind === 'sotw' ? this.onSotwChange(c, t, snap) : this.onDeltaChange(c, t, snap)));
        } finally {
          if (push) trackSend(c, t, push, nonce);
        }
      });
    });
    c.watches.set(t, { version: knownVersion, cancel });
  }

  private report(c: AnyConn, t: TypeUrl, d: Decision<TypeState>, nonce: string): void {
    const node = c.node!;
    trackAnswer(c, node, t, nonce, d);
    if (d.acked !== undefined) {
      c.totals.acks++;
      const version = d.acked;
      this.hook('onAck', () => this.opts.onAck?.(node, t, version));
    }
    if (d.nacked) {
      c.totals.nacks++;
      const { version, message } = d.nacked;
      this.log.warn(
        { ...this.ctx(c, t), version, error: message },
        'Envoy rejected config (NACK); it keeps its last good config',
      );
      this.hook('onNack', () => this.opts.onNack?.(node, t, version, message));
    }
  }

  private ctx(c: AnyConn, t: TypeUrl): object {
    return { node: c.node?.id, streamId: c.id, type: typeName(t) };
  }

  private hook(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ hook: name, err: String(err) }, 'ADS hook threw');
    }
  }

  private warnOnce(c: AnyConn, key: string, obj: object, msg: string): void {
    if (c.warned.has(key)) return;
    c.warned.add(key);
    this.log.warn({ streamId: c.id, node: c.node?.id, ...obj }, msg);
  }
}
