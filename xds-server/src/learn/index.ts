// Public surface of learn/: access-log entries → observations → edges with evidence → convergence. No I/O.
export { toObservation, httpProtocol } from './als.js';
export type { AlsContext, AlsEntryKind, AlsErrorKind, ToObservationResult } from './als.js';
export { Learner } from './learner.js';
export type { LearnerOptions, ObserveResult, ServiceEdges } from './learner.js';
export {
  ConvergenceTracker,
  assess,
  missingMass,
  emptyStats,
  describeEdge,
  formatDuration,
  DEFAULT_CONVERGENCE,
} from './convergence.js';
export type { ConvergenceConfig, ConvergenceMemory, ConvergenceTransition, ServiceStats } from './convergence.js';
export { fromSpan, parseHostPort } from './spans.js';
export type { SpanFacts, SpanResult, SpanErrorKind } from './spans.js';
export { requestKey } from './request-id.js';
