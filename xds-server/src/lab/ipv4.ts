// IPv4 arithmetic for the lab: addresses as unsigned 32-bit numbers. Pure.

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(s: string): boolean {
  return IPV4_RE.test(s);
}

export function ipToInt(ip: string): number {
  if (!isIPv4(ip)) throw new Error(`not an IPv4 address: ${ip}`);
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  readonly network: number;
  readonly prefix: number;
  /** number of addresses in the block */
  readonly size: number;
}

/** Parses `a.b.c.d/len`; returns undefined when malformed or when host bits are set. */
export function parseCidr(s: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m || !isIPv4(m[1]!)) return undefined;
  const prefix = Number(m[2]);
  if (prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  const addr = ipToInt(m[1]!);
  if (addr % size !== 0) return undefined;
  return { network: addr, prefix, size };
}

export function cidrContains(c: Cidr, ip: string | number): boolean {
  const n = typeof ip === 'number' ? ip : ipToInt(ip);
  return n >= c.network && n < c.network + c.size;
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.network)}/${c.prefix}`;
}

/** Addresses the lab reserves inside its subnet: the gateway (network+1) and the VIP block (last /24). */
export interface LabAddressPlan {
  readonly subnet: Cidr;
  readonly gateway: number;
  readonly vipBlock: Cidr;
}

export function labAddressPlan(subnet: Cidr): LabAddressPlan {
  const vipStart = subnet.network + subnet.size - 256;
  return { subnet, gateway: subnet.network + 1, vipBlock: { network: vipStart, prefix: 24, size: 256 } };
}

/** Why `ip` cannot be a pod address in the lab subnet, or undefined when it can. */
export function podAddressProblem(plan: LabAddressPlan, ip: string): string | undefined {
  const n = ipToInt(ip);
  if (!cidrContains(plan.subnet, n)) return `not an IPv4 address in ${formatCidr(plan.subnet)}`;
  if (n === plan.subnet.network) return 'is the network address of the lab subnet';
  if (n === plan.gateway) return `is reserved for the lab gateway (${intToIp(plan.gateway)})`;
  if (cidrContains(plan.vipBlock, n)) return `is in ${formatCidr(plan.vipBlock)}, reserved for service VIPs`;
  return undefined;
}

/** Why `ip` cannot be an external's address, or undefined when it can. */
export function externalAddressProblem(plan: LabAddressPlan, ip: string): string | undefined {
  const n = ipToInt(ip);
  if (cidrContains(plan.subnet, n)) return `must not be in the pod subnet ${formatCidr(plan.subnet)}`;
  const first = n >>> 24;
  if (first === 0) return 'must not be in 0.0.0.0/8';
  if (first === 127) return 'must not be a loopback address';
  if (first >= 224 && first < 240) return 'must not be a multicast address';
  if (first >= 240) return 'must not be a reserved or broadcast address';
  return undefined;
}
