// THE one place where policy identities are resolved to something Envoy can check. Pure.
//
// Until mTLS exists, a service's identity on the wire is the set of CURRENT addresses of its workloads (from the
// inventory): RBAC principals are those addresses as /32 (IPv4) or /128 (IPv6), and they change as replicas come
// and go (each inventory change recompiles the policy and pushes new RBAC over ECDS, without touching listeners).
// When workloads get SPIFFE identities, `addressesOf` for a service peer is what gets replaced (by the service's
// SPIFFE ID, matched against the peer certificate); nothing else in the compiler or the generator resolves
// identities. An external peer is, and stays, its CIDR.
import { identities, type IdentityIndex } from '../inventory/identity.js';
import { isServicePeer, type Inventory, type Peer } from '../model/index.js';
import { canonicalCidr, hostPrefix } from './ip.js';

/** Who is who: the identity index (an inventory is indexed once and cached). */
export type Identities = Inventory | IdentityIndex;

function uniqueSorted(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort();
}

/**
 * Where connections FROM a peer come from: a service → each current workload address as a host prefix; an
 * external → its CIDR. Canonical text, sorted, no duplicates. A service with no running workload has none.
 */
export function addressesOf(peer: Peer, ids: Identities): string[] {
  if (!isServicePeer(peer)) {
    const c = canonicalCidr(peer.cidr);
    return c ? [c] : [];
  }
  const out: string[] = [];
  for (const w of identities(ids).workloadsOf(peer.service)) {
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
export function destinationsOf(peer: Peer, ids: Identities): string[] {
  if (!isServicePeer(peer)) return addressesOf(peer, ids);
  const vips = identities(ids)
    .vipsOf(peer.service)
    .map((v) => hostPrefix(v.address));
  return uniqueSorted([...addressesOf(peer, ids), ...vips.filter((v): v is string => v !== undefined)]);
}
