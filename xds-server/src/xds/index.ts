export {
  CDS,
  EDS,
  LDS,
  RDS,
  ECDS,
  RESPONSE_ORDER,
  TYPE_NAME,
  SILENT,
  isTypeUrl,
  isWildcardType,
  resource,
  shortHash,
} from './types.js';
export type { TypeUrl, ResourceRef, XdsResource, Logger } from './types.js';
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
} from './decide.js';
export type { Action, Decision, Nack, SotwState, DeltaState, DeltaChanges, DeltaDecision } from './decide.js';
export { AdsServer } from './ads.js';
export type { AdsServerOptions, NodeInfo, StreamKind, TypeStatus, StreamTotals, ConnectionStatus } from './ads.js';
export { PushDebouncer, mergePush, REAL_SCHEDULER } from './push.js';
export type { PushRequest, Scheduler, DebouncerOptions } from './push.js';
