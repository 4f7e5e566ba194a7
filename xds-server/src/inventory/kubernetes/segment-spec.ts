// A NanoSegment's spec as a change to its service: `spec: {mode, l7, ingress, egress}` is validated by the same
// parser as `nanoseg policy apply` (policy/file.ts, here on the decoded value, so every error names its field as
// `spec.egress[1].port: …`) and becomes what the CLI would send: a mode change (mode and/or l7 alone) or a policy
// apply (ingress and/or egress present: together they are the whole policy, a missing side is empty, as in a file).
// An empty spec wants nothing. Pure: object in, change (or errors with field paths) out.
import { SERVICE_NAME_RE, type Mode, type ServiceName, type ValidationResult } from '../../model/index.js';
import { POLICY_API_VERSION, POLICY_KIND, parsePolicyValue, type ParsedPolicy } from '../../policy/index.js';
import { isObject } from '../../util/is-object.js';

export const SPEC_FIELDS = ['mode', 'l7', 'ingress', 'egress'] as const;

export interface SegmentMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly generation?: number;
}

export interface SegmentObject {
  readonly metadata?: SegmentMeta;
  readonly spec?: unknown;
}

/** What a spec asks of its service. */
export type SegmentChange =
  | { readonly kind: 'none'; readonly service: ServiceName }
  | { readonly kind: 'mode'; readonly service: ServiceName; readonly mode?: Mode; readonly l7?: boolean }
  | { readonly kind: 'policy'; readonly service: ServiceName; readonly policy: ParsedPolicy };

/** The service a NanoSegment belongs to: its namespace/name, which must be a nanoseg service name. */
export function segmentService(meta: SegmentMeta | undefined): ValidationResult<ServiceName> {
  const service = `${meta?.namespace ?? ''}/${meta?.name ?? ''}`;
  if (SERVICE_NAME_RE.test(service)) return { valid: true, result: service };
  const path = meta?.namespace ? 'metadata.name' : 'metadata.namespace';
  return {
    valid: false,
    errors: [
      {
        path,
        message: `${path}: "${service}" is not a service name (a NanoSegment is named and namespaced as its service, lower-case DNS labels without dots)`,
      },
    ],
  };
}

/** Validates a spec (undefined or {} wants nothing) as the change it asks for. Never throws. */
export function parseSegmentSpec(service: ServiceName, spec: unknown): ValidationResult<SegmentChange> {
  if (spec === undefined || spec === null) return { valid: true, result: { kind: 'none', service } };
  if (!isObject(spec)) {
    return {
      valid: false,
      errors: [{ path: 'spec', message: 'spec: expected an object {mode, l7, ingress, egress}' }],
    };
  }
  const unknown = Object.keys(spec).filter((k) => !(SPEC_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    return {
      valid: false,
      errors: unknown.map((k) => ({
        path: `spec.${k}`,
        message: `spec.${k}: unknown field (expected ${SPEC_FIELDS.join(', ')})`,
      })),
    };
  }
  // the document `nanoseg policy apply -f` reads, with the spec's fields in it: one set of rules for both
  const r = parsePolicyValue({ apiVersion: POLICY_API_VERSION, kind: POLICY_KIND, service, ...spec }, 'spec');
  if (!r.valid) return r;
  const p = r.result;
  if ('ingress' in spec || 'egress' in spec) return { valid: true, result: { kind: 'policy', service, policy: p } };
  if (p.mode === undefined && p.l7 === undefined) return { valid: true, result: { kind: 'none', service } };
  return {
    valid: true,
    result: {
      kind: 'mode',
      service,
      ...(p.mode !== undefined && { mode: p.mode }),
      ...(p.l7 !== undefined && { l7: p.l7 }),
    },
  };
}

/** The mode a change asks for, if any. */
export function modeOfChange(c: SegmentChange): Mode | undefined {
  return c.kind === 'mode' ? c.mode : c.kind === 'policy' ? c.policy.mode : undefined;
}

/** A canonical text of a spec (keys sorted): what the webhook admitted is recognised when the object is applied. */
export function specKey(spec: unknown): string {
  const canon = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(canon)
      : isObject(x)
        ? Object.fromEntries(
            Object.keys(x)
              .sort()
              .map((k) => [k, canon(x[k])]),
          )
        : x;
  return JSON.stringify(canon(spec ?? {}));
}
