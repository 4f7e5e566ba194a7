// What every sidecar reports to the control plane, as config: the gRPC access logs of TCP proxies and HTTP connection
// managers, and the OpenTelemetry tracer of the HTTP connection managers. Pure.
import { ApiVersion } from '../../../proto/gen/envoy/config/core/v3/config_source.js';
import { T, pack, type PartialOf } from './envoy-types.js';
import { SPAN_PORT_TAG } from '../model/index.js';
import { ms, type ControlPlaneTls, type GenerateSettings } from './names.js';

/** The control plane as a gRPC service: the bootstrap's cluster (the lab), or authenticated TLS (Kubernetes). */
export function controlPlaneService(s: GenerateSettings) {
  const t = s.controlPlaneTls;
  if (t === undefined) return { envoyGrpc: { clusterName: s.controlPlaneCluster } };
  return { googleGrpc: googleGrpc(t, 'nanoseg') };
}

/** Google gRPC to the control plane over TLS with the pod's token on every call (sidecar/bootstrap.ts has the twin). */
function googleGrpc(t: ControlPlaneTls, statPrefix: string) {
  return {
    targetUri: t.targetUri,
    statPrefix,
    channelCredentials: { sslCredentials: { rootCerts: { filename: t.caFile } } },
    callCredentials: [
      {
        fromPlugin: {
          name: FILE_BASED_METADATA,
          typedConfig: pack(T.fileBasedMetadata, {
            secretData: { filename: t.tokenFile },
            headerKey: 'authorization',
            headerPrefix: 'Bearer ',
          }),
        },
      },
    ],
    credentialsFactoryName: FILE_BASED_METADATA,
  };
}

const FILE_BASED_METADATA = 'envoy.grpc_credentials.file_based_metadata';

/** The common part of every gRPC access log: to the control plane's cluster, under `logName`. */
export function grpcLogCommon(s: GenerateSettings, logName: string) {
  return {
    logName,
    grpcService: controlPlaneService(s),
    transportApiVersion: ApiVersion.V3,
    bufferFlushInterval: ms(s.alsFlushMs),
  };
}

/** The HTTP access log of every HTTP connection manager: gRPC ALS to the control plane, under `logName`. */
export function httpAccessLog(s: GenerateSettings, logName: string) {
  return {
    name: 'envoy.access_loggers.http_grpc',
    // traceparent: the trace id of a denied or would-deny request, for its alert; grpc-status: whether a gRPC call
    // failed (a trailer, or a header of a trailers-only response), for the edge's error count (learn/outcome.ts)
    typedConfig: pack(T.httpGrpcLog, {
      commonConfig: grpcLogCommon(s, logName),
      additionalRequestHeadersToLog: ['traceparent'],
      additionalResponseHeadersToLog: ['grpc-status'],
      additionalResponseTrailersToLog: ['grpc-status'],
    }),
  };
}

/**
 * The OpenTelemetry tracer of every HTTP connection manager: OTLP/gRPC to the control plane over the same cluster as
 * ADS and the access logs. One config serves every sidecar: Envoy names its node in every span (`node_id`, from its
 * bootstrap) and its own address in every export (`x-forwarded-for`), which is what the receiver attributes by
 * (serve/otlp-source.ts). Envoy sends the tracer's `initial_metadata` verbatim (no formatters, checked with 1.40), so
 * per-node metadata is not possible in a config shared by a service's replicas. Envoy starts a trace or continues
 * the one in `traceparent`, and sends it on upstream. `undefined` when tracing is off. `inboundPort`: the port of
 * an inbound chain, as a span tag.
 */
export function hcmTracing(s: GenerateSettings, inboundPort?: number): PartialOf<typeof T.hcm.codec>['tracing'] {
  const pct = s.traceSamplingPercent;
  if (!(pct > 0)) return undefined;
  return {
    randomSampling: { value: Math.min(100, pct) },
    // Envoy's server span names neither the local address nor the upstream one (checked with 1.40), so an inbound
    // chain of a known port names its port: the edge a server span belongs to (learn/spans.ts)
    ...(inboundPort !== undefined && { customTags: [{ tag: SPAN_PORT_TAG, literal: { value: String(inboundPort) } }] }),
    provider: {
      name: 'envoy.tracers.opentelemetry',
      typedConfig: pack(T.openTelemetryTracer, {
        grpcService: controlPlaneService(s),
        serviceName: 'nanoseg-sidecar',
      }),
    },
  };
}
