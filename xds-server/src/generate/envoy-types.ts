// The Envoy message types nanoseg emits, with their type URLs, and helpers to pack them into Any and to render
// packed config back into readable JSON (golden files, debugging). The five xDS resource types take their URLs from
// the type registry (xds/types.ts); this file is the one place that knows the URLs of filter and extension configs.
import type { Any } from '../../../proto/gen/google/protobuf/any.js';
import { CDS, ECDS, EDS, LDS, RDS } from '../xds/types.js';
import { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener.js';
import { Cluster } from '../../../proto/gen/envoy/config/cluster/v3/cluster.js';
import { ClusterLoadAssignment } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint.js';
import { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route.js';
import { TypedExtensionConfig } from '../../../proto/gen/envoy/config/core/v3/extension.js';
import { TcpProxy } from '../../../proto/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.js';
import { HttpConnectionManager } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import { Router } from '../../../proto/gen/envoy/extensions/filters/http/router/v3/router.js';
import { RBAC as NetworkRbac } from '../../../proto/gen/envoy/extensions/filters/network/rbac/v3/rbac.js';
import { RBAC as HttpRbac } from '../../../proto/gen/envoy/extensions/filters/http/rbac/v3/rbac.js';
import { OriginalDst } from '../../../proto/gen/envoy/extensions/filters/listener/original_dst/v3/original_dst.js';
import { HttpInspector } from '../../../proto/gen/envoy/extensions/filters/listener/http_inspector/v3/http_inspector.js';
import { TlsInspector } from '../../../proto/gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.js';
import {
  HttpGrpcAccessLogConfig,
  TcpGrpcAccessLogConfig,
} from '../../../proto/gen/envoy/extensions/access_loggers/grpc/v3/als.js';
import { HttpProtocolOptions } from '../../../proto/gen/envoy/extensions/upstreams/http/v3/http_protocol_options.js';
import { Action as RbacAction } from '../../../proto/gen/envoy/config/rbac/v3/rbac.js';
import { IPMatcher } from '../../../proto/gen/xds/type/matcher/v3/ip.js';
import {
  DestinationIPInput,
  DestinationPortInput,
  ServerNameInput,
  SourceIPInput,
} from '../../../proto/gen/envoy/extensions/matching/common_inputs/network/v3/network_inputs.js';
import { HttpRequestHeaderMatchInput } from '../../../proto/gen/envoy/type/matcher/v3/http_inputs.js';
import { OpenTelemetryConfig } from '../../../proto/gen/envoy/config/trace/v3/opentelemetry.js';
import { FileBasedMetadataConfig } from '../../../proto/gen/envoy/config/grpc_credential/v3/file_based_metadata.js';

interface Writer {
  finish(): Uint8Array;
}
/** The shape every ts-proto message object has. */
export interface Codec<M> {
  encode(m: M): Writer;
  decode(b: Uint8Array): M;
  fromPartial(o: never): M;
}
export interface Typed<M> {
  readonly url: string;
  readonly codec: Codec<M>;
}
type Builtin = Date | ((...args: never[]) => unknown) | Uint8Array | string | number | boolean | undefined;
/** A message with every field optional, recursively (what ts-proto's `fromPartial` fills with defaults). */
export type DeepPartial<M> = M extends Builtin
  ? M
  : M extends readonly (infer E)[]
    ? DeepPartial<E>[]
    : M extends object
      ? { [K in keyof M]?: DeepPartial<M[K]> }
      : Partial<M>;
export type PartialOf<C> = C extends { decode(b: Uint8Array): infer M } ? DeepPartial<M> : never;

const PREFIX = 'type.googleapis.com/';
/** A resource type of the registry, with its codec. */
function resourceTyped<C extends Codec<unknown>>(url: string, codec: C): Typed<ReturnType<C['decode']>> & { codec: C } {
  return { url, codec } as Typed<ReturnType<C['decode']>> & { codec: C };
}
function typed<C extends Codec<unknown>>(fullName: string, codec: C): Typed<ReturnType<C['decode']>> & { codec: C } {
  return { url: PREFIX + fullName, codec } as Typed<ReturnType<C['decode']>> & { codec: C };
}

export const T = {
  listener: resourceTyped(LDS, Listener),
  cluster: resourceTyped(CDS, Cluster),
  endpoints: resourceTyped(EDS, ClusterLoadAssignment),
  route: resourceTyped(RDS, RouteConfiguration),
  extension: resourceTyped(ECDS, TypedExtensionConfig),
  tcpProxy: typed('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', TcpProxy),
  hcm: typed(
    'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    HttpConnectionManager,
  ),
  router: typed('envoy.extensions.filters.http.router.v3.Router', Router),
  networkRbac: typed('envoy.extensions.filters.network.rbac.v3.RBAC', NetworkRbac),
  httpRbac: typed('envoy.extensions.filters.http.rbac.v3.RBAC', HttpRbac),
  originalDst: typed('envoy.extensions.filters.listener.original_dst.v3.OriginalDst', OriginalDst),
  httpInspector: typed('envoy.extensions.filters.listener.http_inspector.v3.HttpInspector', HttpInspector),
  tlsInspector: typed('envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector', TlsInspector),
  tcpGrpcLog: typed('envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig', TcpGrpcAccessLogConfig),
  httpGrpcLog: typed('envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig', HttpGrpcAccessLogConfig),
  openTelemetryTracer: typed('envoy.config.trace.v3.OpenTelemetryConfig', OpenTelemetryConfig),
  fileBasedMetadata: typed('envoy.config.grpc_credential.v3.FileBasedMetadataConfig', FileBasedMetadataConfig),
  upstreamHttpOptions: typed('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', HttpProtocolOptions),
  // the unified matcher RBAC rules are built from (generate/rbac.ts)
  rbacAction: typed('envoy.config.rbac.v3.Action', RbacAction),
  ipMatcher: typed('xds.type.matcher.v3.IPMatcher', IPMatcher),
  sourceIpInput: typed('envoy.extensions.matching.common_inputs.network.v3.SourceIPInput', SourceIPInput),
  destinationIpInput: typed(
    'envoy.extensions.matching.common_inputs.network.v3.DestinationIPInput',
    DestinationIPInput,
  ),
  destinationPortInput: typed(
    'envoy.extensions.matching.common_inputs.network.v3.DestinationPortInput',
    DestinationPortInput,
  ),
  serverNameInput: typed('envoy.extensions.matching.common_inputs.network.v3.ServerNameInput', ServerNameInput),
  // L7 rules (generate/rbac-l7.ts): `:method` and `:path` of a request
  requestHeaderInput: typed('envoy.type.matcher.v3.HttpRequestHeaderMatchInput', HttpRequestHeaderMatchInput),
} as const;

/** Encodes a message given as a partial object (defaults filled by the codec). */
export function encode<C extends Codec<unknown>>(t: { codec: C }, value: PartialOf<C>): Buffer {
  const c = t.codec as unknown as Codec<unknown>;
  return Buffer.from(c.encode(c.fromPartial(value as never)).finish());
}

/** Packs a message into google.protobuf.Any. */
export function pack<C extends Codec<unknown>>(t: { url: string; codec: C }, value: PartialOf<C>): Any {
  return { typeUrl: t.url, value: encode(t, value) };
}

const BY_URL = new Map<string, Codec<unknown>>(Object.values(T).map((t) => [t.url, t.codec as Codec<unknown>]));

/** Decodes a packed resource and every nested Any we know into plain JSON-able data (for golden files). */
export function render(typeUrl: string, body: Uint8Array): unknown {
  const codec = BY_URL.get(typeUrl);
  if (!codec) return { '@type': typeUrl, bytes: Buffer.from(body).toString('base64') };
  return { '@type': typeUrl, ...(unpackDeep(codec.decode(body)) as object) };
}

function unpackDeep(v: unknown): unknown {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(unpackDeep);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if (typeof o.typeUrl === 'string' && o.value instanceof Uint8Array) return render(o.typeUrl, o.value);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) {
    if (x === undefined || x === '' || x === false || x === 0 || (Array.isArray(x) && x.length === 0)) continue;
    if (
      typeof x === 'object' &&
      x !== null &&
      !Array.isArray(x) &&
      !(x instanceof Uint8Array) &&
      Object.keys(x).length === 0
    ) {
      out[k] = {};
      continue;
    }
    out[k] = unpackDeep(x);
  }
  return out;
}
