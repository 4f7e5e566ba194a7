// THE identity index: address / Envoy node id → workload → service, built once per inventory version from the
// merged inventory and swapped whole (like Tailscale's filter behind an atomic pointer): holders replace their
// reference when the inventory changes and never mutate an index in place. Attribution of access logs, deny
// explanations, which service a connected sidecar belongs to, and the API's views all ask this one index. Pure.
import type { Inventory, NamedExternal, Peer, ServiceName, ServiceVip, Workload } from '../model/index.js';
import { hostCidr } from '../model/index.js';
import { canonicalIp } from '../policy/ip.js';
import { envoyNodeId } from '../sidecar/bootstrap.js';

/** A known running instance, as seen at one address. */
export interface WorkloadRef {
  readonly workload: string;
  readonly service: ServiceName;
}

/** Who the inventory says is at an address (for explanations and alerts). */
export interface AddressOwner {
  readonly peer: Peer;
  /** the workload, when the address is a workload's */
  readonly workload?: string;
  /** set when the address is a service VIP */
  readonly vip?: boolean;
  /** the inventory's display name of a named external */
  readonly externalName?: string;
}

/**
 * Canonical text form of an IP address as it appears in Envoy socket addresses: IPv4-mapped IPv6 addresses
 * (`::ffff:10.0.0.1`) become plain IPv4, IPv6 is written canonically, surrounding brackets are dropped.
 */
export function normalizeIp(ip: string): string {
  let s = ip;
  if (s.length > 1 && s.charCodeAt(0) === 91 /* [ */ && s.charCodeAt(s.length - 1) === 93 /* ] */) s = s.slice(1, -1);
  if (s.indexOf(':') < 0) return s; // IPv4 fast path: no allocation
  s = s.toLowerCase();
  if (s.startsWith('::ffff:') && s.indexOf('.') > 0) return s.slice(7);
  // one text per IPv6 address (RFC 5952), so 2001:DB8:0::1 and 2001:db8::1 are the same key everywhere
  return canonicalIp(s) ?? s;
}

/** indexes by the inventory object they were built from */
const built = new WeakMap<Inventory, IdentityIndex>();

export class IdentityIndex {
  /** An index that knows nobody: every address is an external. */
  static readonly EMPTY: IdentityIndex = IdentityIndex.build({ workloads: [], externals: [], vips: [] });

  private constructor(
    /** the merged inventory this index was built from */
    readonly inventory: Inventory,
    private readonly byIp: ReadonlyMap<string, WorkloadRef>,
    private readonly byVip: ReadonlyMap<string, ServiceName>,
    private readonly externalsByIp: ReadonlyMap<string, string>,
    private readonly byNodeId: ReadonlyMap<string, WorkloadRef>,
    private readonly byService: ReadonlyMap<ServiceName, readonly Workload[]>,
    private readonly vipsByService: ReadonlyMap<ServiceName, readonly ServiceVip[]>,
    /** Addresses claimed by more than one workload/VIP; the first claim wins. Shown by diagnostics. */
    readonly conflicts: readonly string[],
  ) {}

  /**
   * Builds the index. Node ids are matched as `<pod>.<namespace>` and as the bare workload name; when an address
   * is claimed twice the first claim wins and the address is listed in `conflicts`.
   */
  static build(inv: Inventory): IdentityIndex {
    const byIp = new Map<string, WorkloadRef>();
    const byVip = new Map<string, ServiceName>();
    const externals = new Map<string, string>();
    const byNode = new Map<string, WorkloadRef>();
    const byService = new Map<ServiceName, Workload[]>();
    const vipsByService = new Map<ServiceName, ServiceVip[]>();
    const conflicts: string[] = [];

    for (const w of inv.workloads) {
      const ref: WorkloadRef = Object.freeze({ workload: w.name, service: w.service });
      push(byService, w.service, w);
      for (const a of w.addresses) {
        const ip = normalizeIp(a);
        if (byIp.has(ip)) conflicts.push(ip);
        else byIp.set(ip, ref);
      }
      if (!byNode.has(w.name)) byNode.set(w.name, ref);
      if (w.service.includes('/')) {
        const pod = w.name.includes('/') ? w.name.slice(w.name.lastIndexOf('/') + 1) : w.name;
        const id = envoyNodeId(pod, w.service);
        if (!byNode.has(id)) byNode.set(id, ref);
      }
    }
    for (const v of inv.vips) {
      const ip = normalizeIp(v.address);
      push(vipsByService, v.service, v);
      if (byVip.has(ip) || byIp.has(ip)) conflicts.push(ip);
      else byVip.set(ip, v.service);
    }
    for (const e of inv.externals) {
      const ip = normalizeIp(e.address);
      // A named external never overrides a workload or VIP: those are not externals by definition.
      if (!externals.has(ip) && !byIp.has(ip) && !byVip.has(ip)) externals.set(ip, e.name);
    }
    return new IdentityIndex(inv, byIp, byVip, externals, byNode, byService, vipsByService, Object.freeze(conflicts));
  }

  /** The workload that owns `ip` (already normalized with normalizeIp). */
  workloadAt(ip: string): WorkloadRef | undefined {
    return this.byIp.get(ip);
  }

  /** The service whose virtual address is `ip`. */
  vipService(ip: string): ServiceName | undefined {
    return this.byVip.get(ip);
  }

  /** The service reached at `ip`: through its VIP or one of its workloads' addresses. */
  serviceAt(ip: string): ServiceName | undefined {
    return this.byVip.get(ip) ?? this.byIp.get(ip)?.service;
  }

  /** Display name of a named external (it stays an external: names are for people only). */
  externalName(ip: string): string | undefined {
    return this.externalsByIp.get(ip);
  }

  /** The workload an Envoy node id stands for (`<pod>.<namespace>` or the workload name). */
  workloadByNodeId(nodeId: string): WorkloadRef | undefined {
    return this.byNodeId.get(nodeId);
  }

  /**
   * The service a connected sidecar belongs to: its workload's (found by node id), else the node's cluster (what
   * the sidecar's bootstrap declares, e.g. before the inventory knows the pod).
   */
  serviceOfNode(nodeId: string, cluster: string): ServiceName {
    return this.byNodeId.get(nodeId)?.service ?? cluster;
  }

  hasService(name: ServiceName): boolean {
    return this.byService.has(name) || this.vipsByService.has(name);
  }

  /** The workloads of a service, in inventory order. */
  workloadsOf(service: ServiceName): readonly Workload[] {
    return this.byService.get(service) ?? [];
  }

  /** The VIPs of a service. */
  vipsOf(service: ServiceName): readonly ServiceVip[] {
    return this.vipsByService.get(service) ?? [];
  }

  /** Services with workloads, sorted. */
  services(): ServiceName[] {
    return [...this.byService.keys()].sort();
  }

  /** Who the inventory says is at `ip`: a workload's or VIP's service, a named external, or the exact external. */
  ownerOf(ip: string): AddressOwner {
    const n = normalizeIp(ip);
    const w = this.byIp.get(n);
    if (w) return { peer: { service: w.service }, workload: w.workload };
    const vip = this.byVip.get(n);
    if (vip) return { peer: { service: vip }, vip: true };
    const name = this.externalsByIp.get(n);
    const cidr = hostCidr(n);
    return name !== undefined ? { peer: { cidr }, externalName: name } : { peer: { cidr } };
  }

  /** The named externals (display only). */
  get externals(): readonly NamedExternal[] {
    return this.inventory.externals;
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** The index of an inventory, built once per inventory object; an index is returned as is. */
export function identities(x: Inventory | IdentityIndex): IdentityIndex {
  if (x instanceof IdentityIndex) return x;
  let idx = built.get(x);
  if (!idx) built.set(x, (idx = IdentityIndex.build(x)));
  return idx;
}
