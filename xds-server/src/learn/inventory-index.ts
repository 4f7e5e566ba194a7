// Immutable lookup tables built from an Inventory. Pure: no I/O.
//
// The index is built once per inventory version and swapped whole (like Tailscale's filter behind an atomic
// pointer): holders replace their reference when the inventory changes and never mutate an index in place.

import type { Inventory, ServiceName } from '../model/index.js';

/** A known running instance, as seen at one address. */
export interface WorkloadRef {
  readonly workload: string;
  readonly service: ServiceName;
}

/**
 * Canonical text form of an IP address as it appears in Envoy socket addresses: IPv4-mapped IPv6 addresses
 * (`::ffff:10.0.0.1`) become plain IPv4, IPv6 is lower-cased, surrounding brackets are dropped.
 */
export function normalizeIp(ip: string): string {
  let s = ip;
  if (s.length > 1 && s.charCodeAt(0) === 91 /* [ */ && s.charCodeAt(s.length - 1) === 93 /* ] */) s = s.slice(1, -1);
  if (s.indexOf(':') < 0) return s; // IPv4 fast path: no allocation
  s = s.toLowerCase();
  if (s.startsWith('::ffff:') && s.indexOf('.') > 0) return s.slice(7);
  return s;
}

export class InventoryIndex {
  /** An index that knows nobody: every address is an external. */
  static readonly EMPTY: InventoryIndex = InventoryIndex.build({ workloads: [], externals: [], vips: [] });

  private constructor(
    private readonly byIp: ReadonlyMap<string, WorkloadRef>,
    private readonly byVip: ReadonlyMap<string, ServiceName>,
    private readonly externalsByIp: ReadonlyMap<string, string>,
    private readonly byNodeId: ReadonlyMap<string, WorkloadRef>,
    private readonly serviceNames: ReadonlySet<ServiceName>,
    /** Addresses claimed by more than one workload/VIP; the first claim wins. Shown by diagnostics. */
    readonly conflicts: readonly string[],
  ) {}

  /**
   * Builds the index. Node ids are matched as `<pod>.<namespace>` (the lab's and Istio's convention) and as the
   * bare workload name; when an address is claimed twice the first claim wins and the address is listed in
   * `conflicts`.
   */
  static build(inv: Inventory): InventoryIndex {
    const byIp = new Map<string, WorkloadRef>();
    const byVip = new Map<string, ServiceName>();
    const externals = new Map<string, string>();
    const byNode = new Map<string, WorkloadRef>();
    const services = new Set<ServiceName>();
    const conflicts: string[] = [];

    for (const w of inv.workloads) {
      const ref: WorkloadRef = Object.freeze({ workload: w.name, service: w.service });
      services.add(w.service);
      for (const a of w.addresses) {
        const ip = normalizeIp(a);
        if (byIp.has(ip)) conflicts.push(ip);
        else byIp.set(ip, ref);
      }
      const slash = w.service.indexOf('/');
      const ns = slash > 0 ? w.service.slice(0, slash) : '';
      const pod = w.name.includes('/') ? w.name.slice(w.name.lastIndexOf('/') + 1) : w.name;
      if (!byNode.has(w.name)) byNode.set(w.name, ref);
      if (ns !== '' && !byNode.has(`${pod}.${ns}`)) byNode.set(`${pod}.${ns}`, ref);
    }
    for (const v of inv.vips) {
      const ip = normalizeIp(v.address);
      services.add(v.service);
      if (byVip.has(ip) || byIp.has(ip)) conflicts.push(ip);
      else byVip.set(ip, v.service);
    }
    for (const e of inv.externals) {
      const ip = normalizeIp(e.address);
      // A named external never overrides a workload or VIP: those are not externals by definition.
      if (!externals.has(ip) && !byIp.has(ip) && !byVip.has(ip)) externals.set(ip, e.name);
    }
    return new InventoryIndex(byIp, byVip, externals, byNode, services, Object.freeze(conflicts));
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

  hasService(name: ServiceName): boolean {
    return this.serviceNames.has(name);
  }
}
