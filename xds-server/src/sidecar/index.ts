// The sidecar, as data: its Envoy bootstrap and the capture rules of its pod. Pure; shared by the lab and the
// Kubernetes injector.
export {
  envoyBootstrap,
  envoyNodeId,
  XDS_CLUSTER,
  READINESS_PATH,
  XDS_AUTH_DIR,
  XDS_CA_FILE,
  XDS_TOKEN_FILE,
} from './bootstrap.js';
export type { BootstrapInput } from './bootstrap.js';
export {
  captureRuleset,
  CAPTURE_TABLE,
  ENVOY_UID,
  ENVOY_ADMIN_PORT,
  OUTBOUND_CAPTURE_PORT,
  INBOUND_CAPTURE_PORT,
  READINESS_PORT,
} from './capture.js';
export type { CaptureOptions } from './capture.js';
