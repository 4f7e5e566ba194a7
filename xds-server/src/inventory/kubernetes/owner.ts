// Pod → owner chain → the workload it belongs to, whose `namespace/name` is the nanoseg service. Pure.
//
//   Deployment ← ReplicaSet ← Pod        StatefulSet ← Pod        DaemonSet ← Pod
//   CronJob ← Job ← Pod                  Job ← Pod                a bare Pod is its own workload
//
// Only controller references are followed (`controller: true`, or the only reference when none says so). Each
// step asks `lookup` for the owning object; when the object is not known (the informer has not seen it yet, and
// the admission webhook could not read it), the step is inferred from what the pod carries, the way the
// controllers name things: a ReplicaSet made by a Deployment is `<deployment>-<pod-template-hash>` (the hash is a
// label on the pod), and a Job made by a CronJob is `<cronjob>-<scheduled time in minutes>` (8+ digits). The
// inference is exact for Deployments; for Jobs a hand-made Job whose name ends in 8+ digits would be taken for a
// CronJob's until the Job itself is seen (docs/kubernetes.md).
import type { ObjectMeta, OwnedObject, OwnerReference, Pod } from './types.js';

export type WorkloadKind = 'Deployment' | 'ReplicaSet' | 'StatefulSet' | 'DaemonSet' | 'CronJob' | 'Job' | 'Pod';

export interface WorkloadRef {
  readonly kind: WorkloadKind | string;
  readonly namespace: string;
  readonly name: string;
  /** `namespace/name` */
  readonly service: string;
  /** true when a step was inferred from names instead of read from the owning object */
  readonly inferred: boolean;
}

/** Finds an owning object (ReplicaSet, Job) by kind, namespace and name; undefined when not known. */
export type OwnerLookup = (kind: string, namespace: string, name: string) => OwnedObject | undefined;

export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
const CRONJOB_JOB_RE = /^(.+)-[0-9]{8,}$/;

export function controllerOf(meta: ObjectMeta | undefined): OwnerReference | undefined {
  const refs = meta?.ownerReferences ?? [];
  return refs.find((r) => r.controller === true) ?? (refs.length === 1 ? refs[0] : undefined);
}

/** The pod's own name; at admission a pod may only have a generateName (`web-` → `web`). */
export function podName(pod: Pod): string {
  const m = pod.metadata;
  return m?.name || (m?.generateName ?? '').replace(/-$/, '');
}

function ref(kind: string, namespace: string, name: string, inferred: boolean): WorkloadRef {
  return { kind, namespace, name, service: `${namespace}/${name}`, inferred };
}

/** The workload a pod belongs to. `namespace` is the pod's (a pod being created may not carry it yet). */
export function workloadOf(pod: Pod, namespace: string, lookup: OwnerLookup = () => undefined): WorkloadRef {
  const owner = controllerOf(pod.metadata);
  if (!owner) return ref('Pod', namespace, podName(pod), false);
  switch (owner.kind) {
    case 'ReplicaSet': {
      const rs = lookup('ReplicaSet', namespace, owner.name);
      if (rs) {
        const d = controllerOf(rs.metadata);
        return d?.kind === 'Deployment'
          ? ref('Deployment', namespace, d.name, false)
          : ref('ReplicaSet', namespace, owner.name, false);
      }
      const hash = pod.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL];
      if (hash && owner.name.endsWith(`-${hash}`) && owner.name.length > hash.length + 1) {
        return ref('Deployment', namespace, owner.name.slice(0, -(hash.length + 1)), true);
      }
      return ref('ReplicaSet', namespace, owner.name, true);
    }
    case 'Job': {
      const job = lookup('Job', namespace, owner.name);
      if (job) {
        const c = controllerOf(job.metadata);
        return c?.kind === 'CronJob'
          ? ref('CronJob', namespace, c.name, false)
          : ref('Job', namespace, owner.name, false);
      }
      const m = CRONJOB_JOB_RE.exec(owner.name);
      return m ? ref('CronJob', namespace, m[1]!, true) : ref('Job', namespace, owner.name, true);
    }
    default:
      // StatefulSet, DaemonSet, and any other controller (an operator's custom resource) own their pods directly
      return ref(owner.kind, namespace, owner.name, false);
  }
}
