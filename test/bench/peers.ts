// Pure: the never-contacted peers the scale benchmarks add to a policy (rbac-scale's sidecar RBAC, kernel-cost's
// kernel sets): /32 sources from 198.18.0.0/15, the block RFC 2544 sets aside for benchmarks.

/** How many peers benchPeerCidr can give: 198.18.0.1 … 198.19.255.255. */
export const MAX_BENCH_PEERS = (1 << 17) - 1;

/** The i-th extra peer (i ≥ 0): 198.18.0.1/32, 198.18.0.2/32, …, 198.18.1.0/32, … */
export function benchPeerCidr(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_BENCH_PEERS) throw new Error(`bench peer index out of range: ${i}`);
  const n = i + 1;
  return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}/32`;
}

/** `n` rules for distinct bench peers, one protocol and port (as a policy file writes them; no port for icmp). */
export function benchPeerRules<P extends string>(
  n: number,
  protocol: P,
  port: number | undefined,
): { peer: { cidr: string }; protocol: P; port?: number }[] {
  return Array.from({ length: n }, (_, i) => ({
    peer: { cidr: benchPeerCidr(i) },
    protocol,
    ...(port !== undefined && { port }),
  }));
}

/** Whether a CIDR is one of the bench peers' (inside 198.18.0.0/15). */
export function isBenchPeer(cidr: string): boolean {
  return /^198\.1[89]\./.test(cidr);
}
