// The ADS server's public shapes: who a stream is (NodeInfo), its options and hooks, per-stream status, and the
// service definition that writes pre-encoded responses.
import type { ServiceDefinition } from '@grpc/grpc-js';
import { AggregatedDiscoveryServiceService } from '../../../proto/gen/envoy/service/discovery/v3/ads.js';
import type { Nack } from './decide.js';
import { isWildcardType, type Logger, type TypeUrl } from './types.js';

export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly streamId: number;
  /**
   * The stream came through the authenticated listener and its node id is its pod's own: its service comes from the
   * inventory only, never from the cluster it declares.
   */
  readonly verified?: boolean;
  /**
   * The client said in its first request that it already runs config (SotW version_info, or delta
   * initial_resource_versions): a reconnect, possibly to a control plane that lost its state (fail-static input).
   */
  readonly hasConfig: boolean;
  /** The versions that first request reported (empty for a fresh sidecar). */
  readonly reportedVersions: readonly string[];
}

export interface AdsServerOptions {
  readonly logger?: Logger;
  readonly now?: () => number;
  /**
   * The group (snapshot) a node is served from, asked when its stream identifies itself and on `regroup`;
   * undefined: none, the node gets nothing (held). Default: the node id (one snapshot per node).
   */
  readonly group?: (node: NodeInfo) => string | undefined;
  /** A stream's first request arrived (before the node is grouped: a hold decided here applies at once). */
  readonly onNodeConnected?: (node: NodeInfo) => void;
  readonly onNodeDisconnected?: (node: NodeInfo) => void;
  readonly onAck?: (node: NodeInfo, typeUrl: TypeUrl, version: string) => void;
  readonly onNack?: (node: NodeInfo, typeUrl: TypeUrl, version: string, errorMessage: string) => void;
  /** longest a slice of pushed responses holds the event loop (default 5 ms) */
  readonly sliceMs?: number;
}

export type StreamKind = 'sotw' | 'delta';

export interface TypeStatus {
  readonly sentVersion?: string;
  readonly ackedVersion?: string;
  readonly lastNack?: Nack;
  /** a named type the stream subscribes to no name of (EDS without EDS clusters): no ACK is outstanding */
  readonly unsubscribed?: true;
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

/**
 * The ADS service definition with responses written as encoded bytes (wire.ts) rather than re-encoded per stream by
 * the generated serializer; requests are decoded as usual. Register `AdsServer.handlers()` with this one.
 */
export const ADS_SERVICE: ServiceDefinition = {
  streamAggregatedResources: {
    ...AggregatedDiscoveryServiceService.streamAggregatedResources,
    responseSerialize: (b: Buffer): Buffer => b,
  },
  deltaAggregatedResources: {
    ...AggregatedDiscoveryServiceService.deltaAggregatedResources,
    responseSerialize: (b: Buffer): Buffer => b,
  },
} as unknown as ServiceDefinition;

/** A stream's status: its node, the versions sent, ACKed and NACKed per type, its totals. */
export function connectionStatus(
  node: NodeInfo,
  c: { readonly id: number; readonly kind: StreamKind; readonly connectedAt: number; readonly totals: StreamTotals },
  states: ReadonlyMap<
    TypeUrl,
    { sentVersion?: string; ackedVersion?: string; nack?: Nack; names?: ReadonlySet<string> }
  >,
): ConnectionStatus {
  const types: Partial<Record<TypeUrl, TypeStatus>> = {};
  for (const [t, s] of states) {
    types[t] = {
      ...(s.sentVersion !== undefined && { sentVersion: s.sentVersion }),
      ...(s.ackedVersion !== undefined && { ackedVersion: s.ackedVersion }),
      ...(s.nack && { lastNack: s.nack }),
      ...(c.kind === 'sotw' && !isWildcardType(t) && s.names?.size === 0 && { unsubscribed: true as const }),
    };
  }
  const { id: nodeId, cluster } = node;
  return { nodeId, cluster, streamId: c.id, kind: c.kind, connectedAt: c.connectedAt, types, totals: { ...c.totals } };
}
