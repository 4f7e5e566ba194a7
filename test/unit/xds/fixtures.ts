// Real encoded Envoy resources for xDS tests.
import { Cluster } from '../../../proto/gen/envoy/config/cluster/v3/cluster.js';
import { ClusterLoadAssignment } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint.js';
import { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener.js';
import { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route.js';
import { CDS, EDS, LDS, RDS, resource } from '../../../xds-server/src/xds/index.js';
import type { XdsResource } from '../../../xds-server/src/xds/index.js';

/** A cluster; with `eds` it references a ClusterLoadAssignment of the same name. `tag` changes its content. */
export function cluster(name: string, opts: { eds?: boolean; tag?: number } = {}): XdsResource {
  const body = Cluster.encode(
    Cluster.fromPartial({ name, connectTimeout: { seconds: 1 + (opts.tag ?? 0), nanos: 0 } }),
  ).finish();
  return resource(CDS, name, body, opts.eds ? [{ typeUrl: EDS, name }] : undefined);
}

export function endpoints(name: string, tag = 0): XdsResource {
  const cla = ClusterLoadAssignment.fromPartial({ clusterName: name, policy: { overprovisioningFactor: 100 + tag } });
  return resource(EDS, name, ClusterLoadAssignment.encode(cla).finish());
}

export function listener(name: string, route?: string): XdsResource {
  const body = Listener.encode(Listener.fromPartial({ name })).finish();
  return resource(LDS, name, body, route ? [{ typeUrl: RDS, name: route }] : undefined);
}

export function routes(name: string): XdsResource {
  return resource(RDS, name, RouteConfiguration.encode(RouteConfiguration.fromPartial({ name })).finish());
}
