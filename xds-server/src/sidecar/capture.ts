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
}

/**
 * `table inet nanoseg`: inbound TCP (except from lo and to Envoy's own ports) is redirected to the inbound listener;
 * outbound TCP from every uid but Envoy's, not to loopback, to the outbound listener. The text first declares and
 * deletes the table so that applying it replaces any previous version atomically (no window without rules).
 */
export function captureRuleset(opts: CaptureOptions = {}): string {
  const uid = opts.envoyUid ?? ENVOY_UID;
  const outbound = opts.outboundPort ?? OUTBOUND_CAPTURE_PORT;
  const inbound = opts.inboundPort ?? INBOUND_CAPTURE_PORT;
  const admin = opts.adminPort ?? ENVOY_ADMIN_PORT;
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
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    `    meta skuid ${uid} return`,
    '    ip daddr 127.0.0.0/8 return',
    '    ip6 daddr ::1 return',
    `    meta l4proto tcp redirect to :${outbound}`,
    '  }',
    '}',
    '',
  ].join('\n');
}
