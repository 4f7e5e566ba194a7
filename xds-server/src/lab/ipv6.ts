// IPv6 arithmetic for a dual-stack lab (`subnet6:`, `address6:`): addresses as 128-bit bigints, text in the
// canonical form of policy/ip.ts (so the lab, the inventory and the policy compare the same strings). Pure.
import { formatIp, parseIp } from '../policy/ip.js';

export interface Cidr6 {
  readonly network: bigint;
  readonly prefix: number;
}

/** The prefix lengths a lab subnet6 may have: room for the pods, and an on-link /64 at most. */
export const MIN_SUBNET6_PREFIX = 64;
export const MAX_SUBNET6_PREFIX = 120;

function toBig(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function fromBig(n: bigint): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/** The address as a number, or undefined when `s` is not an IPv6 address. */
export function ip6ToBig(s: string): bigint | undefined {
  const a = parseIp(s);
  return a?.family === 6 ? toBig(a.bytes) : undefined;
}

export function isIPv6(s: string): boolean {
  return ip6ToBig(s) !== undefined;
}

export function bigToIp6(n: bigint): string {
  return formatIp({ family: 6, bytes: fromBig(n) });
}

/** Canonical text of an IPv6 address (`FD00:0::B` → `fd00::b`). */
export function canonicalIp6(s: string): string | undefined {
  const n = ip6ToBig(s);
  return n === undefined ? undefined : bigToIp6(n);
}

/** Parses `ADDRESS/PREFIX` (IPv6); undefined when malformed or host bits are set. */
export function parseCidr6(s: string): Cidr6 | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const network = ip6ToBig(m[1]!);
  const prefix = Number(m[2]);
  if (network === undefined || prefix > 128) return undefined;
  if ((network & hostMask(prefix)) !== 0n) return undefined;
  return { network, prefix };
}

function hostMask(prefix: number): bigint {
  return (1n << BigInt(128 - prefix)) - 1n;
}

export function formatCidr6(c: Cidr6): string {
  return `${bigToIp6(c.network)}/${c.prefix}`;
}

export function cidr6Contains(c: Cidr6, n: bigint): boolean {
  return (n & ~hostMask(c.prefix) & ((1n << 128n) - 1n)) === c.network;
}

/** The last address of the block (the planner never goes past it). */
export function cidr6Last(c: Cidr6): bigint {
  return c.network | hostMask(c.prefix);
}

/** The gateway of a lab subnet6: network+1 (like IPv4's), on the lab bridge. */
export function gateway6(c: Cidr6): bigint {
  return c.network + 1n;
}

/** Why `ip` cannot be a pod's IPv6 address in the lab's subnet6, or undefined when it can. */
export function podAddress6Problem(subnet: Cidr6, ip: string): string | undefined {
  const n = ip6ToBig(ip)!;
  if (!cidr6Contains(subnet, n)) return `not an IPv6 address in ${formatCidr6(subnet)}`;
  if (n === subnet.network) return 'is the network address of the lab subnet6 (the subnet-router anycast address)';
  if (n === gateway6(subnet)) return `is reserved for the lab gateway (${bigToIp6(gateway6(subnet))})`;
  return undefined;
}

const V4_MAPPED: Cidr6 = { network: 0xffffn << 32n, prefix: 96 };
const LINK_LOCAL: Cidr6 = { network: 0xfe80n << 112n, prefix: 10 };
const MULTICAST: Cidr6 = { network: 0xffn << 120n, prefix: 8 };

/** Why `ip` cannot be an external's IPv6 address, or undefined when it can. */
export function externalAddress6Problem(subnet: Cidr6, ip: string): string | undefined {
  const n = ip6ToBig(ip)!;
  if (cidr6Contains(subnet, n)) return `must not be in the pod subnet6 ${formatCidr6(subnet)}`;
  if (n === 0n) return 'must not be the unspecified address ::';
  if (n === 1n) return 'must not be the loopback address ::1';
  if (cidr6Contains(V4_MAPPED, n)) return 'must not be an IPv4-mapped address (write the IPv4 address in address:)';
  if (cidr6Contains(LINK_LOCAL, n)) return 'must not be a link-local address (fe80::/10)';
  if (cidr6Contains(MULTICAST, n)) return 'must not be a multicast address (ff00::/8)';
  return undefined;
}

/** One member as the IPv6 planner sees it. */
export interface Address6Request {
  readonly name: string;
  /** written in the lab file */
  readonly explicit?: string | undefined;
  /** gets an address when it has none written (pods and the resolver; externals never do) */
  readonly auto: boolean;
  /** what it had in the previous state */
  readonly previous?: string | undefined;
}

/**
 * The members' IPv6 addresses, like IPv4's: explicit ones as written; else (for `auto` members) the previous one
 * while it is still free and in the subnet; else the lowest free one after the gateway, in request order.
 */
export function assignAddresses6(subnet: Cidr6, members: readonly Address6Request[]): Map<string, string> {
  const taken = new Set<bigint>();
  const out = new Map<string, string>();
  for (const m of members) {
    if (m.explicit === undefined) continue;
    taken.add(ip6ToBig(m.explicit)!);
    out.set(m.name, m.explicit);
  }
  const gw = gateway6(subnet);
  const usable = (n: bigint): boolean => cidr6Contains(subnet, n) && n > gw && !taken.has(n);
  const auto = members.filter((m) => m.auto && m.explicit === undefined);
  for (const m of auto) {
    const n = m.previous !== undefined ? ip6ToBig(m.previous) : undefined;
    if (n !== undefined && usable(n)) {
      out.set(m.name, bigToIp6(n));
      taken.add(n);
    }
  }
  let cursor = gw + 1n;
  const last = cidr6Last(subnet);
  for (const m of auto) {
    if (out.has(m.name)) continue;
    while (!usable(cursor)) {
      if (cursor >= last) throw new Error(`planLab: no free IPv6 address left in ${formatCidr6(subnet)}`);
      cursor++;
    }
    out.set(m.name, bigToIp6(cursor));
    taken.add(cursor);
  }
  return out;
}
