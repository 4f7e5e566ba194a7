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
export type { LabLogger, LabUpOptions, LabDirOptions, LabDownOptions, LabDownResult } from './lab.js';
export { labUp, labDown, LabSpecError, ENVOY_DRAIN_SECONDS } from './lab.js';
export type { LabListing, LabMemberStatus, ProcessStatus } from './list.js';
export { labList, labExec, labInventory } from './list.js';
export { readLabState, stateFile } from './state.js';
