// Public surface of alerts/: access-log entry → verdict (pure), per-key aggregation, and the sinks alerts go to.
export { verdictOf, DENY_LOG_SUFFIX, RBAC_DENIED_PREFIX, RBAC_FILTERS } from './verdict.js';
export type { VerdictResult, VerdictEntryKind } from './verdict.js';
export { AlertAggregator, alertKey, DEFAULT_WINDOW_MS, DEFAULT_MAX_KEYS } from './aggregate.js';
export type { AggregatorOptions, AggregatorStats } from './aggregate.js';
export { AlertLog, JsonlAuditFile, WebhookSink, parseWebhookUrl, DEFAULT_ALERT_LOG_CAPACITY } from './sinks.js';
export type {
  AlertLogOptions,
  AlertLogStats,
  FsyncPolicy,
  JsonlAuditFileOptions,
  JsonlAuditFileStats,
  WebhookSinkOptions,
  WebhookStats,
} from './sinks.js';
