// THE one place where policy identities are resolved to something Envoy can check. Pure.
//
// Until mTLS exists, a service's identity on the wire is the set of CURRENT addresses of its workloads (from the
// inventory): RBAC principals are those addresses as /32 (IPv4) or /128 (IPv6), and they change as replicas come
// and go (each inventory change recompiles the policy and pushes new RBAC over ECDS, without touching listeners).
// When workloads get SPIFFE identities, `addressesOf` for a service peer is what gets replaced (by the service's
// SPIFFE ID, matched against the peer certificate); nothing else in the compiler or the generator resolves
// identities. An external peer is, and stays, its CIDR.
import { isServicePeer, type Inventory, type Peer, type ServiceName } from '../model/index.js';
import { canonicalCidr, canonicalIp, hostPrefix } from './ip.js';

function uniqueSorted(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort();
}

/**
 * Where connections FROM a peer come from: a service → each current workload address as a host prefix; an
 * external → its CIDR. Canonical text, sorted, no duplicates. A service with no running workload has none.
 */
export function addressesOf(peer: Peer, inv: Inventory): string[] {
  if (!isServicePeer(peer)) {
    const c = canonicalCidr(peer.cidr);
    return c ? [c] : [];
  }
  const out: string[] = [];
  for (const w of inv.workloads) {
    if (w.service !== peer.service) continue;
    for (const a of w.addresses) {
      const p = hostPrefix(a);
      if (p) out.push(p);
    }
  }
  return uniqueSorted(out);
}

/**
 * Where connections TO a peer go: what `addressesOf` returns plus, for a service, its VIP(s) (connections to a
 * VIP keep the VIP as their original destination when the client's sidecar sees them).
 */
export function destinationsOf(peer: Peer, inv: Inventory): string[] {
  if (!isServicePeer(peer)) return addressesOf(peer, inv);
  const vips = inv.vips.filter((v) => v.service === peer.service).map((v) => hostPrefix(v.address));
  return uniqueSorted([...addressesOf(peer, inv), ...vips.filter((v): v is string => v !== undefined)]);
}

/** Who is at an address: the service of a workload or VIP with that address, or the exact external. */
export interface AddressOwner {
  readonly peer: Peer;
  /** the workload, when the address is a workload's */
  readonly workload?: string;
  /** set when the address is a service VIP */
  readonly vip?: boolean;
  /** the inventory's display name of a named external */
  readonly externalName?: string;
}

/** The reverse of `addressesOf`/`destinationsOf`, for explanations: who the inventory says is at `ip`. */
export function ownerOf(ip: string, inv: Inventory): AddressOwner {
  const canon = canonicalIp(ip) ?? ip;
  for (const w of inv.workloads) {
    if (w.addresses.some((a) => canonicalIp(a) === canon)) return { peer: { service: w.service }, workload: w.name };
  }
  const vip = inv.vips.find((v) => canonicalIp(v.address) === canon);
  if (vip) return { peer: { service: vip.service }, vip: true };
  const ext = inv.externals.find((e) => canonicalIp(e.address) === canon);
  const cidr = hostPrefix(canon) ?? `${ip}/32`;
  return ext ? { peer: { cidr }, externalName: ext.name } : { peer: { cidr } };
}

/** Services the inventory knows (workloads or VIPs), sorted. */
export function knownServices(inv: Inventory): ServiceName[] {
  return uniqueSorted([...inv.workloads.map((w) => w.service), ...inv.vips.map((v) => v.service)]);
}
