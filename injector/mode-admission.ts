// The mode annotation's validating webhook decision, without the server. Pure: an AdmissionRequest for a workload
// (Deployment, StatefulSet, DaemonSet, CronJob) in, the answer out — plus, for an accepted change of its
// `nanoseg.io/mode` annotation that is not a dry run, who made it (`request.userInfo.username`), so the control plane
// audits that user as the actor when the informer sees the annotation (inventory/kubernetes/modes.ts). A value that
// is not a mode is refused with the annotation, the workload and the values allowed; a refused change changes
// nothing. Changes that leave the annotation as it was pass untouched.
import { MODES, type Mode, type ServiceName } from '../xds-server/src/model/index.js';
import { MODE_ANNOTATION } from '../xds-server/src/inventory/kubernetes/modes.js';
import type { AdmissionRequest, AdmissionResponse } from './admission.js';
import { isObject } from '../xds-server/src/util/is-object.js';

/** The workload kinds whose annotation pins a mode: group → kinds (the informers of inventory/kubernetes/source.ts). */
export const MODE_WORKLOAD_KINDS: Readonly<Record<string, readonly string[]>> = {
  apps: ['Deployment', 'StatefulSet', 'DaemonSet'],
  batch: ['CronJob'],
};

/** An accepted change of the annotation, to audit as `actor` once the control plane sees it. */
export interface AdmittedMode {
  readonly service: ServiceName;
  /** the new mode; undefined when the annotation was removed */
  readonly mode: Mode | undefined;
  readonly actor: string;
}

export interface ModeDecision {
  readonly response: AdmissionResponse;
  readonly admitted?: AdmittedMode;
}

function annotationOf(obj: unknown): string | undefined {
  if (!isObject(obj) || !isObject(obj.metadata) || !isObject(obj.metadata.annotations)) return undefined;
  const v = obj.metadata.annotations[MODE_ANNOTATION];
  return typeof v === 'string' ? v : undefined;
}

/** Whether this request is one for the mode annotation's webhook (a workload kind of MODE_WORKLOAD_KINDS). */
export function isModeWorkload(req: AdmissionRequest): boolean {
  return MODE_WORKLOAD_KINDS[req.kind?.group ?? '']?.includes(req.kind?.kind ?? '') ?? false;
}

/** The answer to one workload admission: anything but a change of the mode annotation passes. */
export function admitModeAnnotation(req: AdmissionRequest): ModeDecision {
  const uid = req.uid;
  const op = req.operation ?? 'CREATE';
  if (!isModeWorkload(req) || (op !== 'CREATE' && op !== 'UPDATE')) return { response: { uid, allowed: true } };
  const value = annotationOf(req.object);
  const before = op === 'UPDATE' ? annotationOf(req.oldObject) : undefined;
  if (value === before) return { response: { uid, allowed: true } };
  const meta = isObject(req.object) && isObject(req.object.metadata) ? req.object.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const namespace = req.namespace ?? (typeof meta.namespace === 'string' ? meta.namespace : '');
  const service = `${namespace}/${name}`;
  const on = `${req.kind!.kind} ${service}`;
  const mode = value?.trim();
  if (mode !== undefined && !MODES.includes(mode as Mode)) {
    return {
      response: {
        uid,
        allowed: false,
        status: {
          code: 422,
          message: `nanoseg: annotation ${MODE_ANNOTATION}=${JSON.stringify(value)} on ${on} refused: expected one of ${MODES.join(', ')}`,
        },
      },
    };
  }
  const response: AdmissionResponse = { uid, allowed: true };
  if (req.dryRun === true) return { response };
  const user = req.userInfo?.username?.trim() || 'unknown';
  const what = mode === undefined ? `removed ${MODE_ANNOTATION}` : `annotation ${MODE_ANNOTATION}=${mode}`;
  return {
    response,
    admitted: { service, mode: mode as Mode | undefined, actor: `kubernetes user ${user} (${what} on ${on})` },
  };
}
