// The Envoy bootstrap of a sidecar (a lab pod today, the Kubernetes injector's next). Pure. It names the node and
// the way to the control plane, nothing else: listeners, clusters, access logging and RBAC all arrive over ADS.
import { ENVOY_ADMIN_PORT } from './capture.js';

export const XDS_CLUSTER = 'xds_cluster';

export interface BootstrapInput {
  readonly pod: string;
  /** `namespace/name` */
  readonly service: string;
  readonly address: string;
  readonly lab: string;
  /** unix socket of the control plane's ADS server */
  readonly xdsSocket: string;
}

/** Node id of a lab pod's Envoy: `<pod>.<service namespace>`. */
export function envoyNodeId(pod: string, service: string): string {
  return `${pod}.${service.split('/')[0]}`;
}

export function envoyBootstrap(input: BootstrapInput): Record<string, unknown> {
  const configSource = { ads: {}, resource_api_version: 'V3' };
  return {
    node: {
      id: envoyNodeId(input.pod, input.service),
      cluster: input.service,
      metadata: { service: input.service, workload: input.pod, ips: [input.address], lab: input.lab },
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: ENVOY_ADMIN_PORT } } },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
      },
      lds_config: configSource,
      cds_config: configSource,
    },
    static_resources: {
      clusters: [
        {
          name: XDS_CLUSTER,
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: XDS_CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: input.xdsSocket } } } }] }],
          },
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        },
      ],
    },
  };
}
