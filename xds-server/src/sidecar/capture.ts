// The capture ruleset installed in every pod namespace. Pure: the text is applied with `nft -f -` in one transaction.

export const CAPTURE_TABLE = 'nanoseg';
export const ENVOY_UID = 1337;
export const ENVOY_ADMIN_PORT = 15000;
export const OUTBOUND_CAPTURE_PORT = 15001;
export const INBOUND_CAPTURE_PORT = 15006;
/** The sidecar's readiness listener in Kubernetes (Istio's 15021). */
export const READINESS_PORT = 15021;

export interface CaptureOptions {
  readonly envoyUid?: number;
  readonly outboundPort?: number;
  readonly inboundPort?: number;
  readonly adminPort?: number;
  /**
   * Exclude the sidecar by its cgroup (`socket cgroupv2 level N "path"`, path relative to the cgroup2 mount)
   * instead of by uid: any process can run as uid 1337, only root can join the sidecar's cgroup. The rule text
   * names the path; nft resolves it to the cgroup's id when the ruleset is loaded.
   */
  readonly sidecarCgroup?: { readonly path: string; readonly level: number };
  /** the outbound (output) chain; false when the eBPF redirector captures outbound (default true) */
  readonly outbound?: boolean;
  /** Inbound destination ports left alone (reach the app directly, not through Envoy). */
  readonly excludeInboundPorts?: readonly number[];
  /** Outbound destination ports left alone. */
  readonly excludeOutboundPorts?: readonly number[];
  /** Outbound destination prefixes left alone, canonical CIDR text (IPv4 and IPv6 may be mixed). */
  readonly excludeOutboundCidrs?: readonly string[];
}

const set = (xs: readonly (string | number)[]): string => (xs.length === 1 ? String(xs[0]) : `{ ${xs.join(', ')} }`);

/**
 * `table inet nanoseg`: inbound TCP (except from lo and to Envoy's own ports) is redirected to the inbound listener;
 * outbound TCP from everything but the sidecar (its cgroup, or else its uid), not to loopback, to the outbound
 * listener. The text first declares and
 * deletes the table so that applying it replaces any previous version atomically (no window without rules).
 * Exclusions (ports, prefixes) are `return` rules placed before the redirect; none are written when none are given,
 * so the lab's ruleset is unchanged by them.
 */
export function captureRuleset(opts: CaptureOptions = {}): string {
  const uid = opts.envoyUid ?? ENVOY_UID;
  const outbound = opts.outboundPort ?? OUTBOUND_CAPTURE_PORT;
  const inbound = opts.inboundPort ?? INBOUND_CAPTURE_PORT;
  const admin = opts.adminPort ?? ENVOY_ADMIN_PORT;
  const inPorts = [...new Set(opts.excludeInboundPorts ?? [])].sort((a, b) => a - b);
  const outPorts = [...new Set(opts.excludeOutboundPorts ?? [])].sort((a, b) => a - b);
  const cidrs = [...new Set(opts.excludeOutboundCidrs ?? [])];
  const v4 = cidrs.filter((c) => !c.includes(':'));
  const v6 = cidrs.filter((c) => c.includes(':'));
  const opt = (cond: boolean, line: string): string[] => (cond ? [line] : []);
  const cg = opts.sidecarCgroup;
  const sidecar =
    cg !== undefined ? `socket cgroupv2 level ${cg.level} ${JSON.stringify(cg.path)}` : `meta skuid ${uid}`;
  const output = [
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    `    ${sidecar} return`,
    '    ip daddr 127.0.0.0/8 return',
    '    ip6 daddr ::1 return',
    ...opt(v4.length > 0, `    ip daddr ${set(v4)} return`),
    ...opt(v6.length > 0, `    ip6 daddr ${set(v6)} return`),
    ...opt(outPorts.length > 0, `    tcp dport ${set(outPorts)} return`),
    `    meta l4proto tcp redirect to :${outbound}`,
    '  }',
  ];
  return [
    `table inet ${CAPTURE_TABLE}`,
    `delete table inet ${CAPTURE_TABLE}`,
    `table inet ${CAPTURE_TABLE} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    '    iif "lo" return',
    `    tcp dport { ${admin}, ${outbound}, ${inbound} } return`,
    ...opt(inPorts.length > 0, `    tcp dport ${set(inPorts)} return`),
    `    meta l4proto tcp redirect to :${inbound}`,
    '  }',
    ...((opts.outbound ?? true) ? output : []),
    '}',
    '',
  ].join('\n');
}
