// The two sidecars' xDS config of otlp-envoy.test.ts: web-1's outbound HTTP connection manager and api-1's inbound
// one, each with the generated tracer and access-log config, and the app behind api-1 (an Envoy direct response).
import { Cluster_DiscoveryType } from '../../proto/gen/envoy/config/cluster/v3/cluster.js';
import { TrafficDirection } from '../../proto/gen/envoy/config/core/v3/base.js';
import { HttpConnectionManager_CodecType } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import {
  DEFAULT_SETTINGS,
  T,
  encode,
  hcmTracing,
  httpAccessLog,
  pack,
  type GenerateSettings,
} from '../../xds-server/src/generate/index.js';
import type { Inventory } from '../../xds-server/src/model/index.js';
import { CDS, LDS, makeSnapshot, resource } from '../../xds-server/src/xds/index.js';

export const WEB = '127.0.0.12';
export const API = '127.0.0.11';
export const VIP = '127.0.0.31';
/** api's app, on an address no inventory knows (the capture's original destination would be the pod's own) */
export const APP = '127.0.0.21';
export const PORT = 9090;
const CLUSTER = `outbound|${PORT}||shop/api`;

export const inventory: Inventory = {
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: [WEB], ports: [] },
    { name: 'api-1', service: 'shop/api', addresses: [API], ports: [PORT] },
  ],
  externals: [],
  vips: [{ service: 'shop/api', address: VIP }],
};

const settings: GenerateSettings = { ...DEFAULT_SETTINGS, alsFlushMs: 200 };

function hcm(statPrefix: string, logName: string | undefined, route: object | object[], inboundPort?: number) {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typedConfig: pack(T.hcm, {
      statPrefix,
      codecType: HttpConnectionManager_CodecType.AUTO,
      routeConfig: { name: statPrefix, virtualHosts: [{ name: 'all', domains: ['*'], routes: [route].flat() }] },
      httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: pack(T.router, {}) }],
      ...(logName !== undefined && {
        accessLog: [httpAccessLog(settings, logName)],
        tracing: hcmTracing(settings, inboundPort),
        preserveExternalRequestId: true,
      }),
    }),
  };
}

function listener(name: string, ip: string, direction: TrafficDirection, filter: object) {
  return resource(
    LDS,
    name,
    encode(T.listener, {
      name,
      address: { socketAddress: { address: ip, portValue: PORT } },
      trafficDirection: direction,
      filterChains: [{ filters: [filter as never] }],
    }),
  );
}

function staticCluster(name: string, ip: string, bind?: string) {
  return resource(
    CDS,
    name,
    encode(T.cluster, {
      name,
      type: Cluster_DiscoveryType.STATIC,
      connectTimeout: { seconds: 1, nanos: 0 },
      loadAssignment: {
        clusterName: name,
        endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: ip, portValue: PORT } } } }] }],
      },
      ...(bind !== undefined && { upstreamBindConfig: { sourceAddress: { address: bind, portValue: 0 } } }),
    }),
  );
}

/** web-1: the app's call to api's VIP lands on its outbound HCM, which sends it to api-1's sidecar from web's address. */
export const webSnapshot = makeSnapshot([
  listener('outbound', VIP, TrafficDirection.OUTBOUND, hcm('outbound', 'outbound', route(CLUSTER))),
  staticCluster(CLUSTER, API, WEB),
]);
/** api-1: its inbound HCM passes requests on to the app, which answers 200. */
export const apiSnapshot = makeSnapshot([
  // as the generator's inbound chain of a known port: its tracer names the port (the server span's edge)
  listener('inbound', API, TrafficDirection.INBOUND, hcm('inbound', 'inbound', route('inbound-app'), PORT)),
  staticCluster('inbound-app', APP),
  listener('app', APP, TrafficDirection.UNSPECIFIED, hcm('app', undefined, appRoute())),
]);

function route(cluster: string) {
  return { match: { prefix: '/' }, route: { cluster, timeout: { seconds: 5, nanos: 0 } } };
}
/** the app: `/fail...` answers 500 (a failing request of the edge), everything else 200 */
function appRoute() {
  return [
    { match: { prefix: '/fail' }, directResponse: { status: 500, body: { inlineString: 'broken' } } },
    { match: { prefix: '/' }, directResponse: { status: 200, body: { inlineString: 'ok' } } },
  ];
}
