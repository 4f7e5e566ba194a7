// The capture ruleset installed in every pod namespace. Pure: the text is applied with `nft -f -` in one transaction.

export const CAPTURE_TABLE = 'nanoseg';
export const ENVOY_UID = 1337;
export const ENVOY_ADMIN_PORT = 15000;
export const OUTBOUND_CAPTURE_PORT = 15001;
export const INBOUND_CAPTURE_PORT = 15006;

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
}

/**
 * `table inet nanoseg`: inbound TCP (except from lo and to Envoy's own ports) is redirected to the inbound listener;
 * outbound TCP from everything but the sidecar (its cgroup, or else its uid), not to loopback, to the outbound
 * listener. The text first declares and
 * deletes the table so that applying it replaces any previous version atomically (no window without rules).
 */
export function captureRuleset(opts: CaptureOptions = {}): string {
  const uid = opts.envoyUid ?? ENVOY_UID;
  const outbound = opts.outboundPort ?? OUTBOUND_CAPTURE_PORT;
  const inbound = opts.inboundPort ?? INBOUND_CAPTURE_PORT;
  const admin = opts.adminPort ?? ENVOY_ADMIN_PORT;
  const cg = opts.sidecarCgroup;
  const sidecar =
    cg !== undefined ? `socket cgroupv2 level ${cg.level} ${JSON.stringify(cg.path)}` : `meta skuid ${uid}`;
  const output = [
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    `    ${sidecar} return`,
    '    ip daddr 127.0.0.0/8 return',
    '    ip6 daddr ::1 return',
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
    `    meta l4proto tcp redirect to :${inbound}`,
    '  }',
    ...((opts.outbound ?? true) ? output : []),
    '}',
    '',
  ].join('\n');
}
