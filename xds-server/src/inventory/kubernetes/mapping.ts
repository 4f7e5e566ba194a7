// The cluster's objects → a nanoseg Inventory. Pure and level-triggered: the informer adapter hands in what its
// caches hold now and gets the whole inventory back (never a delta).
//   - a pod with an address is a workload of the service its owner chain names (owner.ts); its name is the node id
//     its sidecar uses, `<pod>.<namespace>`;
//   - pod IP churn: an address belongs to one pod at a time. When two pods claim one (a terminating pod still
//     listed while its address is handed to a new one), the live pod wins and the other loses the address, so the
//     new pod never inherits the old workload's allows and the old one's rules stop naming it;
//   - a Service's ClusterIPs are VIPs of the nanoseg service behind them (the owners of its EndpointSlices' pods),
//     so a call to a ClusterIP is attributed to that service; a Service whose endpoints span several nanoseg
//     services (or none yet) gets no VIP rather than a wrong one.
import type { Inventory, ServiceVip, Workload } from '../../model/index.js';
import { SERVICE_NAME_RE } from '../../model/index.js';
import { workloadOf, type OwnerLookup } from './owner.js';
import { SERVICE_NAME_LABEL, type EndpointSlice, type KubeService, type OwnedObject, type Pod } from './types.js';

export interface ClusterObjects {
  readonly pods: readonly Pod[];
  readonly services: readonly KubeService[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly replicaSets: readonly OwnedObject[];
  readonly jobs: readonly OwnedObject[];
}

const key = (ns: string, name: string): string => `${ns}/${name}`;

function lookupOf(c: ClusterObjects): OwnerLookup {
  const index = (objs: readonly OwnedObject[]) =>
    new Map(objs.map((o) => [key(o.metadata?.namespace ?? '', o.metadata?.name ?? ''), o]));
  const rs = index(c.replicaSets);
  const jobs = index(c.jobs);
  return (kind, ns, name) => (kind === 'ReplicaSet' ? rs : kind === 'Job' ? jobs : undefined)?.get(key(ns, name));
}

function live(p: Pod): boolean {
  return !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
}

/** Takes new connections: not terminating, and Ready (a pod without a Ready condition yet counts as Ready). */
function serving(p: Pod): boolean {
  return live(p) && (p.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'True') === 'True';
}

function addressesOf(p: Pod): string[] {
  const ips = (p.status?.podIPs ?? []).map((x) => x.ip);
  if (ips.length === 0 && p.status?.podIP) ips.push(p.status.podIP);
  return [...new Set(ips)];
}

export function inventoryFromCluster(c: ClusterObjects): Inventory {
  const lookup = lookupOf(c);
  // who holds each address: a live pod over a terminating one; among equals, the lexically first name (stable)
  const candidates = c.pods
    .filter(
      (p) =>
        !p.spec?.hostNetwork &&
        addressesOf(p).length > 0 &&
        p.status?.phase !== 'Succeeded' &&
        p.status?.phase !== 'Failed',
    )
    .map((p) => ({ pod: p, ns: p.metadata?.namespace ?? '', name: p.metadata?.name ?? '' }))
    .sort((a, b) => Number(live(b.pod)) - Number(live(a.pod)) || (key(a.ns, a.name) < key(b.ns, b.name) ? -1 : 1));
  const holder = new Map<string, string>();
  for (const x of candidates)
    for (const ip of addressesOf(x.pod)) if (!holder.has(ip)) holder.set(ip, key(x.ns, x.name));

  const serviceOfPod = new Map<string, string>();
  const workloads: Workload[] = [];
  for (const x of candidates) {
    const service = workloadOf(x.pod, x.ns, lookup).service;
    if (!SERVICE_NAME_RE.test(service)) continue;
    serviceOfPod.set(key(x.ns, x.name), service);
    const addresses = addressesOf(x.pod).filter((ip) => holder.get(ip) === key(x.ns, x.name));
    if (addresses.length === 0) continue;
    const ports = [
      ...new Set(
        (x.pod.spec?.containers ?? []).flatMap((ct) =>
          (ct.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort),
        ),
      ),
    ].sort((a, b) => a - b);
    workloads.push({
      name: `${x.name}.${x.ns}`,
      service,
      addresses,
      ports,
      ...(!serving(x.pod) && { serving: false as const }),
    });
  }

  const behind = new Map<string, Set<string>>();
  for (const s of c.endpointSlices) {
    const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    const ns = s.metadata?.namespace ?? '';
    if (!svc) continue;
    const set = behind.get(key(ns, svc)) ?? new Set<string>();
    behind.set(key(ns, svc), set);
    for (const e of s.endpoints ?? []) {
      const t = e.targetRef;
      if (t?.kind !== 'Pod' || !t.name) continue;
      const owner = serviceOfPod.get(key(t.namespace ?? ns, t.name));
      if (owner) set.add(owner);
    }
  }
  const vips: ServiceVip[] = [];
  for (const s of c.services) {
    const ns = s.metadata?.namespace ?? '';
    const owners = behind.get(key(ns, s.metadata?.name ?? ''));
    if (!owners || owners.size !== 1) continue;
    const service = [...owners][0]!;
    const ips = s.spec?.clusterIPs ?? (s.spec?.clusterIP ? [s.spec.clusterIP] : []);
    for (const ip of ips) if (ip && ip !== 'None') vips.push({ service, address: ip });
  }
  workloads.sort((a, b) => (a.name < b.name ? -1 : 1));
  vips.sort((a, b) => (a.address < b.address ? -1 : 1));
  return { workloads, externals: [], vips };
}
