// The NanoSegment validating webhook's decision, without the server. Pure: an AdmissionRequest and the mode pins
// (the workloads' `nanoseg.io/mode` annotations) in, the answer out — plus, for a change that is accepted and will
// be applied, who asked (`request.userInfo.username`), so the control plane audits that user as the actor when it
// applies the stored object. The spec is checked by the same parser as `nanoseg policy apply`
// (inventory/kubernetes/segment-spec.ts), so a refusal names the field (`spec.egress[1].port: …`); a mode that
// differs from the annotation's is refused naming the annotation, as the CLI's is. A refused change changes nothing.
import type { ModePin } from '../xds-server/src/inventory/kubernetes/modes.js';
import { NANOSEG_GROUP, NANOSEGMENT_KIND } from '../xds-server/src/inventory/kubernetes/crd.js';
import {
  modeOfChange,
  parseSegmentSpec,
  segmentService,
  specKey,
  type SegmentObject,
} from '../xds-server/src/inventory/kubernetes/segment-spec.js';
import type { ServiceName } from '../xds-server/src/model/index.js';
import type { AdmissionRequest, AdmissionResponse } from './admission.js';
import { isObject } from '../xds-server/src/util/is-object.js';

/** An accepted spec change: applied (and audited as `actor`) when the control plane sees the stored object. */
export interface AdmittedSpec {
  readonly service: ServiceName;
  /** specKey() of the admitted spec */
  readonly spec: string;
  readonly actor: string;
}

export interface SegmentDecision {
  readonly response: AdmissionResponse;
  /** only for an accepted change of the spec that is not a dry run */
  readonly admitted?: AdmittedSpec;
}

function refuse(uid: string, code: number, message: string): SegmentDecision {
  return { response: { uid, allowed: false, status: { code, message } } };
}

/** The answer to one NanoSegment admission. Other kinds, DELETE, and changes that leave the spec as it was pass. */
export function admitSegment(
  req: AdmissionRequest,
  pinOf: (service: ServiceName) => ModePin | undefined,
): SegmentDecision {
  const uid = req.uid;
  const op = req.operation ?? 'CREATE';
  if (req.kind?.kind !== NANOSEGMENT_KIND || req.kind.group !== NANOSEG_GROUP || (op !== 'CREATE' && op !== 'UPDATE'))
    return { response: { uid, allowed: true } };
  if (!isObject(req.object)) return refuse(uid, 400, 'nanoseg: request.object is not a NanoSegment');
  const obj = req.object as SegmentObject;
  const s = segmentService(obj.metadata);
  if (!s.valid) return refuse(uid, 400, `nanoseg: ${s.errors.map((e) => e.message).join('; ')}`);
  const service = s.result;
  // labels, annotations, finalizers: nothing of the service changes
  if (op === 'UPDATE' && isObject(req.oldObject) && specKey(req.oldObject.spec) === specKey(obj.spec))
    return { response: { uid, allowed: true } };
  const c = parseSegmentSpec(service, obj.spec);
  if (!c.valid) {
    const what = c.errors.map((e) => e.message).join('; ');
    return refuse(uid, 422, `nanoseg: NanoSegment ${service} refused: ${what}`);
  }
  const mode = modeOfChange(c.result);
  const pin = pinOf(service);
  if (mode !== undefined && pin && pin.mode !== mode) {
    return refuse(
      uid,
      409,
      `nanoseg: NanoSegment ${service} refused: spec.mode: ${service} is ${pin.mode} by ${pin.by} — change or ` +
        `remove the annotation instead (it wins while it is there)`,
    );
  }
  const response: AdmissionResponse = { uid, allowed: true };
  if (req.dryRun === true || c.result.kind === 'none') return { response };
  const user = req.userInfo?.username?.trim() || 'unknown';
  return {
    response,
    admitted: { service, spec: specKey(obj.spec), actor: `kubernetes user ${user} (NanoSegment ${service})` },
  };
}
