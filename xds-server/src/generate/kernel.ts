// Pure kernel-rule compiler: the same compiled policies the sidecars enforce (policy/compile.ts), as one nftables
// ruleset for the host side of every pod (the lab: its host namespace, where every pod's traffic is routed), built as
// objects (sets, maps, chains per table) and rendered as `nft -f` text. The full text declares and deletes its own
// tables first, so applying it replaces the previous rules atomically (no window with no rules, none with old and
// new mixed); kernel-update.ts turns two such states into the smaller transaction that changes one into the other.
//
// Two tables, both named `nanoseg`:
//   bridge  anti-spoofing and fail-closed. Every frame a port sends to the gateway must carry an address the
//           inventory binds to that port (`iifname . ip saddr`, `ip6 saddr`, ARP's sender and an IPv6 neighbour
//           advertisement's target likewise); anything else — a forged source, a port nanoseg does not know yet (a
//           pod whose rules are not installed) — is dropped and logged (`nsg spoof`). Frames bridged port to port
//           are dropped: pods and externals have /32 (/128) addresses and route everything via the gateway, so
//           nothing legitimate needs L2 between ports (a root app adding a neighbour entry for another pod would
//           otherwise skip the routed path).
//   inet    the policy, stateful, on the routed path (forward; input for traffic to the gateway itself):
//           replies to allowed flows (ct established,related) pass; a new flow from a monitored or enforced
//           service's address jumps to that service's egress chain, a new flow to one jumps to its ingress chain;
//           each chain returns when a rule allows the flow (set lookups: transport . address . port, or address for
//           icmp; single addresses in hash sets, ranges in interval sets), else logs `nsg deny SIDE` and drops (enforce) or logs `nsg wd SIDE` and returns (monitor). New
//           udp and icmp flows that pass are logged `nsg obs` (learning; TCP is learned from Envoy's access logs).
//
// tcp, http and grpc rules are TCP to their port here (SNI and L7 are the sidecar's); TCP passes only if both points
// allow it. Learn-mode services get no chain. IPv4 and IPv6 alike: each has its own sets and maps (a rule goes into
// its peer's family), so an IPv6 flow matches only IPv6 rules; ICMP rules are ICMPv6 echo for IPv6 peers.
import { hasPort, transportOf, type Inventory, type Mode, type ServiceName } from '../model/index.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { parseCidr, parseIp } from '../policy/ip.js';

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

/**
 * A Kubernetes node instead of the lab: the rules go to the node's own namespace, where its pods sit on the CNI's
 * bridge and the inet hooks see their bridged frames (br_netfilter, `net.bridge.bridge-nf-call-iptables=1`). No
 * bridge table: the CNI, not nanoseg, binds addresses to ports, and other bridges of the node are none of ours. Every
 * pod may reach the control plane's sidecar listeners (`controlPlane`, TCP), as its sidecar must; udp and icmp flows
 * are logged for learning only when they are a pod's.
 */
export interface KernelNode {
  readonly controlPlane: readonly { readonly address: string; readonly port: number }[];
}

export interface KernelInput {
  readonly services: readonly KernelService[];
  /** who is where: workload and external addresses with their host-side interfaces */
  readonly inventory: Inventory;
  readonly logGroup?: number;
  /** undefined: the lab's host namespace */
  readonly node?: KernelNode;
}

/** One named object of a table: a set or map (`head`: its type and flags; `items`: its elements, sorted, unique) or a
 * chain (`head`: its hook line, if any; `items`: its rules). */
export interface NftObject {
  readonly kind: 'set' | 'map' | 'chain';
  readonly name: string;
  readonly head: readonly string[];
  readonly items: readonly string[];
}

export interface NftTable {
  readonly family: 'bridge' | 'inet';
  readonly name: string;
  /** in declaration order: what a rule refers to comes before it */
  readonly objects: readonly NftObject[];
}

/** The whole desired kernel state. */
export interface KernelRules {
  readonly tables: readonly NftTable[];
}

type Family = 4 | 6;

function familyOf(a: string): Family {
  return a.includes(':') ? 6 : 4;
}

/** The CIDR, when valid; rules of one family go into that family's sets. */
function validCidr(c: string): string | undefined {
  return 'cidr' in parseCidr(c) ? c : undefined;
}

/** nft names per family: address type, header keyword, ICMP protocol, the map/set suffix. */
const FAMILY = {
  4: { addr: 'ipv4_addr', ip: 'ip', icmp: 'icmp', suffix: '' },
  6: { addr: 'ipv6_addr', ip: 'ip6', icmp: 'ipv6-icmp', suffix: '6' },
} as const;

/** An IPv6 address as the 128-bit integer a raw payload match compares (`@th,64,128`: an NA's target). */
function hex128(a: string): string | undefined {
  const ip = parseIp(a);
  return ip?.family === 6 ? `0x${Buffer.from(ip.bytes).toString('hex')}` : undefined;
}

/** Deterministic chain/set name of a service side: `egress/shop/web`. */
export function chainName(side: 'egress' | 'ingress', service: ServiceName): string {
  return `${side}/${service}`;
}

/** A set of `type` (or, written `typeof …`, of that expression's type). */
function set(name: string, type: string, items: readonly string[], interval: boolean): NftObject {
  const head = [type.startsWith('typeof ') ? `${type};` : `type ${type};`, ...(interval ? ['flags interval;'] : [])];
  return { kind: 'set', name, head, items: [...new Set(items)].sort() };
}

function chain(name: string, rules: readonly string[], hook?: string): NftObject {
  return { kind: 'chain', name, head: hook !== undefined ? [hook] : [], items: rules };
}

/** `"vh-x" . fd00::5` → `"vh-x" . 0xfd00…05` */
function ndElement(binding: string): string {
  const [ifname, addr] = binding.split(' . ') as [string, string];
  return `${ifname} . ${hex128(addr)!}`;
}

/**
 * One side's allowed (transport . address . port) and icmp addresses, per address family: single addresses (the
 * workloads of a service peer, a /32 or /128 external) in hash sets, real ranges in interval sets. Most peers are
 * single addresses, and the kernel builds a hash set of 10,000 of them in a fraction of what the same elements cost
 * as intervals (1.5 s here), which every apply pays.
 */
interface SideRules {
  readonly ports: Record<Family, string[]>;
  readonly portRanges: Record<Family, string[]>;
  readonly icmp: Record<Family, string[]>;
  readonly icmpRanges: Record<Family, string[]>;
}

function emptyRules(): SideRules {
  return {
    ports: { 4: [], 6: [] },
    portRanges: { 4: [], 6: [] },
    icmp: { 4: [], 6: [] },
    icmpRanges: { 4: [], 6: [] },
  };
}

/** `10.0.0.1/32` → `10.0.0.1`; a range stays a range (undefined). */
function singleAddress(cidr: string): string | undefined {
  const r = parseCidr(cidr);
  if (!('cidr' in r)) return undefined;
  const [addr, prefix] = cidr.split('/') as [string, string | undefined];
  const full = familyOf(addr) === 4 ? 32 : 128;
  return prefix === undefined || Number(prefix) === full ? addr : undefined;
}

function addRule(r: SideRules, protocol: Parameters<typeof hasPort>[0], cidr: string | undefined, port: number) {
  if (cidr === undefined) return;
  const f = familyOf(cidr);
  const single = singleAddress(cidr);
  if (!hasPort(protocol)) (single !== undefined ? r.icmp : r.icmpRanges)[f].push(single ?? cidr);
  else if (single !== undefined) r.ports[f].push(`${transportOf(protocol)} . ${single} . ${port}`);
  else r.portRanges[f].push(`${transportOf(protocol)} . ${cidr} . ${port}`);
}

function egressRules(c: CompiledPolicy): SideRules {
  const r = emptyRules();
  for (const d of c.outbound) {
    if (!d.rule.points.includes('kernel')) continue;
    for (const cidr of d.cidrs) addRule(r, d.protocol, validCidr(cidr), d.port);
  }
  return r;
}

function ingressRules(c: CompiledPolicy): SideRules {
  const r = emptyRules();
  for (const p of c.inbound) {
    for (const s of p.sources) {
      if (s.rule.points.includes('kernel')) addRule(r, s.rule.rule.protocol, validCidr(s.cidr), p.port);
    }
  }
  return r;
}

/**
 * A side's chain: a flow allowed by a rule of its family returns; anything else is logged and dropped (enforce) or
 * returns (monitor). An IPv6 flow is looked up in the IPv6 sets only: a policy with only IPv4 peers allows no IPv6.
 */
function sideChain(side: 'egress' | 'ingress', s: KernelService, rules: SideRules, group: number): NftObject[] {
  const name = chainName(side, s.service);
  const peer = side === 'egress' ? 'daddr' : 'saddr';
  const enforce = s.mode === 'enforce';
  const prefix = KERNEL_LOG.verdict(enforce ? 'deny' : 'wd', side);
  const sets: NftObject[] = [];
  const lookups: string[] = [];
  for (const f of [4, 6] as const) {
    const { addr, ip, icmp, suffix } = FAMILY[f];
    const ports = `inet_proto . ${addr} . inet_service`;
    sets.push(set(`${name}/ports${suffix}`, ports, rules.ports[f], false));
    sets.push(set(`${name}/port-ranges${suffix}`, ports, rules.portRanges[f], true));
    sets.push(set(`${name}/icmp${suffix}`, addr, rules.icmp[f], false));
    sets.push(set(`${name}/icmp-ranges${suffix}`, addr, rules.icmpRanges[f], true));
    for (const kind of ['ports', 'port-ranges'])
      lookups.push(`meta l4proto . ${ip} ${peer} . th dport @${name}/${kind}${suffix} return`);
    for (const kind of ['icmp', 'icmp-ranges'])
      lookups.push(`meta l4proto ${icmp} ${ip} ${peer} @${name}/${kind}${suffix} return`);
  }
  return [...sets, chain(name, [...lookups, `log group ${group} prefix "${prefix}" ${enforce ? 'drop' : 'return'}`])];
}

/** The whole desired kernel state. Deterministic: same input, same rules. */
export function kernelRules(input: KernelInput): KernelRules {
  const group = input.logGroup ?? DEFAULT_LOG_GROUP;
  const inv = input.inventory;
  const bound: Record<Family, string[]> = { 4: [], 6: [] };
  for (const w of inv.workloads) {
    if (w.interface === undefined) continue;
    for (const a of w.addresses) bound[familyOf(a)].push(`"${w.interface}" . ${a}`);
  }
  for (const e of inv.externals) {
    if (e.interface !== undefined) bound[familyOf(e.address)].push(`"${e.interface}" . ${e.address}`);
  }

  const active = [...input.services].filter((s) => s.mode !== 'learn').sort((a, b) => (a.service < b.service ? -1 : 1));
  const addrsOf = new Map<ServiceName, string[]>();
  for (const w of inv.workloads) {
    const list = addrsOf.get(w.service) ?? [];
    list.push(...w.addresses);
    addrsOf.set(w.service, list);
  }
  const egressMap: Record<Family, string[]> = { 4: [], 6: [] };
  const ingressMap: Record<Family, string[]> = { 4: [], 6: [] };
  const chains: NftObject[] = [];
  for (const s of active) {
    for (const a of addrsOf.get(s.service) ?? []) {
      egressMap[familyOf(a)].push(`${a} : jump ${chainName('egress', s.service)}`);
      ingressMap[familyOf(a)].push(`${a} : jump ${chainName('ingress', s.service)}`);
    }
    chains.push(...sideChain('egress', s, egressRules(s.compiled), group));
    chains.push(...sideChain('ingress', s, ingressRules(s.compiled), group));
  }
  const vmap = (name: string, f: Family, items: string[]): NftObject => ({
    kind: 'map',
    name: `${name}${FAMILY[f].suffix}`,
    head: [`type ${FAMILY[f].addr} : verdict;`],
    items: [...new Set(items)].sort(),
  });

  const bridge: NftObject[] = [
    set('bound', 'ifname . ipv4_addr', bound[4], false),
    set('bound6', 'ifname . ipv6_addr', bound[6], false),
    // the same bindings for the target of a neighbour advertisement, a raw field (nft has no name for it)
    set('nd6', 'typeof iifname . @th,64,128', bound[6].map(ndElement), false),
    chain(
      'input',
      [
        'ether type arp iifname . arp saddr ip @bound accept',
        'ether type ip iifname . ip saddr @bound accept',
        // IPv6's ARP: a neighbour advertisement teaches the gateway the address in its target field, so that
        // address must be the port's own, whatever the packet's source says
        `icmpv6 type nd-neighbor-advert iifname . @th,64,128 != @nd6 log group ${group} prefix "${KERNEL_LOG.spoofed}" drop`,
        'ether type ip6 iifname . ip6 saddr @bound6 accept',
        // a member without a link-local address reports its multicast groups from :: (nothing listens: not logged)
        'ip6 saddr :: icmpv6 type { mld-listener-report, mld2-listener-report } drop',
        `log group ${group} prefix "${KERNEL_LOG.spoofed}" drop`,
      ],
      'type filter hook input priority filter; policy accept;',
    ),
    chain('forward', [], 'type filter hook forward priority filter; policy drop;'),
  ];
  const node = input.node;
  const observe = `meta l4proto { udp, icmp, ipv6-icmp } ct state new log group ${group} prefix "${KERNEL_LOG.observed}"`;
  // on a node, only what a pod sends or receives (the node routes other traffic too), each flow logged once
  const observed = node
    ? [
        'ip saddr @pods',
        'ip6 saddr @pods6',
        'ip saddr != @pods ip daddr @pods',
        'ip6 saddr != @pods6 ip6 daddr @pods6',
      ].map((m) => `${m} ${observe}`)
    : [observe];
  const toControlPlane = node
    ? [
        'meta l4proto tcp ip daddr . th dport @control-plane accept',
        'meta l4proto tcp ip6 daddr . th dport @control-plane6 accept',
      ]
    : [];
  const nodeSets: NftObject[] = node
    ? [
        set('control-plane', 'ipv4_addr . inet_service', controlPlaneElements(node, 4), false),
        set('control-plane6', 'ipv6_addr . inet_service', controlPlaneElements(node, 6), false),
        set('pods', 'ipv4_addr', podAddresses(inv, 4), false),
        set('pods6', 'ipv6_addr', podAddresses(inv, 6), false),
      ]
    : [];
  const inet: NftObject[] = [
    ...nodeSets,
    vmap('egress', 4, egressMap[4]),
    vmap('ingress', 4, ingressMap[4]),
    vmap('egress', 6, egressMap[6]),
    vmap('ingress', 6, ingressMap[6]),
    ...chains,
    chain(
      'forward',
      [
        'ct state established,related accept',
        ...toControlPlane,
        'ip saddr vmap @egress',
        'ip6 saddr vmap @egress6',
        'ip daddr vmap @ingress',
        'ip6 daddr vmap @ingress6',
        ...observed,
      ],
      'type filter hook forward priority filter; policy accept;',
    ),
    chain(
      'input',
      [
        'ct state established,related accept',
        // neighbour discovery with the gateway (untracked by conntrack) is what makes IPv6 work at all
        'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept',
        ...toControlPlane,
        'ip saddr vmap @egress',
        'ip6 saddr vmap @egress6',
      ],
      'type filter hook input priority filter; policy accept;',
    ),
  ];
  return {
    tables: [
      ...(node ? [] : [{ family: 'bridge' as const, name: KERNEL_TABLE, objects: bridge }]),
      { family: 'inet', name: KERNEL_TABLE, objects: inet },
    ],
  };
}

/** The control plane's listeners of one family, as `address . port` elements. */
function controlPlaneElements(node: KernelNode, f: Family): string[] {
  return node.controlPlane.filter((c) => familyOf(c.address) === f).map((c) => `${c.address} . ${c.port}`);
}

/** Every workload address of one family. */
function podAddresses(inv: Inventory, f: Family): string[] {
  return inv.workloads.flatMap((w) => w.addresses).filter((a) => familyOf(a) === f);
}

function renderObject(o: NftObject): string[] {
  if (o.kind === 'chain') return [`  chain ${o.name} {`, ...[...o.head, ...o.items].map((l) => `    ${l}`), '  }'];
  const els = o.items.length === 0 ? '' : `\n    elements = {\n${o.items.map((x) => `      ${x},`).join('\n')}\n    }`;
  return [`  ${o.kind} ${o.name} {\n    ${o.head.join('\n    ')}${els}\n  }`];
}

/** The full `nft -f` text: each table declared, deleted and defined anew, in one transaction. */
export function renderRuleset(rules: KernelRules): string {
  return [
    '# generated by nanoseg (kernel enforcement point): do not edit, it is replaced whole',
    ...rules.tables.flatMap((t) => [
      `table ${t.family} ${t.name}`,
      `delete table ${t.family} ${t.name}`,
      `table ${t.family} ${t.name} {`,
      ...t.objects.flatMap(renderObject),
      '}',
    ]),
    '',
  ].join('\n');
}

/** The whole desired kernel state as `nft -f` text. Deterministic: same input, same text. */
export function kernelRuleset(input: KernelInput): string {
  return renderRuleset(kernelRules(input));
}
