export { generateProxy, serviceClusterName, DEFAULT_SETTINGS, OUTBOUND_PORT, INBOUND_PORT, PASSTHROUGH, INBOUND_PASSTHROUGH } from './proxy.js';
export type { ProxyIdentity, GenerateSettings, GeneratedResource, ResourceKind } from './proxy.js';
export { T, encode, pack, render } from './envoy-types.js';
export type { Typed, Codec, DeepPartial, PartialOf } from './envoy-types.js';
