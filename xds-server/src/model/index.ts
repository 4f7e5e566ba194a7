export type {
  ServiceName, Mode, Protocol, ConvergenceState, Workload, NamedExternal, ServiceVip, Inventory, Peer, ServicePeer,
  ExternalPeer, EdgeKey, Evidence, Edge, Observation, ConvergenceReport, PolicyRule, ServicePolicy, Verdict, Alert,
  AuditEvent,
} from './types.js';
export { MODES, EMPTY_INVENTORY, LOG_OUTBOUND, LOG_INBOUND, DENY_LOG_SUFFIX, isServicePeer, peerId, edgeId, hostCidr, SERVICE_NAME_RE } from './types.js';
export type { LogAddress, LogTime, LogCommon, TcpLogEntry, HttpLogEntry, LogEntry } from './access-log.js';
export type { ValidationResult, ValidationError } from './validation.js';
