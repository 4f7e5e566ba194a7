// The clusters and endpoints of a sidecar, encoded (listeners.ts memoizes them per settings). Pure.
import type { Any } from '../../../proto/gen/google/protobuf/any.js';
import { Cluster_DiscoveryType, Cluster_LbPolicy } from '../../../proto/gen/envoy/config/cluster/v3/cluster.js';
import { T, encode, pack } from './envoy-types.js';
import { ADS_SOURCE, BLACKHOLE, ms, type GenerateSettings } from './names.js';
import { res, type GeneratedResource } from './resource.js';

/** Upstream HTTP/1 or HTTP/2 as the downstream spoke it. */
function upstreamProtocolFromDownstream(): { [key: string]: Any } {
  return {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': pack(T.upstreamHttpOptions, {
      useDownstreamProtocolConfig: { httpProtocolOptions: {}, http2ProtocolOptions: {} },
    }),
  };
}

/** Where a captured connection was going (the passthrough clusters). */
export function originalDstCluster(s: GenerateSettings, name: string): GeneratedResource {
  return res(
    'cluster',
    T.cluster.url,
    name,
    encode(T.cluster, {
      name,
      type: Cluster_DiscoveryType.ORIGINAL_DST,
      lbPolicy: Cluster_LbPolicy.CLUSTER_PROVIDED,
      connectTimeout: ms(s.connectTimeoutMs),
      cleanupInterval: ms(60_000),
      typedExtensionProtocolOptions: upstreamProtocolFromDownstream(),
    }),
  );
}

/** No endpoints: what a denied connection is sent to. */
export function blackholeCluster(s: GenerateSettings): GeneratedResource {
  return res(
    'cluster',
    T.cluster.url,
    BLACKHOLE,
    encode(T.cluster, {
      name: BLACKHOLE,
      type: Cluster_DiscoveryType.STATIC,
      connectTimeout: ms(s.connectTimeoutMs),
      loadAssignment: { clusterName: BLACKHOLE, endpoints: [] },
    }),
  );
}

/** A service's cluster, its endpoints over EDS. */
export function edsCluster(s: GenerateSettings, name: string): GeneratedResource {
  return res(
    'cluster',
    T.cluster.url,
    name,
    encode(T.cluster, {
      name,
      type: Cluster_DiscoveryType.EDS,
      edsClusterConfig: { edsConfig: ADS_SOURCE, serviceName: name },
      connectTimeout: ms(s.connectTimeoutMs),
      lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
      typedExtensionProtocolOptions: upstreamProtocolFromDownstream(),
    }),
    [{ kind: 'endpoints', name }],
  );
}

export function endpoints(name: string, addresses: readonly string[], port: number): GeneratedResource {
  return res(
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
  );
}
