// What the informers keep of each object: the fields nanoseg reads (types.ts) and the resourceVersion the cache
// compares, nothing else. A Pod from the apiserver carries its whole spec, status conditions and managed fields
// (several KB each); a ReplicaSet or a Deployment carries a pod template; `kubectl apply` adds the last applied
// configuration as an annotation. Kept whole, 10,000 pods cost hundreds of MB of heap; slimmed, a few hundred bytes
// each. Pure: an object in, a new plain object out (the client's typed classes and Date objects are not kept).
//   - annotations: only `nanoseg.io/*` (the mode annotation on workloads); labels: all (a pod has a handful, and
//     owner.ts reads pod-template-hash, mapping.ts the EndpointSlice's service name, the injector the namespace's);
//   - a kind without a slimmer here is kept as it is.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Container, EndpointSlice, KubeService, ObjectMeta, OwnerReference, Pod } from './types.js';

export interface SlimMeta extends ObjectMeta {
  readonly resourceVersion?: string;
}

type Loose = Record<string, unknown>;

const NANOSEG_PREFIX = 'nanoseg.io/';

function definedOnly<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function nanosegAnnotations(a: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (!a) return undefined;
  let out: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(a)) if (k.startsWith(NANOSEG_PREFIX)) (out ??= {})[k] = v;
  return out;
}

function owners(refs: readonly OwnerReference[] | undefined): OwnerReference[] | undefined {
  return refs?.map((r) =>
    definedOnly({ apiVersion: r.apiVersion, kind: r.kind, name: r.name, uid: r.uid, controller: r.controller }),
  );
}

export function slimMeta(m: (ObjectMeta & { resourceVersion?: string }) | undefined): SlimMeta | undefined {
  if (!m) return undefined;
  return definedOnly({
    name: m.name,
    generateName: m.generateName,
    namespace: m.namespace,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    labels: m.labels ? { ...m.labels } : undefined,
    annotations: nanosegAnnotations(m.annotations),
    ownerReferences: owners(m.ownerReferences),
    deletionTimestamp: m.deletionTimestamp instanceof Date ? m.deletionTimestamp.toISOString() : m.deletionTimestamp,
  });
}

function containers(cs: readonly Container[] | undefined): Container[] | undefined {
  return cs?.map((c) =>
    definedOnly({
      name: c.name,
      ports: c.ports?.map((p) => definedOnly({ containerPort: p.containerPort, protocol: p.protocol, name: p.name })),
    }),
  );
}

export function slimPod(p: Pod): Pod {
  const spec = p.spec;
  const status = p.status;
  return definedOnly({
    metadata: slimMeta(p.metadata),
    spec: spec && definedOnly({ containers: containers(spec.containers), hostNetwork: spec.hostNetwork }),
    status:
      status &&
      definedOnly({
        phase: status.phase,
        podIP: status.podIP,
        podIPs: status.podIPs?.map((x) => ({ ip: x.ip })),
        conditions: status.conditions
          ?.filter((c) => c.type === 'Ready')
          .map((c) => ({ type: c.type, status: c.status })),
      }),
  });
}

/** ReplicaSets, Jobs, Namespaces and the workloads (Deployments, …): their metadata is all that is read. */
export function slimMetaOnly<T extends { metadata?: ObjectMeta }>(o: T): { metadata?: SlimMeta } {
  return definedOnly({ metadata: slimMeta(o.metadata) });
}

export function slimService(s: KubeService): KubeService {
  const spec = s.spec;
  return definedOnly({
    metadata: slimMeta(s.metadata),
    spec:
      spec &&
      definedOnly({
        clusterIP: spec.clusterIP,
        clusterIPs: spec.clusterIPs ? [...spec.clusterIPs] : undefined,
        type: spec.type,
        selector: spec.selector ? { ...spec.selector } : undefined,
      }),
  });
}

export function slimEndpointSlice(s: EndpointSlice): EndpointSlice {
  return definedOnly({
    metadata: slimMeta(s.metadata),
    addressType: s.addressType,
    endpoints: s.endpoints?.map((e) =>
      definedOnly({
        addresses: [...e.addresses],
        targetRef:
          e.targetRef &&
          definedOnly({ kind: e.targetRef.kind, name: e.targetRef.name, namespace: e.targetRef.namespace }),
      }),
    ),
    ports: s.ports?.map((p) => definedOnly({ port: p.port, protocol: p.protocol, name: p.name })),
  });
}

/** A slimmer for objects as the client hands them over (loosely typed). */
export type Slimmer = (o: KubernetesObject) => KubernetesObject;

export const slimmers = {
  pod: ((o) => slimPod(o as Pod) as KubernetesObject) as Slimmer,
  service: ((o) => slimService(o as KubeService) as KubernetesObject) as Slimmer,
  endpointSlice: ((o) => slimEndpointSlice(o as EndpointSlice) as KubernetesObject) as Slimmer,
  metaOnly: ((o) => slimMetaOnly(o as Loose as { metadata?: ObjectMeta }) as KubernetesObject) as Slimmer,
} as const;
