// The status of a service's NanoSegment (nanoseg.io/v1alpha1), computed from what the control plane knows: its
// convergence (state, confidence, reason), its learned edges, and the latest alerts whose verdict its own policy
// caused. Pure: the writer (controlplane/kube-segments.ts) reads the objects, calls these and writes the result
// through the status subresource.
// Writes stay bounded: `writeDue` says whether a computed status is worth a write now. A change that a person acts
// on (state, mode-relevant conditions, edges, a new denial) is written at once, at most once per `minIntervalMs`;
// what drifts on its own (the confidence, the reason's "quiet for 9s of 10m") only every `driftIntervalMs`.
import type { Alert, ConvergenceState, Mode, ServiceName } from '../../model/index.js';

/** The latest alert of a kind, as the status shows it. */
export interface LastAlert {
  readonly time: string;
  readonly source: string;
  readonly destination: string;
  readonly reason: string;
}

export interface SegmentCondition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly observedGeneration: number;
  readonly lastTransitionTime: string;
  readonly reason: string;
  readonly message: string;
}

/** What became of a NanoSegment's spec (controllers/segment-spec.ts): the `SpecApplied` condition. */
export interface SpecOutcome {
  /** the object generation this is about */
  readonly generation: number;
  /** applied; none: nothing wanted; pending: the service is not known yet; refused (e.g. by a mode annotation) and
   * invalid: nothing changed, `message` says why */
  readonly state: 'applied' | 'none' | 'pending' | 'refused' | 'invalid';
  readonly message: string;
}

export interface NanoSegmentStatus {
  readonly state: ConvergenceState;
  /** the mode in force (what `nanoseg services` shows; the spec's mode is what was asked) */
  readonly mode: Mode;
  readonly confidence: number;
  readonly reason: string;
  readonly edges: number;
  readonly lastDenied?: LastAlert;
  readonly lastWouldDeny?: LastAlert;
  readonly conditions: readonly SegmentCondition[];
  readonly observedGeneration: number;
}

/** What the control plane knows of one service (the fields of `nanoseg services` the status mirrors). */
export interface SegmentFacts {
  readonly service: ServiceName;
  readonly state: ConvergenceState;
  readonly mode: Mode;
  readonly confidence: number;
  readonly edges: number;
  readonly reason: string;
  readonly lastDenied?: LastAlert;
  readonly lastWouldDeny?: LastAlert;
  /** what became of the object's spec; undefined: not looked at (no condition, observedGeneration as it was) */
  readonly spec?: SpecOutcome;
}

/** A NanoSegment is named and namespaced as its service. */
export function segmentRef(service: ServiceName): { namespace: string; name: string } {
  const i = service.indexOf('/');
  return { namespace: service.slice(0, i), name: service.slice(i + 1) };
}

/** The alert as a status entry; `undefined` when no service's policy caused it (nothing to attribute it to). */
export function lastAlertOf(
  a: Alert,
): { service: ServiceName; kind: 'lastDenied' | 'lastWouldDeny'; entry: LastAlert } | undefined {
  // the service whose policy gave the verdict: the caller on the egress side, the callee on the ingress side
  const service = a.side === 'ingress' ? a.destination.service : a.source.service;
  if (!service) return undefined;
  const to = `${a.destination.service ?? a.destination.ip}${a.destination.sni ? ` (${a.destination.sni})` : ''}`;
  return {
    service,
    kind: a.verdict === 'denied' ? 'lastDenied' : 'lastWouldDeny',
    entry: {
      time: a.time,
      source: a.source.service ?? a.source.ip,
      destination: `${to}:${a.destination.port}/${a.protocol}`,
      reason: a.reason,
    },
  };
}

const CONFIDENCE_STEP = 1000; // three decimals: finer steps are noise to a reader

/** The status to write, given the facts, the object's generation and the status it has now (for transitions). */
export function nanoSegmentStatus(
  f: SegmentFacts,
  generation: number,
  prev: Partial<NanoSegmentStatus> | undefined,
  now: number,
): NanoSegmentStatus {
  const at = new Date(now).toISOString();
  const condition = (type: string, ok: boolean, reason: string, message: string): SegmentCondition => {
    const status = ok ? 'True' : 'False';
    const before = (prev?.conditions ?? []).find((c) => c.type === type);
    return {
      type,
      status,
      observedGeneration: generation,
      lastTransitionTime: before && before.status === status ? before.lastTransitionTime : at,
      reason,
      message,
    };
  };
  const converged = f.state === 'converged';
  const spec = f.spec;
  // the generation whose spec was acted on (a pending one is not yet)
  const observed = !spec ? generation : spec.state !== 'pending' ? spec.generation : (prev?.observedGeneration ?? 0);
  const specReason = {
    applied: 'Applied',
    none: 'NothingWanted',
    pending: 'Pending',
    refused: 'Refused',
    invalid: 'Invalid',
  };
  return {
    state: f.state,
    mode: f.mode,
    confidence: Math.round(f.confidence * CONFIDENCE_STEP) / CONFIDENCE_STEP,
    reason: f.reason,
    edges: f.edges,
    ...(f.lastDenied !== undefined
      ? { lastDenied: f.lastDenied }
      : prev?.lastDenied && { lastDenied: prev.lastDenied }),
    ...(f.lastWouldDeny !== undefined
      ? { lastWouldDeny: f.lastWouldDeny }
      : prev?.lastWouldDeny && { lastWouldDeny: prev.lastWouldDeny }),
    conditions: [
      condition('Converged', converged, converged ? 'Converged' : 'Learning', f.reason),
      condition(
        'Enforcing',
        f.mode === 'enforce',
        f.mode === 'enforce' ? 'Enforce' : f.mode === 'monitor' ? 'Monitor' : 'Learn',
        `mode ${f.mode}`,
      ),
      ...(spec
        ? [
            condition(
              'SpecApplied',
              spec.state === 'applied' || spec.state === 'none',
              specReason[spec.state],
              spec.message,
            ),
          ]
        : []),
    ],
    observedGeneration: observed,
  };
}

export interface WriteLimits {
  /** at least this long between two writes of one object */
  readonly minIntervalMs: number;
  /** confidence and reason alone are written at most this often */
  readonly driftIntervalMs: number;
}

export const DEFAULT_WRITE_LIMITS: WriteLimits = { minIntervalMs: 2_000, driftIntervalMs: 30_000 };

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * Whether `next` is worth writing over `current` (the object's status now) when the last write was at `lastWriteAt`
 * (undefined: never by this process). Nothing changed: never.
 */
export function writeDue(
  current: Partial<NanoSegmentStatus> | undefined,
  next: NanoSegmentStatus,
  lastWriteAt: number | undefined,
  now: number,
  limits: WriteLimits = DEFAULT_WRITE_LIMITS,
): boolean {
  if (current && same(current, next)) return false;
  const since = lastWriteAt === undefined ? Infinity : now - lastWriteAt;
  if (since < limits.minIntervalMs) return false;
  const statusOf = (cs: readonly SegmentCondition[] | undefined) => (cs ?? []).map((c) => `${c.type}=${c.status}`);
  const major =
    !current ||
    current.state !== next.state ||
    current.edges !== next.edges ||
    current.observedGeneration !== next.observedGeneration ||
    !same(statusOf(current.conditions), statusOf(next.conditions)) ||
    !same(current.lastDenied, next.lastDenied) ||
    !same(current.lastWouldDeny, next.lastWouldDeny);
  return major || since >= limits.driftIntervalMs;
}
