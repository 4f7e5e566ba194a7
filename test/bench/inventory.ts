// The synthetic mesh both benchmarks use: S services (namespace "bench", or "shop" style names) with R replicas
// each in 10.213.0.0/16, one VIP per service, one port per service.
import type { Inventory, Workload } from '../../xds-server/src/model/index.js';

export interface MeshSpec {
  readonly services: number;
  readonly replicas: number;
  readonly namespace: string;
  /** the number of the first service (default 0): meshes whose numbers do not overlap share no name or address */
  readonly first?: number;
}

export const SERVICE_PORT = 8080;

export function serviceName(spec: MeshSpec, s: number): string {
  return `${spec.namespace}/svc${s}`;
}

/** Workload address: 10.213.<s>.<r+1> (s < 200, r < 250). */
export function workloadIp(s: number, r: number): string {
  return `10.213.${s}.${r + 1}`;
}

/** Service VIP: 10.213.<200 + s/250>.<s%250 + 1>. */
export function vipIp(s: number): string {
  return `10.213.${200 + Math.floor(s / 250)}.${(s % 250) + 1}`;
}

/** Pod name `svc<s>-<r>`; Envoy node id `<pod>.<namespace>`. */
export function podName(s: number, r: number): string {
  return `svc${s}-${r}`;
}

/** `replicasOf` overrides the replica count of some services (service index → replicas). */
export function makeInventory(spec: MeshSpec, replicasOf: ReadonlyMap<number, number> = new Map()): Inventory {
  const first = spec.first ?? 0;
  if (first + spec.services > 200) throw new Error('at most 200 services in 10.213.0.0/16 with this layout');
  const workloads: Workload[] = [];
  for (let s = first; s < first + spec.services; s++) {
    const replicas = replicasOf.get(s) ?? spec.replicas;
    for (let r = 0; r < replicas; r++) {
      workloads.push({
        name: podName(s, r),
        service: serviceName(spec, s),
        addresses: [workloadIp(s, r)],
        ports: [SERVICE_PORT],
      });
    }
  }
  const vips = Array.from({ length: spec.services }, (_, i) => ({
    service: serviceName(spec, first + i),
    address: vipIp(first + i),
  }));
  return { workloads, externals: [], vips };
}
