// Public surface of alerts/: access-log entry → verdict (pure), per-key aggregation, and the sinks alerts go to.
export { verdictOf, DENY_LOG_SUFFIX, RBAC_DENIED_PREFIX, RBAC_FILTERS } from './verdict.js';
export type { VerdictResult, VerdictEntryKind } from './verdict.js';
export { AlertAggregator, alertKey, DEFAULT_WINDOW_MS, DEFAULT_MAX_KEYS } from './aggregate.js';
export type { AggregatorOptions, AggregatorStats } from './aggregate.js';
export { AlertLog, DEFAULT_ALERT_LOG_CAPACITY } from './alert-log.js';
export type { AlertLogOptions, AlertLogStats } from './alert-log.js';
export { JsonlAuditFile } from './audit-file.js';
export type { FsyncPolicy, JsonlAuditFileOptions, JsonlAuditFileStats } from './audit-file.js';
export { WebhookSink, parseWebhookUrl } from './webhook.js';
export type { WebhookSinkOptions, WebhookStats } from './webhook.js';
