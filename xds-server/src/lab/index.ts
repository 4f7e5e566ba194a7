// The standalone lab: lab files, planning, namespaces with capture, Envoy processes.
export type { LabSpec, LabPodSpec, LabExternalSpec, ValidationError, ValidationResult } from './spec.js';
export {
  LAB_API_VERSION,
  DEFAULT_LAB_NAME,
  DEFAULT_LAB_SUBNET,
  RESERVED_POD_PORTS,
  DNS_MEMBER,
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
export { LAB_NAMESPACE, LAB_BRIDGE, STATE_VERSION, planLab, namespaceName, hostVethName, labMembers } from './plan.js';
export type { LabLogger, LabUpOptions, LabDirOptions, LabDownOptions, LabDownResult } from './lab.js';
export { labUp, labDown, LabSpecError, ENVOY_DRAIN_SECONDS } from './lab.js';
export type { LabListing, LabMemberStatus, ProcessStatus, LabExecOptions } from './list.js';
export { hostsFile, podHostsFile } from './names.js';
export { dnsmasqCommand, resolvConf } from './dns.js';
export type { PodUser } from './sandbox.js';
export {
  DEFAULT_POD_USER,
  ROOT_POD_USER,
  POD_CAPABILITIES,
  ALWAYS_HIDDEN,
  podCapabilityMask,
  hiddenPaths,
  podWorkDir,
  parsePodUser,
  formatPodUser,
  sandboxArgv,
  setprivArgv,
  podAppArgv,
  podExecArgv,
} from './sandbox.js';
export { labList, labExec, labInventory } from './list.js';
export { readLabState, stateFile } from './state.js';
