// The Envoy resources of a sidecar, built and memoized per settings object (the same chain for 1,000 sidecars is
// encoded once): clusters and endpoints (encoded in clusters.ts), routes, the HCM and tcp_proxy filters, and the two capture listeners. Pure.
// The layout is described in proxy.ts.
import type { Any } from '../../../proto/gen/google/protobuf/any.js';
import { TrafficDirection } from '../../../proto/gen/envoy/config/core/v3/base.js';
import { HttpConnectionManager_CodecType } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import { DENY_LOG_SUFFIX, LOG_INBOUND, LOG_OUTBOUND } from '../model/index.js';
import { T, encode, pack, type PartialOf } from './envoy-types.js';
import {
  ADS_SOURCE,
  BLACKHOLE,
  HTTP_PROTOCOLS,
  INBOUND_PASSTHROUGH,
  INBOUND_PORT,
  OUTBOUND_PORT,
  PASSTHROUGH,
  RBAC_INBOUND,
  RBAC_INBOUND_HTTP,
  RBAC_OUTBOUND,
  RBAC_OUTBOUND_HTTP,
  ms,
  serviceClusterName,
  type GenerateSettings,
  type VipService,
} from './names.js';
import { blackholeCluster, edsCluster, endpoints, originalDstCluster } from './clusters.js';
import { rbacFilterRef } from './rbac.js';
import { grpcLogCommon, hcmTracing, httpAccessLog } from './telemetry.js';
import { dedupeDeps, res, type GeneratedResource, type ResourceKind } from './resource.js';

const builders = new WeakMap<GenerateSettings, Builder>();
/** Builders are kept per settings object so their memo of packed filter configs is shared between sidecars. */
export function builderFor(s: GenerateSettings): Builder {
  let b = builders.get(s);
  if (!b) builders.set(s, (b = new Builder(s)));
  return b;
}

const MEMO_LIMIT = 20_000;

/**
 * Where a capture listener listens: 0.0.0.0, and for a sidecar whose workloads have IPv6 addresses also [::] as an
 * additional address (its own socket, IPV6_V6ONLY: IPv4 keeps arriving as IPv4). Captured IPv6 arrives there: the
 * nftables REDIRECT sends outbound to [::1] and inbound to the pod's address, the eBPF redirect to the pod's IPv6
 * address. IPv4-only sidecars do not bind [::] at all (a node may have IPv6 off).
 */
function listenAddresses(port: number, ipv6: boolean) {
  return {
    address: { socketAddress: { address: '0.0.0.0', portValue: port } },
    ...(ipv6 ? { additionalAddresses: [{ address: { socketAddress: { address: '::', portValue: port } } }] } : {}),
  };
}

export class Builder {
  /** packed filter configs by their inputs: the same chain for 1,000 sidecars is encoded once */
  private readonly memo = new Map<string, Any>();
  private readonly memoRes = new Map<string, GeneratedResource>();
  /**
   * Endpoints by cluster and port, with the address list they were built for: only the latest is kept. Memoized by
   * content like the rest, a churning service would keep every address set it ever had (each a ClusterLoadAssignment
   * and its encodings) until the memo's limit: hundreds of MB at 10,000 pods.
   */
  private readonly memoEp = new Map<string, { readonly addresses: string; readonly value: GeneratedResource }>();
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

  private tcpLog(logName: string) {
    return {
      name: 'envoy.access_loggers.tcp_grpc',
      typedConfig: pack(T.tcpGrpcLog, { commonConfig: grpcLogCommon(this.s, logName) }),
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
    return this.memoizedRes(`odc|${name}`, () => originalDstCluster(this.s, name));
  }

  blackholeCluster(): GeneratedResource {
    return this.memoizedRes('blackhole', () => blackholeCluster(this.s));
  }

  edsCluster(name: string): GeneratedResource {
    return this.memoizedRes(`eds|${name}`, () => edsCluster(this.s, name));
  }

  endpoints(name: string, addresses: readonly string[], port: number): GeneratedResource {
    const slot = `${name}|${port}`;
    const list = addresses.join(',');
    const hit = this.memoEp.get(slot);
    if (hit?.addresses === list) return hit.value;
    if (hit === undefined && this.memoEp.size >= MEMO_LIMIT) this.memoEp.clear();
    const value = endpoints(name, addresses, port);
    this.memoEp.set(slot, { addresses: list, value });
    return value;
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

  private hcm(statPrefix: string, routeName: string, logName: string, httpRbac?: string, inboundPort?: number) {
    const tracing = hcmTracing(this.s, inboundPort);
    const hcm: PartialOf<typeof T.hcm.codec> = {
      statPrefix,
      codecType: HttpConnectionManager_CodecType.AUTO,
      rds: { configSource: ADS_SOURCE, routeConfigName: routeName },
      httpFilters: [
        ...(httpRbac ? [rbacFilterRef('http', httpRbac)] : []),
        { name: 'envoy.filters.http.router', typedConfig: pack(T.router, {}) },
      ],
      accessLog: [httpAccessLog(this.s, logName)],
      accessLogOptions: { accessLogFlushInterval: ms(this.s.longConnectionLogMs) },
      // the server side keeps the client's x-request-id so both logs of one request can be recognised as one
      preserveExternalRequestId: true,
      upgradeConfigs: [{ upgradeType: 'websocket' }],
      ...(tracing && { tracing }),
    };
    return {
      name: 'envoy.filters.network.http_connection_manager',
      typedConfig: this.memoized(
        `hcm|${statPrefix}|${routeName}|${logName}|${httpRbac ?? ''}|${inboundPort ?? ''}`,
        () => pack(T.hcm, hcm),
      ),
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

  /**
   * The outbound listener, memoized on what it is built from (VIPs and ports, direct destinations, the mode's
   * default chain): an endpoints-only change — a replica joining — regenerates every group's snapshot but encodes
   * each distinct listener once.
   */
  outboundListener(
    services: readonly VipService[],
    direct: readonly { cidr: string; port: number }[],
    enforce: boolean,
    ipv6 = false,
  ): GeneratedResource {
    const key =
      `ol|${enforce}|${ipv6}|${services.map((v) => `${v.service}@${v.vip}:${v.ports.join(',')}`).join(';')}|` +
      direct.map((d) => `${d.cidr}:${d.port}`).join(';');
    return this.memoizedRes(key, () => this.buildOutboundListener(services, direct, enforce, ipv6));
  }

  inboundListener(
    ports: readonly number[],
    generations: Readonly<Record<number, number>>,
    enforce: boolean,
    ipv6 = false,
  ): GeneratedResource {
    const gens = ports.map((p) => generations[p] ?? 0).join(',');
    return this.memoizedRes(`il|${enforce}|${ipv6}|${ports.join(',')}|${gens}`, () =>
      this.buildInboundListener(ports, generations, enforce, ipv6),
    );
  }

  private buildOutboundListener(
    services: readonly VipService[],
    direct: readonly { cidr: string; port: number }[],
    enforce: boolean,
    ipv6: boolean,
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
        const match = {
          prefixRanges: [{ addressPrefix: v.vip, prefixLen: v.vip.includes(':') ? 128 : 32 }],
          destinationPort: port,
        };
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
        ...listenAddresses(OUTBOUND_PORT, ipv6),
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

  private buildInboundListener(
    ports: readonly number[],
    generations: Readonly<Record<number, number>>,
    enforce: boolean,
    ipv6: boolean,
  ): GeneratedResource {
    const rbac = rbacFilterRef('network', RBAC_INBOUND);
    const chains = [];
    for (const port of ports) {
      const g = generations[port] ? `|g${generations[port]}` : '';
      chains.push(
        {
          name: `inbound|${port}|http${g}`,
          filterChainMatch: { destinationPort: port, applicationProtocols: HTTP_PROTOCOLS },
          filters: [this.hcm('inbound', 'inbound', LOG_INBOUND, RBAC_INBOUND_HTTP, port)],
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
        ...listenAddresses(INBOUND_PORT, ipv6),
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
