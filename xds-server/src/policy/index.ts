// Public surface of policy/: policy files, diffs, freezing learned edges, identity resolution, compilation.
export { POLICY_API_VERSION, POLICY_KIND, policyDocument, formatPolicyDocument } from './document.js';
export type { PolicyDocument, DocumentRule, DocumentPath, DocumentEvidence, EvidenceLookup } from './document.js';
export { parsePolicyFile, parsePolicyValue } from './file.js';
export type { ParsedPolicy } from './file.js';
export { PATH_METHODS, checkPathRule, normalizePaths, comparePaths } from './paths.js';
export { diffPolicy, isEmptyDiff, renderDiff } from './diff.js';
export type { PolicyDiff, RuleDiff, PolicyRules } from './diff.js';
export { freezePolicy } from './freeze.js';
export type { ServiceEdges } from './freeze.js';
export { addressesOf, destinationsOf } from './principals.js';
export type { Identities } from './principals.js';
export { compilePolicy, decide, enforcedBy, explainDeny, explainNoPath, sniApplies } from './compile.js';
export type {
  CompiledPolicy,
  CompiledRule,
  InboundPort,
  InboundSource,
  OutboundDestination,
  ConnectionFacts,
  Decision,
} from './compile.js';
export {
  POLICY_SIDES,
  plainPeer,
  ruleKey,
  ruleName,
  noRuleName,
  peerLabel,
  peerToken,
  compareRules,
  normalizeRules,
  portLabel,
} from './rules.js';
export type { PolicySide } from './rules.js';
export {
  parseIp,
  formatIp,
  canonicalIp,
  parseCidr,
  formatCidr,
  canonicalCidr,
  hostPrefix,
  cidrContains,
} from './ip.js';
export type { IpAddress, Cidr } from './ip.js';
