// The standalone lab: lab files, planning, namespaces with capture, Envoy processes.
export type { LabSpec, LabPodSpec, LabExternalSpec, ValidationError, ValidationResult } from './spec.js';
export {
  LAB_API_VERSION,
  DEFAULT_LAB_NAME,
  DEFAULT_LAB_SUBNET,
  RESERVED_POD_PORTS,
  parseLabSpec,
  loadLabSpec,
  validateLabSpec,
  checkLabSpec,
  formatValidationError,
  formatPath,
} from './spec.js';
export type {
  LabState,
  PodState,
  ExternalState,
  MemberState,
  MemberPhase,
  LabVip,
  LabPlan,
  PlanOptions,
} from './plan.js';
export {
  LAB_NAMESPACE,
  LAB_BRIDGE,
  STATE_VERSION,
  planLab,
  namespaceName,
  hostVethName,
  hostsFile,
  labMembers,
} from './plan.js';
export type { CaptureOptions } from './nft.js';
export {
  captureRuleset,
  CAPTURE_TABLE,
  ENVOY_UID,
  ENVOY_ADMIN_PORT,
  OUTBOUND_CAPTURE_PORT,
  INBOUND_CAPTURE_PORT,
} from './nft.js';
export type { BootstrapInput } from './bootstrap.js';
export { envoyBootstrap, envoyNodeId, XDS_CLUSTER } from './bootstrap.js';
export type {
  LabLogger,
  LabUpOptions,
  LabDirOptions,
  LabDownOptions,
  LabDownResult,
  LabListing,
  LabMemberStatus,
  ProcessStatus,
} from './lab.js';
export { labUp, labDown, labList, labExec, labInventory, readLabState, stateFile, LabSpecError } from './lab.js';
