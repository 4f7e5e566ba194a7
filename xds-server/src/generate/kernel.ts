// Pure kernel-rule compiler: the same compiled policies the sidecars enforce (policy/compile.ts), as one nftables
// ruleset for the host side of every pod (the lab: its host namespace, where every pod's traffic is routed). The
// kernel point applies the text with `nft -f` as ONE transaction; it declares and deletes its own tables first, so
// applying replaces the previous rules atomically (no window with no rules, none with old and new mixed).
//
// Two tables, both named `nanoseg`:
//   bridge  anti-spoofing and fail-closed. Every frame a port sends to the gateway must carry an address the
//           inventory binds to that port (`iifname . ip saddr`, ARP likewise); anything else — a forged source, a port
//           nanoseg does not know yet (a pod whose rules are not installed), IPv6 — is dropped and logged
//           (`nsg spoof`). Frames bridged port to port are dropped: pods and externals have /32 addresses and route
//           everything via the gateway, so nothing legitimate needs L2 between ports (a root app adding a neighbour
//           entry for another pod would otherwise skip the routed path).
//   inet    the policy, stateful, on the routed path (forward; input for traffic to the gateway itself):
//           replies to allowed flows (ct established,related) pass; a new flow from a monitored or enforced
//           service's address jumps to that service's egress chain, a new flow to one jumps to its ingress chain;
//           each chain returns when a rule allows the flow (a set lookup: transport . address . port, or address for
//           icmp), else logs `nsg deny SIDE` and drops (enforce) or logs `nsg wd SIDE` and returns (monitor). New
//           udp and icmp flows that pass are logged `nsg obs` (learning; TCP is learned from Envoy's access logs).
//
// tcp, http and grpc rules are TCP to their port here (SNI and L7 are the sidecar's); TCP passes only if both points
// allow it. Learn-mode services get no chain. IPv4 only.
import { hasPort, transportOf, type Inventory, type Mode, type ServiceName } from '../model/index.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { parseCidr } from '../policy/ip.js';

export const KERNEL_TABLE = 'nanoseg';
/** NFLOG group the kernel point reads. */
export const DEFAULT_LOG_GROUP = 15;

/** Log prefixes: the kind of event and, for verdicts, the side of the policy that decided. */
export const KERNEL_LOG = {
  observed: 'nsg obs',
  spoofed: 'nsg spoof',
  verdict: (verdict: 'deny' | 'wd', side: 'egress' | 'ingress') => `nsg ${verdict} ${side}`,
} as const;

export interface KernelService {
  readonly service: ServiceName;
  readonly mode: Mode;
  /** the policy in force (what the sidecar enforces too) */
  readonly compiled: CompiledPolicy;
}

export interface KernelInput {
  readonly services: readonly KernelService[];
  /** who is where: workload and external addresses with their host-side interfaces */
  readonly inventory: Inventory;
  readonly logGroup?: number;
}

function isV4(a: string): boolean {
  return !a.includes(':');
}

function v4Cidr(c: string): string | undefined {
  const r = parseCidr(c);
  return 'cidr' in r && isV4(c) ? c : undefined;
}

/** Deterministic chain/set name of a service side: `egress/shop/web`. */
export function chainName(side: 'egress' | 'ingress', service: ServiceName): string {
  return `${side}/${service}`;
}

function elements(xs: readonly string[], indent: string): string {
  if (xs.length === 0) return '';
  return `\n${indent}elements = {\n${xs.map((x) => `${indent}  ${x},`).join('\n')}\n${indent}}`;
}

function set(name: string, type: string, items: readonly string[], interval: boolean): string[] {
  const flags = interval ? '\n    flags interval;' : '';
  return [`  set ${name} {\n    type ${type};${flags}${elements([...new Set(items)].sort(), '    ')}\n  }`];
}

interface SideRules {
  readonly ports: string[];
  readonly icmp: string[];
}

function egressRules(c: CompiledPolicy): SideRules {
  const ports: string[] = [];
  const icmp: string[] = [];
  for (const d of c.outbound) {
    if (!d.rule.points.includes('kernel')) continue;
    for (const cidr of d.cidrs.map(v4Cidr)) {
      if (cidr === undefined) continue;
      if (!hasPort(d.protocol)) icmp.push(cidr);
      else ports.push(`${transportOf(d.protocol)} . ${cidr} . ${d.port}`);
    }
  }
  return { ports, icmp };
}

function ingressRules(c: CompiledPolicy): SideRules {
  const ports: string[] = [];
  const icmp: string[] = [];
  for (const p of c.inbound) {
    for (const s of p.sources) {
      const cidr = v4Cidr(s.cidr);
      if (cidr === undefined || !s.rule.points.includes('kernel')) continue;
      const proto = s.rule.rule.protocol;
      if (!hasPort(proto)) icmp.push(cidr);
      else ports.push(`${transportOf(proto)} . ${cidr} . ${p.port}`);
    }
  }
  return { ports, icmp };
}

function sideChain(side: 'egress' | 'ingress', s: KernelService, rules: SideRules, group: number): string[] {
  const name = chainName(side, s.service);
  const peer = side === 'egress' ? 'daddr' : 'saddr';
  const enforce = s.mode === 'enforce';
  const prefix = KERNEL_LOG.verdict(enforce ? 'deny' : 'wd', side);
  return [
    ...set(`${name}/ports`, 'inet_proto . ipv4_addr . inet_service', rules.ports, true),
    ...set(`${name}/icmp`, 'ipv4_addr', rules.icmp, true),
    `  chain ${name} {`,
    `    meta l4proto . ip ${peer} . th dport @${name}/ports return`,
    `    meta l4proto icmp ip ${peer} @${name}/icmp return`,
    `    log group ${group} prefix "${prefix}" ${enforce ? 'drop' : 'return'}`,
    '  }',
  ];
}

/** The whole desired kernel state as `nft -f` text. Deterministic: same input, same text. */
export function kernelRuleset(input: KernelInput): string {
  const group = input.logGroup ?? DEFAULT_LOG_GROUP;
  const inv = input.inventory;
  const bound: string[] = [];
  for (const w of inv.workloads) {
    if (w.interface === undefined) continue;
    for (const a of w.addresses.filter(isV4)) bound.push(`"${w.interface}" . ${a}`);
  }
  for (const e of inv.externals) {
    if (e.interface !== undefined && isV4(e.address)) bound.push(`"${e.interface}" . ${e.address}`);
  }

  const active = [...input.services].filter((s) => s.mode !== 'learn').sort((a, b) => (a.service < b.service ? -1 : 1));
  const addrsOf = new Map<ServiceName, string[]>();
  for (const w of inv.workloads) {
    const list = addrsOf.get(w.service) ?? [];
    list.push(...w.addresses.filter(isV4));
    addrsOf.set(w.service, list);
  }
  const egressMap: string[] = [];
  const ingressMap: string[] = [];
  const chains: string[] = [];
  for (const s of active) {
    for (const a of addrsOf.get(s.service) ?? []) {
      egressMap.push(`${a} : jump ${chainName('egress', s.service)}`);
      ingressMap.push(`${a} : jump ${chainName('ingress', s.service)}`);
    }
    chains.push(...sideChain('egress', s, egressRules(s.compiled), group));
    chains.push(...sideChain('ingress', s, ingressRules(s.compiled), group));
  }
  const vmap = (name: string, items: string[]) =>
    `  map ${name} {\n    type ipv4_addr : verdict;${elements([...new Set(items)].sort(), '    ')}\n  }`;

  return [
    '# generated by nanoseg (kernel enforcement point): do not edit, it is replaced whole',
    `table bridge ${KERNEL_TABLE}`,
    `delete table bridge ${KERNEL_TABLE}`,
    `table bridge ${KERNEL_TABLE} {`,
    ...set('bound', 'ifname . ipv4_addr', bound, false),
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    '    ether type arp iifname . arp saddr ip @bound accept',
    '    ether type ip iifname . ip saddr @bound accept',
    `    log group ${group} prefix "${KERNEL_LOG.spoofed}" drop`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy drop;',
    '  }',
    '}',
    `table inet ${KERNEL_TABLE}`,
    `delete table inet ${KERNEL_TABLE}`,
    `table inet ${KERNEL_TABLE} {`,
    vmap('egress', egressMap),
    vmap('ingress', ingressMap),
    ...chains,
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    '    ct state established,related accept',
    '    ip saddr vmap @egress',
    '    ip daddr vmap @ingress',
    `    meta l4proto { udp, icmp } ct state new log group ${group} prefix "${KERNEL_LOG.observed}"`,
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    '    ct state established,related accept',
    '    ip saddr vmap @egress',
    '  }',
    '}',
    '',
  ].join('\n');
}
