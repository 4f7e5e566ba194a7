// The Envoy bootstrap of a sidecar (a lab pod today, the Kubernetes injector's next). Pure. It names the node and
// the way to the control plane, nothing else: listeners, clusters, access logging and RBAC all arrive over ADS.
import { ENVOY_ADMIN_PORT } from './capture.js';

export const XDS_CLUSTER = 'xds_cluster';

export interface BootstrapInput {
  readonly pod: string;
  /** `namespace/name` */
  readonly service: string;
  readonly address: string;
  /** the lab's name (lab pods only) */
  readonly lab?: string;
  /** unix socket of the control plane's ADS server (the lab) ... */
  readonly xdsSocket?: string;
  /** ... or its TCP address (Kubernetes: the control plane's Service); a name is resolved by DNS */
  readonly xdsAddress?: { readonly host: string; readonly port: number };
  /** Node id, when not `envoyNodeId(pod, service)` (the injector passes one with `$(POD_NAME)` for the kubelet). */
  readonly nodeId?: string;
  /**
   * A plain-HTTP listener on this port answering `GET /healthz/ready` from Envoy's admin `/ready`, which says LIVE
   * only once the first listeners and clusters arrived over ADS: the kubelet's readiness probe (the admin itself
   * stays on loopback).
   */
  readonly readinessPort?: number;
  /**
   * Kubernetes: ADS over TLS to `xdsAddress` with Google gRPC, the server checked against `caFile`, every call
   * carrying the projected service-account token read from `tokenFile` (per call: the kubelet rotates it). Envoy's
   * own gRPC client (envoy_grpc) has no way to attach a token read from a file.
   */
  readonly xdsTls?: { readonly caFile: string; readonly tokenFile: string };
}

/** Where the injector mounts the sidecar's projected token and the control plane's CA. */
export const XDS_AUTH_DIR = '/var/run/secrets/nanoseg';
export const XDS_TOKEN_FILE = `${XDS_AUTH_DIR}/token`;
export const XDS_CA_FILE = `${XDS_AUTH_DIR}/ca.pem`;
const FILE_BASED_METADATA = 'envoy.grpc_credentials.file_based_metadata';

/** The ADS gRPC service of an authenticated sidecar (telemetry.ts googleGrpc is the same for access logs, traces). */
function tlsGrpcService(target: { host: string; port: number }, tls: NonNullable<BootstrapInput['xdsTls']>) {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return {
    google_grpc: {
      target_uri: `${host}:${target.port}`,
      stat_prefix: 'nanoseg_xds',
      channel_credentials: { ssl_credentials: { root_certs: { filename: tls.caFile } } },
      call_credentials: [
        {
          from_plugin: {
            name: FILE_BASED_METADATA,
            typed_config: {
              '@type': 'type.googleapis.com/envoy.config.grpc_credential.v3.FileBasedMetadataConfig',
              secret_data: { filename: tls.tokenFile },
              header_key: 'authorization',
              header_prefix: 'Bearer ',
            },
          },
        },
      ],
      credentials_factory_name: FILE_BASED_METADATA,
    },
  };
}

export const READINESS_PATH = '/healthz/ready';
const ADMIN_CLUSTER = 'nanoseg_admin';

/** Node id of a lab pod's Envoy: `<pod>.<service namespace>`. */
export function envoyNodeId(pod: string, service: string): string {
  return `${pod}.${service.split('/')[0]}`;
}

const IP_RE = /^[0-9.]+$|:/;

function xdsEndpoint(input: BootstrapInput): { type: 'STATIC' | 'STRICT_DNS'; address: Record<string, unknown> } {
  if (input.xdsAddress) {
    const { host, port } = input.xdsAddress;
    return {
      type: IP_RE.test(host) ? 'STATIC' : 'STRICT_DNS',
      address: { socket_address: { address: host, port_value: port } },
    };
  }
  if (input.xdsSocket === undefined) throw new Error('envoyBootstrap: xdsSocket or xdsAddress is required');
  return { type: 'STATIC', address: { pipe: { path: input.xdsSocket } } };
}

function staticCluster(name: string, type: string, address: Record<string, unknown>): Record<string, unknown> {
  return {
    name,
    type,
    connect_timeout: '1s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }] },
  };
}

/** The readiness listener: `GET /healthz/ready` → admin `/ready`; every other path 404. */
function readinessListener(port: number): Record<string, unknown> {
  return {
    name: 'nanoseg_readiness',
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type':
                'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'nanoseg_readiness',
              route_config: {
                virtual_hosts: [
                  {
                    name: 'readiness',
                    domains: ['*'],
                    routes: [
                      {
                        match: { path: READINESS_PATH },
                        route: { cluster: ADMIN_CLUSTER, prefix_rewrite: '/ready' },
                      },
                    ],
                  },
                ],
              },
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}

/** Spans a sidecar's tracer sends per export once that many have ended (else once a second). */
export const TRACE_FLUSH_SPANS = 50;

export function envoyBootstrap(input: BootstrapInput): Record<string, unknown> {
  const readiness = input.readinessPort;
  // With a readiness probe, Envoy must not give up waiting for its first config (by default it turns LIVE after
  // 15 s without it): 0s waits until the first listeners and clusters arrive.
  const configSource = {
    ads: {},
    resource_api_version: 'V3',
    ...(readiness !== undefined ? { initial_fetch_timeout: '0s' } : {}),
  };
  const xds = xdsEndpoint(input);
  return {
    node: {
      id: input.nodeId ?? envoyNodeId(input.pod, input.service),
      cluster: input.service,
      metadata: {
        service: input.service,
        workload: input.pod,
        ips: [input.address],
        ...(input.lab !== undefined ? { lab: input.lab } : {}),
      },
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: ENVOY_ADMIN_PORT } } },
    layered_runtime: {
      layers: [
        // The OpenTelemetry tracer sends its spans when min_flush_spans have ended (5 by default) or every flush
        // interval (5 s by default). Every export is a gRPC call of its own, and at 5 spans the calls, not the spans,
        // cost the control plane most of its CPU (test/bench/l7-cost.ts: 456 µs of control-plane CPU per traced
        // request at 5, 209 µs at 50, untraced 101 µs; the sidecars' CPU the same): a busy sidecar sends 50 at a
        // time, and every second whatever it has, like the access logs, so a quiet sidecar's spans arrive about as
        // soon as its log entries (the receiver joins them by request id either way).
        {
          name: 'nanoseg',
          static_layer: {
            'tracing.opentelemetry.min_flush_spans': TRACE_FLUSH_SPANS,
            'tracing.opentelemetry.flush_interval_ms': 1000,
          },
        },
        { name: 'admin', admin_layer: {} },
      ],
    },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [
          input.xdsTls && input.xdsAddress
            ? tlsGrpcService(input.xdsAddress, input.xdsTls)
            : { envoy_grpc: { cluster_name: XDS_CLUSTER } },
        ],
      },
      lds_config: configSource,
      cds_config: configSource,
    },
    static_resources: {
      ...(readiness !== undefined ? { listeners: [readinessListener(readiness)] } : {}),
      clusters: [
        // authenticated sidecars reach the control plane through Google gRPC (its own channel), not a cluster
        ...(input.xdsTls
          ? []
          : [
              {
                ...staticCluster(XDS_CLUSTER, xds.type, xds.address),
                typed_extension_protocol_options: {
                  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
                    '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
                    explicit_http_config: { http2_protocol_options: {} },
                  },
                },
              },
            ]),
        ...(readiness !== undefined
          ? [
              staticCluster(ADMIN_CLUSTER, 'STATIC', {
                socket_address: { address: '127.0.0.1', port_value: ENVOY_ADMIN_PORT },
              }),
            ]
          : []),
      ],
    },
  };
}
