// The injector's public surface: the pure patch function and its vocabulary; the admission handling (pure), the
// HTTPS webhook server and the certificate authority that issues and rotates its certificate.
export { inject, pointerToken } from './inject.js';
export type { InjectResult, JsonPatchOp } from './inject.js';
export type { InjectorConfig, Resources } from './config.js';
export {
  DEFAULT_PROXY_RESOURCES,
  PROXY_CONTAINER,
  INIT_CONTAINER,
  DEFAULT_WEBHOOK_CONFIGURATION,
  DEFAULT_VALIDATING_CONFIGURATION,
  DEFAULT_WEBHOOK_DNS_NAMES,
} from './config.js';
export {
  INJECT_LABEL,
  INJECT_ENABLED,
  INJECT_OPT_OUT,
  STATUS_ANNOTATION,
  STATUS_INJECTED,
  SERVICE_ANNOTATION,
  EXCLUDE_INBOUND_PORTS,
  EXCLUDE_OUTBOUND_PORTS,
  EXCLUDE_OUTBOUND_IP_RANGES,
  captureExclusions,
} from './annotations.js';
export type { CaptureExclusions } from './annotations.js';
export { admit, parseReview, reviewOf, ADMISSION_API_VERSION } from './admission.js';
export type { AdmissionRequest, AdmissionResponse, AdmissionReview, ParsedReview } from './admission.js';
export { admitSegment } from './segment-admission.js';
export { admitModeAnnotation, isModeWorkload, MODE_WORKLOAD_KINDS } from './mode-admission.js';
export type { AdmittedMode, ModeDecision } from './mode-admission.js';
export type { AdmittedSpec, SegmentDecision } from './segment-admission.js';
export { WebhookServer, INJECT_PATH, VALIDATE_PATH } from './webhook.js';
export type { WebhookOptions, WebhookStats } from './webhook.js';
export {
  createCa,
  issueServing,
  needsRenewal,
  renewalAt,
  rotate,
  caBundle,
  DEFAULT_CA_VALIDITY_MS,
  DEFAULT_SERVING_VALIDITY_MS,
  RENEW_FRACTION,
} from './certs.js';
export type { KeyPair, TlsState, RotationOptions } from './certs.js';
export { caBundlePatch } from './cabundle.js';
export type { CaBundlePublisher, CaBundlePatchOp, WebhookConfigurationLike } from './cabundle.js';
export { CertRotator } from './rotator.js';
export type { RotatorOptions } from './rotator.js';
