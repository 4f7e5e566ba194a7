// The ADS gRPC service (state of the world and incremental) over a SnapshotCache. It builds no config: it carries
// out what decide.ts decides, keeps per-stream state, parks watches and reports ACK/NACK.
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Node } from '../../../proto/gen/envoy/config/core/v3/base.js';
import type { AggregatedDiscoveryServiceServer } from '../../../proto/gen/envoy/service/discovery/v3/ads.js';
import type {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
} from '../../../proto/gen/envoy/service/discovery/v3/discovery.js';
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
import type { Decision, DeltaChanges, DeltaState, Nack, SotwState } from './decide.js';
import type { Snapshot } from './snapshot.js';
import { SILENT, isTypeUrl, isWildcardType, typeName } from './types.js';
import type { Logger, TypeUrl } from './types.js';

export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly streamId: number;
  /**
   * The client said in its first request that it already runs config (SotW version_info, or delta
   * initial_resource_versions): a reconnect, possibly to a control plane that lost its state (fail-static input).
   */
  readonly hasConfig: boolean;
}

export interface AdsServerOptions {
  readonly logger?: Logger;
  readonly now?: () => number;
  /** A stream's first request arrived; typically the controller builds and sets this node's snapshot. */
  readonly onNodeConnected?: (node: NodeInfo) => void;
  readonly onNodeDisconnected?: (node: NodeInfo) => void;
  readonly onAck?: (node: NodeInfo, typeUrl: TypeUrl, version: string) => void;
  readonly onNack?: (node: NodeInfo, typeUrl: TypeUrl, version: string, errorMessage: string) => void;
}

export type StreamKind = 'sotw' | 'delta';

export interface TypeStatus {
  readonly sentVersion?: string;
  readonly ackedVersion?: string;
  readonly lastNack?: Nack;
}

export interface StreamTotals {
  pushes: number;
  acks: number;
  nacks: number;
}

export interface ConnectionStatus {
  readonly nodeId: string;
  readonly cluster: string;
  readonly streamId: number;
  readonly kind: StreamKind;
  readonly connectedAt: number;
  readonly types: Partial<Record<TypeUrl, TypeStatus>>;
  readonly totals: Readonly<StreamTotals>;
}

type TypeState = SotwState | DeltaState;

interface Conn<K extends StreamKind, S extends TypeState, Res> {
  readonly id: number;
  readonly kind: K;
  readonly call: ServerDuplexStream<unknown, Res>;
  readonly connectedAt: number;
  node?: NodeInfo;
  nonce: number;
  closed: boolean;
  readonly states: Map<TypeUrl, S>;
  readonly watches: Map<TypeUrl, () => void>;
  readonly warned: Set<string>;
  readonly totals: StreamTotals;
}

type SotwConn = Conn<'sotw', SotwState, DiscoveryResponse>;
type DeltaConn = Conn<'delta', DeltaState, DeltaDiscoveryResponse>;
type AnyConn = SotwConn | DeltaConn;

export class AdsServer {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly conns = new Map<number, AnyConn>();
  private nextStreamId = 1;
  private stopped = false;

  constructor(
    private readonly cache: SnapshotCache,
    private readonly opts: AdsServerOptions = {},
  ) {
    this.log = opts.logger ?? SILENT;
    this.now = opts.now ?? Date.now;
  }

  /** For `server.addService(AggregatedDiscoveryServiceService, ads.handlers())`. */
  handlers(): AggregatedDiscoveryServiceServer {
    return {
      streamAggregatedResources: (call) => {
        const c = this.open<'sotw', SotwState, DiscoveryResponse>('sotw', call);
        call.on('data', (req: DiscoveryRequest) => this.guard(c, () => this.onSotwRequest(c, req)));
      },
      deltaAggregatedResources: (call) => {
        const c = this.open<'delta', DeltaState, DeltaDiscoveryResponse>('delta', call);
        call.on('data', (req: DeltaDiscoveryRequest) => this.guard(c, () => this.onDeltaRequest(c, req)));
      },
    };
  }

  status(): ConnectionStatus[] {
    const out: ConnectionStatus[] = [];
    for (const c of this.conns.values()) {
      if (!c.node) continue;
      const types: Partial<Record<TypeUrl, TypeStatus>> = {};
      for (const [t, s] of c.states as Map<TypeUrl, TypeState>) {
        types[t] = {
          ...(s.sentVersion !== undefined && { sentVersion: s.sentVersion }),
          ...(s.ackedVersion !== undefined && { ackedVersion: s.ackedVersion }),
          ...(s.nack && { lastNack: s.nack }),
        };
      }
      out.push({
        nodeId: c.node.id,
        cluster: c.node.cluster,
        streamId: c.id,
        kind: c.kind,
        connectedAt: c.connectedAt,
        types,
        totals: { ...c.totals },
      });
    }
    return out;
  }

  /** Ends every stream; later streams are refused. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of [...this.conns.values()]) {
      this.close(c);
      c.call.end();
    }
  }

  // ---- stream lifecycle ----------------------------------------------------------------------------------------

  private open<K extends StreamKind, S extends TypeState, Res>(
    kind: K,
    call: ServerDuplexStream<unknown, Res>,
  ): Conn<K, S, Res> {
    const c: Conn<K, S, Res> = {
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
    for (const cancel of c.watches.values()) cancel();
    c.watches.clear();
    this.conns.delete(c.id);
    if (!c.node) return;
    this.log.info({ node: c.node.id, streamId: c.id, kind: c.kind }, 'ADS stream closed');
    const node = c.node;
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

  /** The node is taken from the stream's first request (Envoy may omit it later). */
  private identify(c: AnyConn, node: Node | undefined, hasConfig: boolean): NodeInfo | undefined {
    if (c.node) return c.node;
    if (!node?.id) {
      this.fail(c, GrpcStatus.INVALID_ARGUMENT, 'the first request of a stream must carry node.id');
      return undefined;
    }
    const info: NodeInfo = {
      id: node.id,
      cluster: node.cluster,
      metadata: node.metadata ?? {},
      streamId: c.id,
      hasConfig,
    };
    c.node = info;
    this.log.info({ node: info.id, cluster: info.cluster, streamId: c.id, kind: c.kind }, 'ADS stream connected');
    this.hook('onNodeConnected', () => this.opts.onNodeConnected?.(info));
    return c.closed ? undefined : info;
  }

  private typeOf(c: AnyConn, typeUrl: string): TypeUrl | undefined {
    if (isTypeUrl(typeUrl)) return typeUrl;
    this.warnOnce(c, `type:${typeUrl}`, { typeUrl }, 'request for an unsupported type URL ignored');
    return undefined;
  }

  // ---- state of the world --------------------------------------------------------------------------------------

  private onSotwRequest(c: SotwConn, req: DiscoveryRequest): void {
    const node = this.identify(c, req.node, req.versionInfo !== '');
    const t = node && this.typeOf(c, req.typeUrl);
    if (!node || !t) return;
    const snap = this.cache.getSnapshot(node.id);
    const d = decideSotw(req, t, c.states.get(t), snap?.types[t].version, this.now());
    this.log.debug({ ...this.ctx(c, t), action: d.action, why: d.why }, 'SotW request');
    if (d.action === 'ignore') return;
    c.states.set(t, d.next);
    if (d.action === 'respond' && snap) this.sendSotw(c, t, snap);
    this.park(c, t, snap?.types[t].version ?? '');
    this.report(c, t, d);
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
    const resources = sotwResources(t, s, current).map((r) => ({ typeUrl: t, value: r.body }));
    c.call.write({ versionInfo: current.version, resources, canary: false, typeUrl: t, nonce });
    c.states.set(t, afterSotwSend(s, current.version, nonce));
    c.totals.pushes++;
    this.log.debug({ ...this.ctx(c, t), version: current.version, nonce, count: resources.length }, 'SotW response');
  }

  // ---- incremental ---------------------------------------------------------------------------------------------

  private onDeltaRequest(c: DeltaConn, req: DeltaDiscoveryRequest): void {
    const node = this.identify(c, req.node, Object.keys(req.initialResourceVersions ?? {}).length > 0);
    const t = node && this.typeOf(c, req.typeUrl);
    if (!node || !t) return;
    const current = this.cache.getSnapshot(node.id)?.types[t];
    const d = decideDelta(req, t, c.states.get(t), current, this.now());
    this.log.debug({ ...this.ctx(c, t), action: d.action, why: d.why }, 'delta request');
    if (d.action === 'ignore') return;
    c.states.set(t, d.next);
    if (d.action === 'respond' && current && d.changes) this.sendDelta(c, t, current.version, d.changes);
    this.park(c, t, current?.version ?? '');
    this.report(c, t, d);
  }

  private onDeltaChange(c: DeltaConn, t: TypeUrl, snap: Snapshot): void {
    const s = c.states.get(t);
    if (!s) return;
    const current = snap.types[t];
    const changes = deltaChanges(s, current);
    if (changes.resources.length || changes.removed.length) this.sendDelta(c, t, current.version, changes);
    this.park(c, t, current.version);
  }

  private sendDelta(c: DeltaConn, t: TypeUrl, version: string, changes: DeltaChanges): void {
    const nonce = String(++c.nonce);
    c.call.write({
      systemVersionInfo: version,
      resources: changes.resources.map((r) => ({
        name: r.name,
        version: r.hash,
        aliases: [],
        resource: { typeUrl: t, value: r.body },
      })),
      typeUrl: t,
      removedResources: [...changes.removed],
      removedResourceNames: [],
      nonce,
    });
    c.states.set(t, afterDeltaSend(c.states.get(t)!, changes, version, nonce));
    c.totals.pushes++;
    const { resources, removed } = changes;
    this.log.debug(
      { ...this.ctx(c, t), version, nonce, count: resources.length, removed: removed.length },
      'delta response',
    );
  }

  // ---- shared --------------------------------------------------------------------------------------------------

  /** One parked watch per stream and type, waiting for the type to move past `knownVersion`. */
  private park(c: AnyConn, t: TypeUrl, knownVersion: string): void {
    c.watches.get(t)?.();
    if (c.closed || !c.node) return;
    const cancel = this.cache.watch(c.node.id, t, knownVersion, (snap) => {
      c.watches.delete(t);
      if (c.closed) return;
      this.guard(c, () => (c.kind === 'sotw' ? this.onSotwChange(c, t, snap) : this.onDeltaChange(c, t, snap)));
    });
    c.watches.set(t, cancel);
  }

  private report(c: AnyConn, t: TypeUrl, d: Decision<TypeState>): void {
    const node = c.node!;
    if (d.acked !== undefined) {
      c.totals.acks++;
      const version = d.acked;
      this.hook('onAck', () => this.opts.onAck?.(node, t, version));
    }
    if (d.nacked) {
      c.totals.nacks++;
      const { version, message } = d.nacked;
      this.log.warn({ ...this.ctx(c, t), version, message }, 'Envoy rejected config (NACK)');
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
