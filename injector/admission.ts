// AdmissionReview v1 in, AdmissionReview v1 out: the webhook's decisions without the HTTP server. Pure.
// A malformed review never throws: without a uid it cannot be answered in kind (the server replies 400); with one,
// it is refused with a message saying what is wrong.
import type { Namespace, Pod } from '../xds-server/src/inventory/kubernetes/types.js';
import { isObject } from '../xds-server/src/util/is-object.js';
import type { InjectorConfig } from './config.js';
import { inject } from './inject.js';
import type { OwnerLookup } from '../xds-server/src/inventory/kubernetes/owner.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind?: { readonly group?: string; readonly version?: string; readonly kind?: string };
  readonly operation?: string;
  readonly namespace?: string;
  readonly object?: unknown;
  /** UPDATE and DELETE: the object as it was */
  readonly oldObject?: unknown;
  readonly dryRun?: boolean;
  /** who asks (the audit actor of an accepted change) */
  readonly userInfo?: { readonly username?: string; readonly groups?: readonly string[] };
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: 'JSONPatch';
  /** base64 of the JSON patch */
  readonly patch?: string;
  readonly status?: { readonly code: number; readonly message: string };
  readonly warnings?: readonly string[];
}

export interface AdmissionReview {
  readonly apiVersion: typeof ADMISSION_API_VERSION;
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

export type ParsedReview =
  { readonly ok: true; readonly request: AdmissionRequest } | { readonly ok: false; readonly message: string };

/** Checks the envelope: AdmissionReview v1 with a request and its uid. */
export function parseReview(body: unknown): ParsedReview {
  if (!isObject(body)) return { ok: false, message: 'the body is not a JSON object (expected an AdmissionReview)' };
  if (body.kind !== 'AdmissionReview')
    return { ok: false, message: `kind is ${JSON.stringify(body.kind)}, expected AdmissionReview` };
  if (body.apiVersion !== ADMISSION_API_VERSION) {
    return {
      ok: false,
      message: `apiVersion ${JSON.stringify(body.apiVersion)} is not supported (expected ${ADMISSION_API_VERSION})`,
    };
  }
  const req = body.request;
  if (!isObject(req) || typeof req.uid !== 'string' || req.uid === '') {
    return { ok: false, message: 'request.uid is missing' };
  }
  return { ok: true, request: req as unknown as AdmissionRequest };
}

export function reviewOf(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

function refuse(uid: string, code: number, message: string): AdmissionResponse {
  return { uid, allowed: false, status: { code, message } };
}

/**
 * The answer to one pod admission. Anything but a Pod CREATE is allowed unchanged. `lookup`: the pod's owning
 * ReplicaSet or Job, when known (inject).
 */
export function admit(
  req: AdmissionRequest,
  namespace: Namespace,
  config: InjectorConfig,
  lookup?: OwnerLookup,
): AdmissionResponse {
  const uid = req.uid;
  if (req.kind?.kind !== 'Pod' || (req.kind.group ?? '') !== '' || (req.operation ?? 'CREATE') !== 'CREATE') {
    return { uid, allowed: true };
  }
  const pod = req.object;
  if (
    !isObject(pod) ||
    (pod.spec !== undefined && !isObject(pod.spec)) ||
    (pod.metadata !== undefined && !isObject(pod.metadata))
  ) {
    return refuse(uid, 400, 'nanoseg: request.object is not a Pod');
  }
  const spec = pod.spec as Record<string, unknown> | undefined;
  if (
    spec &&
    ((spec.containers !== undefined && !Array.isArray(spec.containers)) ||
      (spec.initContainers !== undefined && !Array.isArray(spec.initContainers)))
  ) {
    return refuse(uid, 400, 'nanoseg: request.object.spec.containers is not a list');
  }
  const meta = pod.metadata as Record<string, unknown> | undefined;
  for (const f of ['labels', 'annotations'] as const) {
    const m = meta?.[f];
    if (m !== undefined && (!isObject(m) || Object.values(m).some((v) => typeof v !== 'string'))) {
      return refuse(uid, 400, `nanoseg: request.object.metadata.${f} is not a map of strings`);
    }
  }
  const ns: Namespace = { metadata: { ...namespace.metadata, name: namespace.metadata?.name ?? req.namespace ?? '' } };
  const r = inject(pod as Pod, ns, config, lookup);
  switch (r.action) {
    case 'skip':
      return { uid, allowed: true };
    case 'refuse':
      return refuse(uid, 400, r.message);
    case 'inject':
      return {
        uid,
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify(r.patch)).toString('base64'),
      };
  }
}
