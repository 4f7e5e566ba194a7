// Public surface of generate/: per-service config (config.ts), the sidecar generator (proxy.ts, listeners.ts,
// rbac.ts), names and settings (names.ts), Envoy type URLs and packing (envoy-types.ts).
export { generateSnapshot, serviceConfig } from './config.js';
export type { ServiceConfig } from './config.js';
export { generateProxy, egressServices, emptyPolicy } from './proxy.js';
export type { ProxyInput, ProxyIdentity } from './proxy.js';
export {
  serviceClusterName,
  BLACKHOLE,
  RBAC_INBOUND,
  RBAC_INBOUND_HTTP,
  RBAC_OUTBOUND,
  RBAC_OUTBOUND_HTTP,
  DEFAULT_SETTINGS,
  OUTBOUND_PORT,
  INBOUND_PORT,
  PASSTHROUGH,
  INBOUND_PASSTHROUGH,
} from './names.js';
export type { GenerateSettings } from './names.js';
export { hcmTracing, httpAccessLog } from './telemetry.js';
export type { GeneratedResource, ResourceKind } from './resource.js';
export { T, encode, pack, render } from './envoy-types.js';
export type { Typed, Codec, DeepPartial, PartialOf } from './envoy-types.js';
