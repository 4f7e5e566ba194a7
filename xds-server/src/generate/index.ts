export {
  generateProxy,
  egressServices,
  emptyPolicy,
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
} from './proxy.js';
export type { ProxyInput, ProxyIdentity, GenerateSettings } from './proxy.js';
export type { GeneratedResource, ResourceKind } from './resource.js';
export { T, encode, pack, render } from './envoy-types.js';
export type { Typed, Codec, DeepPartial, PartialOf } from './envoy-types.js';
