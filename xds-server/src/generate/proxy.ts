// Pure generation of one sidecar's Envoy resources (LDS, RDS, CDS, EDS) from the inventory.
// No I/O: input in, encoded resources out. The serving layer never builds config itself.
//
// Layout of a sidecar (Istio-compatible ports):
//   outbound listener 0.0.0.0:15001  app's outgoing TCP, redirected by the pod's capture rules
//     - per service VIP and port: HTTP chain (HCM → RDS outbound|PORT||SVC) and TCP chain (tcp_proxy), both to
//       the EDS cluster outbound|PORT||SVC, which balances over the service's replicas
//     - HTTP to any other address: HCM → RDS outbound|passthrough → ORIGINAL_DST cluster
//     - everything else: tcp_proxy → ORIGINAL_DST cluster `passthrough`
//   inbound listener 0.0.0.0:15006   connections to the pod, redirected by the capture rules
//     - HTTP: HCM → RDS inbound → ORIGINAL_DST cluster `inbound-passthrough`; other TCP: tcp_proxy to it
// Every chain logs each connection/request to the control plane over gRPC ALS, log name "outbound"/"inbound".
//
// Policy (monitor/enforce) arrives as RBAC filters over ECDS (generate/rbac.ts): every chain starts with an RBAC
// filter whose config is a separate resource, so policy and mode changes never touch listeners (no drains).
// TCP chains start with the network RBAC filter; HTTP chains (both listeners) carry the HTTP RBAC filter first
// in the HCM instead, with the same tree. The network filter would be silent on an HTTP chain: its shadow result
// is connection metadata, which HTTP access-log entries do not carry (monitor would report nothing), and its
// denial closes the connection before the HCM logs a request (enforce would block without an alert).
// Chain layout that depends on policy, and only where unavoidable:
//   - outbound, per allowed non-VIP destination address and port: a chain to `passthrough`; in learn mode these
//     come from the learned egress so long-lived connections already sit on their own chain when enforcement
//     starts;
//   - outbound default chain: `passthrough` in learn/monitor, the `blackhole` cluster in enforce (no connection
//     to an unlisted destination is ever attempted), logged as "outbound-deny";
//   - inbound, per server port (declared by the service, or named by an ingress rule): a chain to the app; its name carries a generation number,
//     bumped when ingress rules on that port are revoked while enforced: Envoy then drains that port's old chain,
//     closing the connections the policy no longer allows within its drain time (other ports are untouched);
//   - inbound default chain (ports without rules): the app in learn/monitor, the blackhole in enforce, so the app
//     never even accepts a connection on a port nobody may use ("inbound-deny").
// Config scoping (decided by the caller, `scope`): a converged service in enforce mode gets only the VIP services of
// its egress policy; monitor keeps the whole mesh so that off-segment traffic still passes and is reported.
import type { Inventory, Mode, ServiceName, ServicePolicy, Workload } from '../model/index.js';
import { DENY_LOG_SUFFIX, LOG_INBOUND, LOG_OUTBOUND, isServicePeer } from '../model/index.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';
import { inboundHttpRbac, inboundNetworkRbac, outboundHttpRbac, outboundNetworkRbac, rbacFilterRef } from './rbac.js';
import type { Any } from '../../../proto/gen/google/protobuf/any.js';
import type { Duration } from '../../../proto/gen/google/protobuf/duration.js';
import { Cluster_DiscoveryType, Cluster_LbPolicy } from '../../../proto/gen/envoy/config/cluster/v3/cluster.js';
import { ApiVersion } from '../../../proto/gen/envoy/config/core/v3/config_source.js';
import { TrafficDirection } from '../../../proto/gen/envoy/config/core/v3/base.js';
import { HttpConnectionManager_CodecType } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import { T, encode, pack, type PartialOf } from './envoy-types.js';
import type { GeneratedResource, ResourceKind } from './resource.js';

export interface ProxyIdentity {
  /** Envoy node id */
  readonly nodeId: string;
  readonly service: ServiceName;
  readonly workload?: string;
}

export interface GenerateSettings {
  /** static bootstrap cluster that reaches the control plane (ADS and ALS) */
  readonly controlPlaneCluster: string;
  /** how often Envoy flushes buffered access-log entries */
  readonly alsFlushMs: number;
  /** periodic access log of long-lived TCP connections / HTTP streams */
  readonly longConnectionLogMs: number;
  readonly connectTimeoutMs: number;
  /** how long listener filters wait for the first bytes (protocol sniffing) before treating a connection as TCP */
  readonly sniffTimeoutMs: number;
}

export const DEFAULT_SETTINGS: GenerateSettings = {
  controlPlaneCluster: 'xds_cluster',
  alsFlushMs: 1000,
  longConnectionLogMs: 10_000,
  connectTimeoutMs: 5000,
  sniffTimeoutMs: 1000,
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
const HTTP_PROTOCOLS = ['http/1.1', 'h2c'];

export function serviceClusterName(service: ServiceName, port: number): string {
  return `outbound|${port}||${service}`;
}

function ms(n: number): Duration {
  return { seconds: Math.floor(n / 1000), nanos: (n % 1000) * 1_000_000 };
}

const ADS_SOURCE = { ads: {}, resourceApiVersion: ApiVersion.V3 };

/** A service reachable through a VIP: ports and replica addresses. */
interface VipService {
  readonly service: ServiceName;
  readonly vip: string;
  readonly ports: readonly number[];
  readonly addresses: readonly string[];
}

/** The VIP services in `scope` (all when undefined), sorted by service; workloads are grouped in one pass. */
function vipServices(inv: Inventory, scope: ReadonlySet<ServiceName> | undefined): VipService[] {
  const vips = inv.vips.filter((v) => !scope || scope.has(v.service));
  if (vips.length === 0) return [];
  const byService = new Map<ServiceName, Workload[]>(vips.map((v) => [v.service, []]));
  for (const w of inv.workloads) byService.get(w.service)?.push(w);
  const out: VipService[] = [];
  for (const v of vips.sort((a, b) => a.service.localeCompare(b.service))) {
    const ws = byService.get(v.service)!;
    const ports = [...new Set(ws.flatMap((w) => w.ports))].sort((a, b) => a - b);
    if (ports.length === 0) continue;
    out.push({
      service: v.service,
      vip: v.address,
      ports,
      addresses: [...new Set(ws.flatMap((w) => w.addresses))].sort(),
    });
  }
  return out;
}

/** What one sidecar's config is generated from. */
export interface ProxyInput {
  readonly identity: ProxyIdentity;
  readonly inventory: Inventory;
  readonly mode: Mode;
  /**
   * The rules: in monitor/enforce the service's policy in force; in learn mode its learned edges (they only shape
   * chains there, nothing is evaluated).
   */
  readonly policy: ServicePolicy;
  /** configure only these services' VIPs (undefined: the whole mesh) */
  readonly scope?: ReadonlySet<ServiceName>;
  /** per server port, the inbound chain generation (see the header); absent = 0 */
  readonly inboundGenerations?: Readonly<Record<number, number>>;
}

export function emptyPolicy(service: ServiceName): ServicePolicy {
  return { service, ingress: [], egress: [], origin: 'learned', updatedAt: 0 };
}

/** Generates every resource one sidecar needs. Deterministic: the same input gives byte-identical output. */
export function generateProxy(input: ProxyInput, s: GenerateSettings = DEFAULT_SETTINGS): GeneratedResource[] {
  const inv = input.inventory;
  const services = vipServices(inv, input.scope);
  const compiled = compilePolicy(input.policy, inv);
  const out: GeneratedResource[] = [];
  const b = builderFor(s);

  out.push(b.originalDstCluster(PASSTHROUGH), b.originalDstCluster(INBOUND_PASSTHROUGH), b.blackholeCluster());
  for (const v of services) {
    for (const port of v.ports) {
      const name = serviceClusterName(v.service, port);
      out.push(b.edsCluster(name), b.endpoints(name, v.addresses, port), b.routeTo(name, name));
    }
  }
  const enforce = input.mode === 'enforce';
  const direct = directDestinations(compiled, new Set(inv.vips.map((v) => v.address)));
  // the passthrough HTTP route is used by direct chains, and by the catch-all HTTP chain outside enforce mode
  if (direct.length > 0 || !enforce) out.push(b.routeTo('outbound|passthrough', PASSTHROUGH));
  // the ports the service declares plus those its ingress rules name: a stable set, so rule changes rarely touch it
  const declared = inv.workloads.filter((w) => w.service === input.identity.service).flatMap((w) => w.ports);
  const ports = [...new Set([...declared, ...compiled.inbound.map((p) => p.port)])].sort((a, b) => a - b);
  if (ports.length > 0 || !enforce) out.push(b.routeTo('inbound', INBOUND_PASSTHROUGH));
  out.push(
    inboundNetworkRbac(compiled, input.mode, RBAC_INBOUND),
    inboundHttpRbac(compiled, input.mode, RBAC_INBOUND_HTTP),
    outboundNetworkRbac(compiled, input.mode, RBAC_OUTBOUND),
    outboundHttpRbac(compiled, input.mode, RBAC_OUTBOUND_HTTP),
  );
  out.push(
    b.outboundListener(services, direct, enforce),
    b.inboundListener(ports, input.inboundGenerations ?? {}, enforce),
  );
  return out;
}

/** Allowed destinations that are not VIPs (workload addresses, externals): one chain per address and port. */
function directDestinations(compiled: CompiledPolicy, vips: ReadonlySet<string>): { cidr: string; port: number }[] {
  const seen = new Map<string, { cidr: string; port: number }>();
  for (const d of compiled.outbound) {
    for (const cidr of d.cidrs) {
      const ip = cidr.split('/')[0]!;
      if (vips.has(ip)) continue;
      seen.set(`${cidr}|${d.port}`, { cidr, port: d.port });
    }
  }
  return [...seen.values()].sort((a, b) => a.port - b.port || (a.cidr < b.cidr ? -1 : a.cidr > b.cidr ? 1 : 0));
}

/** The egress peers' services, for config scoping. */
export function egressServices(policy: ServicePolicy): Set<ServiceName> {
  return new Set(policy.egress.flatMap((r) => (isServicePeer(r.peer) ? [r.peer.service] : [])));
}

const builders = new WeakMap<GenerateSettings, Builder>();
/** Builders are kept per settings object so their memo of packed filter configs is shared between sidecars. */
function builderFor(s: GenerateSettings): Builder {
  let b = builders.get(s);
  if (!b) builders.set(s, (b = new Builder(s)));
  return b;
}

const MEMO_LIMIT = 20_000;

class Builder {
  /** packed filter configs by their inputs: the same chain for 1,000 sidecars is encoded once */
  private readonly memo = new Map<string, Any>();
  private readonly memoRes = new Map<string, GeneratedResource>();
  constructor(private readonly s: GenerateSettings) {}

  private memoized(key: string, make: () => Any): Any {
    let v = this.memo.get(key);
    if (v === undefined) {
      if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
      v = make();
      this.memo.set(key, v);
    }
    return v;
  }

  private grpcLogCommon(logName: string) {
    return {
      logName,
      grpcService: { envoyGrpc: { clusterName: this.s.controlPlaneCluster } },
      transportApiVersion: ApiVersion.V3,
      bufferFlushInterval: ms(this.s.alsFlushMs),
    };
  }

  private tcpLog(logName: string) {
    return {
      name: 'envoy.access_loggers.tcp_grpc',
      typedConfig: pack(T.tcpGrpcLog, { commonConfig: this.grpcLogCommon(logName) }),
    };
  }

  private httpLog(logName: string) {
    return {
      name: 'envoy.access_loggers.http_grpc',
      typedConfig: pack(T.httpGrpcLog, { commonConfig: this.grpcLogCommon(logName) }),
    };
  }

  private upstreamProtocolFromDownstream(): { [key: string]: Any } {
    return {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': pack(T.upstreamHttpOptions, {
        useDownstreamProtocolConfig: { httpProtocolOptions: {}, http2ProtocolOptions: {} },
      }),
    };
  }

  private memoizedRes(key: string, make: () => GeneratedResource): GeneratedResource {
    let v = this.memoRes.get(key);
    if (v === undefined) {
      if (this.memoRes.size >= MEMO_LIMIT) this.memoRes.clear();
      v = make();
      this.memoRes.set(key, v);
    }
    return v;
  }

  originalDstCluster(name: string): GeneratedResource {
    return this.memoizedRes(`odc|${name}`, () =>
      res(
        'cluster',
        T.cluster.url,
        name,
        encode(T.cluster, {
          name,
          type: Cluster_DiscoveryType.ORIGINAL_DST,
          lbPolicy: Cluster_LbPolicy.CLUSTER_PROVIDED,
          connectTimeout: ms(this.s.connectTimeoutMs),
          cleanupInterval: ms(60_000),
          typedExtensionProtocolOptions: this.upstreamProtocolFromDownstream(),
        }),
      ),
    );
  }

  blackholeCluster(): GeneratedResource {
    return this.memoizedRes('blackhole', () =>
      res(
        'cluster',
        T.cluster.url,
        BLACKHOLE,
        encode(T.cluster, {
          name: BLACKHOLE,
          type: Cluster_DiscoveryType.STATIC,
          connectTimeout: ms(this.s.connectTimeoutMs),
          loadAssignment: { clusterName: BLACKHOLE, endpoints: [] },
        }),
      ),
    );
  }

  edsCluster(name: string): GeneratedResource {
    return this.memoizedRes(`eds|${name}`, () =>
      res(
        'cluster',
        T.cluster.url,
        name,
        encode(T.cluster, {
          name,
          type: Cluster_DiscoveryType.EDS,
          edsClusterConfig: { edsConfig: ADS_SOURCE, serviceName: name },
          connectTimeout: ms(this.s.connectTimeoutMs),
          lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
          typedExtensionProtocolOptions: this.upstreamProtocolFromDownstream(),
        }),
        [{ kind: 'endpoints', name }],
      ),
    );
  }

  endpoints(name: string, addresses: readonly string[], port: number): GeneratedResource {
    return this.memoizedRes(`ep|${name}|${port}|${addresses.join(',')}`, () =>
      res(
        'endpoints',
        T.endpoints.url,
        name,
        encode(T.endpoints, {
          clusterName: name,
          endpoints: [
            {
              lbEndpoints: addresses.map((a) => ({
                endpoint: { address: { socketAddress: { address: a, portValue: port } } },
              })),
            },
          ],
        }),
      ),
    );
  }

  routeTo(name: string, cluster: string): GeneratedResource {
    return this.memoizedRes(`rt|${name}|${cluster}`, () =>
      res(
        'route',
        T.route.url,
        name,
        encode(T.route, {
          name,
          virtualHosts: [
            {
              name: 'all',
              domains: ['*'],
              routes: [{ match: { prefix: '/' }, route: { cluster, timeout: ms(0) } }],
            },
          ],
        }),
      ),
    );
  }

  private hcm(statPrefix: string, routeName: string, logName: string, httpRbac?: string) {
    const hcm: PartialOf<typeof T.hcm.codec> = {
      statPrefix,
      codecType: HttpConnectionManager_CodecType.AUTO,
      rds: { configSource: ADS_SOURCE, routeConfigName: routeName },
      httpFilters: [
        ...(httpRbac ? [rbacFilterRef('http', httpRbac)] : []),
        { name: 'envoy.filters.http.router', typedConfig: pack(T.router, {}) },
      ],
      accessLog: [this.httpLog(logName)],
      accessLogOptions: { accessLogFlushInterval: ms(this.s.longConnectionLogMs) },
      // the server side keeps the client's x-request-id so both logs of one request can be recognised as one
      preserveExternalRequestId: true,
      upgradeConfigs: [{ upgradeType: 'websocket' }],
    };
    return {
      name: 'envoy.filters.network.http_connection_manager',
      typedConfig: this.memoized(`hcm|${statPrefix}|${routeName}|${logName}|${httpRbac ?? ''}`, () => pack(T.hcm, hcm)),
    };
  }

  private tcpProxy(statPrefix: string, cluster: string, logName: string) {
    return {
      name: 'envoy.filters.network.tcp_proxy',
      typedConfig: this.memoized(`tcp|${statPrefix}|${cluster}|${logName}`, () =>
        pack(T.tcpProxy, {
          statPrefix,
          cluster,
          accessLog: [this.tcpLog(logName)],
          accessLogOptions: { accessLogFlushInterval: ms(this.s.longConnectionLogMs), flushAccessLogOnConnected: true },
        }),
      ),
    };
  }

  private listenerFilters(tls: boolean) {
    return [
      { name: 'envoy.filters.listener.original_dst', typedConfig: pack(T.originalDst, {}) },
      ...(tls ? [{ name: 'envoy.filters.listener.tls_inspector', typedConfig: pack(T.tlsInspector, {}) }] : []),
      { name: 'envoy.filters.listener.http_inspector', typedConfig: pack(T.httpInspector, {}) },
    ];
  }

  outboundListener(
    services: readonly VipService[],
    direct: readonly { cidr: string; port: number }[],
    enforce: boolean,
  ): GeneratedResource {
    const rbac = rbacFilterRef('network', RBAC_OUTBOUND);
    const chains = [];
    const deps: { kind: ResourceKind; name: string }[] = [
      { kind: 'cluster', name: enforce ? BLACKHOLE : PASSTHROUGH },
      { kind: 'extension', name: RBAC_OUTBOUND },
      { kind: 'extension', name: RBAC_OUTBOUND_HTTP },
    ];
    for (const v of services) {
      for (const port of v.ports) {
        const name = serviceClusterName(v.service, port);
        const match = { prefixRanges: [{ addressPrefix: v.vip, prefixLen: 32 }], destinationPort: port };
        chains.push(
          {
            name: `${name}|http`,
            filterChainMatch: { ...match, applicationProtocols: HTTP_PROTOCOLS },
            filters: [this.hcm(name, name, LOG_OUTBOUND, RBAC_OUTBOUND_HTTP)],
          },
          { name: `${name}|tcp`, filterChainMatch: match, filters: [rbac, this.tcpProxy(name, name, LOG_OUTBOUND)] },
        );
        deps.push({ kind: 'cluster', name }, { kind: 'route', name });
      }
    }
    for (const d of direct) {
      const [addressPrefix, len] = d.cidr.split('/');
      const match = { prefixRanges: [{ addressPrefix, prefixLen: Number(len) }], destinationPort: d.port };
      const name = `direct|${d.port}|${d.cidr}`;
      chains.push(
        {
          name: `${name}|http`,
          filterChainMatch: { ...match, applicationProtocols: HTTP_PROTOCOLS },
          filters: [this.hcm('outbound_direct', 'outbound|passthrough', LOG_OUTBOUND, RBAC_OUTBOUND_HTTP)],
        },
        {
          name: `${name}|tcp`,
          filterChainMatch: match,
          filters: [rbac, this.tcpProxy('outbound_direct', PASSTHROUGH, LOG_OUTBOUND)],
        },
      );
    }
    if (direct.length || !enforce)
      deps.push({ kind: 'cluster', name: PASSTHROUGH }, { kind: 'route', name: 'outbound|passthrough' });
    if (!enforce) {
      chains.push({
        name: 'passthrough|http',
        filterChainMatch: { applicationProtocols: HTTP_PROTOCOLS },
        filters: [this.hcm('outbound_passthrough', 'outbound|passthrough', LOG_OUTBOUND, RBAC_OUTBOUND_HTTP)],
      });
    }
    const defaultChain = enforce
      ? { name: 'deny|tcp', filters: [rbac, this.tcpProxy('outbound_deny', BLACKHOLE, LOG_OUTBOUND + DENY_LOG_SUFFIX)] }
      : { name: 'passthrough|tcp', filters: [rbac, this.tcpProxy('outbound_passthrough', PASSTHROUGH, LOG_OUTBOUND)] };
    return res(
      'listener',
      T.listener.url,
      'outbound',
      encode(T.listener, {
        name: 'outbound',
        address: { socketAddress: { address: '0.0.0.0', portValue: OUTBOUND_PORT } },
        trafficDirection: TrafficDirection.OUTBOUND,
        listenerFilters: this.listenerFilters(true),
        listenerFiltersTimeout: ms(this.s.sniffTimeoutMs),
        continueOnListenerFiltersTimeout: true,
        filterChains: chains,
        defaultFilterChain: defaultChain,
      }),
      dedupeDeps(deps),
    );
  }

  inboundListener(
    ports: readonly number[],
    generations: Readonly<Record<number, number>>,
    enforce: boolean,
  ): GeneratedResource {
    const rbac = rbacFilterRef('network', RBAC_INBOUND);
    const chains = [];
    for (const port of ports) {
      const g = generations[port] ? `|g${generations[port]}` : '';
      chains.push(
        {
          name: `inbound|${port}|http${g}`,
          filterChainMatch: { destinationPort: port, applicationProtocols: HTTP_PROTOCOLS },
          filters: [this.hcm('inbound', 'inbound', LOG_INBOUND, RBAC_INBOUND_HTTP)],
        },
        {
          name: `inbound|${port}|tcp${g}`,
          filterChainMatch: { destinationPort: port },
          filters: [rbac, this.tcpProxy('inbound', INBOUND_PASSTHROUGH, LOG_INBOUND)],
        },
      );
    }
    if (!enforce) {
      chains.push({
        name: 'inbound|http',
        filterChainMatch: { applicationProtocols: HTTP_PROTOCOLS },
        filters: [this.hcm('inbound', 'inbound', LOG_INBOUND, RBAC_INBOUND_HTTP)],
      });
    }
    const defaultChain = enforce
      ? {
          name: 'inbound|deny',
          filters: [rbac, this.tcpProxy('inbound_deny', BLACKHOLE, LOG_INBOUND + DENY_LOG_SUFFIX)],
        }
      : { name: 'inbound|tcp', filters: [rbac, this.tcpProxy('inbound', INBOUND_PASSTHROUGH, LOG_INBOUND)] };
    return res(
      'listener',
      T.listener.url,
      'inbound',
      encode(T.listener, {
        name: 'inbound',
        address: { socketAddress: { address: '0.0.0.0', portValue: INBOUND_PORT } },
        trafficDirection: TrafficDirection.INBOUND,
        listenerFilters: this.listenerFilters(false),
        listenerFiltersTimeout: ms(this.s.sniffTimeoutMs),
        continueOnListenerFiltersTimeout: true,
        filterChains: chains,
        defaultFilterChain: defaultChain,
      }),
      dedupeDeps([
        { kind: 'cluster', name: INBOUND_PASSTHROUGH },
        { kind: 'cluster', name: enforce ? BLACKHOLE : INBOUND_PASSTHROUGH },
        ...(ports.length || !enforce ? [{ kind: 'route' as const, name: 'inbound' }] : []),
        { kind: 'extension', name: RBAC_INBOUND },
        { kind: 'extension', name: RBAC_INBOUND_HTTP },
      ]),
    );
  }
}

function dedupeDeps(deps: { kind: ResourceKind; name: string }[]): { kind: ResourceKind; name: string }[] {
  const seen = new Set<string>();
  return deps.filter((d) => {
    const k = `${d.kind}|${d.name}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const URL_OF: Record<ResourceKind, string> = {
  cluster: T.cluster.url,
  endpoints: T.endpoints.url,
  listener: T.listener.url,
  route: T.route.url,
  extension: T.extension.url,
};

function res(
  kind: ResourceKind,
  typeUrl: string,
  name: string,
  body: Buffer,
  deps: GeneratedResource['deps'] = [],
): GeneratedResource {
  if (URL_OF[kind] !== typeUrl) throw new Error(`internal: ${kind} resource with type ${typeUrl}`);
  return { kind, typeUrl, name, body, deps };
}
