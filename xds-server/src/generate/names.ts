// Names, ports and settings shared by the sidecar generator's parts (proxy.ts assembles, listeners.ts builds). Pure.
import type { Duration } from '../../../proto/gen/google/protobuf/duration.js';
import { ApiVersion } from '../../../proto/gen/envoy/config/core/v3/config_source.js';
import type { ServiceName } from '../model/index.js';

/**
 * The authenticated way to the control plane (Kubernetes): gRPC over TLS to `targetUri`, the server checked against
 * the CA in `caFile`, every call carrying the pod's projected token from `tokenFile` (re-read per call, so the
 * kubelet's rotation is picked up). Envoy's own gRPC client cannot attach a file's token, so it is Google gRPC's.
 */
export interface ControlPlaneTls {
  readonly targetUri: string;
  readonly caFile: string;
  readonly tokenFile: string;
}

export interface GenerateSettings {
  /** static bootstrap cluster that reaches the control plane (ADS and ALS) */
  readonly controlPlaneCluster: string;
  /** set in Kubernetes: access logs and traces go this way instead of through `controlPlaneCluster` */
  readonly controlPlaneTls?: ControlPlaneTls;
  /** how often Envoy flushes buffered access-log entries */
  readonly alsFlushMs: number;
  /** periodic access log of long-lived TCP connections / HTTP streams */
  readonly longConnectionLogMs: number;
  readonly connectTimeoutMs: number;
  /** how long listener filters wait for the first bytes (protocol sniffing) before treating a connection as TCP */
  readonly sniffTimeoutMs: number;
  /** requests traced by every HTTP connection manager, in percent (`serve --trace-sampling`); 0 turns tracing off */
  readonly traceSamplingPercent: number;
}

export const DEFAULT_SETTINGS: GenerateSettings = {
  controlPlaneCluster: 'xds_cluster',
  alsFlushMs: 1000,
  longConnectionLogMs: 10_000,
  connectTimeoutMs: 5000,
  sniffTimeoutMs: 1000,
  traceSamplingPercent: 100,
};

export const OUTBOUND_PORT = 15001;
export const INBOUND_PORT = 15006;
export const PASSTHROUGH = 'passthrough';
export const INBOUND_PASSTHROUGH = 'inbound-passthrough';
/** a cluster without endpoints: tcp_proxy to it fails at once, no connection is attempted */
export const BLACKHOLE = 'blackhole';
/** ECDS resource names of the RBAC filters (one set per sidecar snapshot) */
export const RBAC_INBOUND = 'nanoseg.rbac.inbound';
export const RBAC_INBOUND_HTTP = 'nanoseg.rbac.inbound-http';
export const RBAC_OUTBOUND = 'nanoseg.rbac.outbound';
export const RBAC_OUTBOUND_HTTP = 'nanoseg.rbac.outbound-http';
export const HTTP_PROTOCOLS = ['http/1.1', 'h2c'];

export function serviceClusterName(service: ServiceName, port: number): string {
  return `outbound|${port}||${service}`;
}

export function ms(n: number): Duration {
  return { seconds: Math.floor(n / 1000), nanos: (n % 1000) * 1_000_000 };
}

export const ADS_SOURCE = { ads: {}, resourceApiVersion: ApiVersion.V3 };

/** A service reachable through a VIP: ports and replica addresses. */
export interface VipService {
  readonly service: ServiceName;
  readonly vip: string;
  readonly ports: readonly number[];
  readonly addresses: readonly string[];
}
