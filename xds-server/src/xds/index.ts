export {
  CDS,
  EDS,
  LDS,
  RDS,
  ECDS,
  RESOURCE_TYPES,
  RESPONSE_ORDER,
  SILENT,
  isTypeUrl,
  isWildcardType,
  resource,
  resourceType,
  shortHash,
  typeName,
  typeShort,
  typeUrlOf,
} from './types.js';
export type { TypeUrl, ResourceKind, ResourceType, TypeShortName, ResourceRef, XdsResource, Logger } from './types.js';
export { makeSnapshot, checkConsistency } from './snapshot.js';
export type { Snapshot, TypeSnapshot } from './snapshot.js';
export { SnapshotCache } from './cache.js';
export type { WatchCallback } from './cache.js';
export {
  decideSotw,
  decideDelta,
  sotwHasNewer,
  sotwResources,
  deltaChanges,
  afterSotwSend,
  afterDeltaSend,
  knownVersions,
} from './decide.js';
export type { Action, Decision, Nack, SotwState, DeltaState, DeltaChanges, DeltaDecision } from './decide.js';
export { AdsServer } from './ads.js';
export { ADS_SERVICE } from './ads-types.js';
export type {
  AdsServerOptions,
  NodeInfo,
  StreamKind,
  TypeStatus,
  StreamTotals,
  ConnectionStatus,
} from './ads-types.js';
export { DiscoveryServer } from './discovery.js';
export type { DiscoveryHooks, DiscoveryOptions } from './discovery.js';
export { holdReason } from './fail-static.js';
export { prefixed, versionPrefixOf, VERSION_SEPARATOR } from './types.js';
export { PushDebouncer, mergePush } from './push.js';
export type { PushRequest, DebouncerOptions } from './push.js';
