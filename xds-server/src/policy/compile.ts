// Pure policy compiler: ServicePolicy + inventory → what the sidecar must allow, in addresses and ports, with the
// rule each address came from (so a decision can name its rule and a denial can name the missing one).
// Identities are resolved only through principals.ts.
import {
  isServicePeer,
  protocolPortLabel,
  transportOf,
  NO_PATH,
  type EnforcementPointName,
  type PolicyRule,
  type Protocol,
  type ServiceName,
  type ServicePolicy,
} from '../model/index.js';
import { closestTemplate, pathTemplate } from '../learn/l7.js';
import { cidrContains, parseCidr, parseIp, type Cidr } from './ip.js';
import { identities } from '../inventory/identity.js';
import { addressesOf, destinationsOf, type Identities } from './principals.js';
import { compareRules, peerLabel, portLabel, ruleName, type PolicySide } from './rules.js';

export interface CompiledRule {
  readonly side: PolicySide;
  /** stable name (RBAC policy / action name), see rules.ts `ruleName` */
  readonly name: string;
  readonly rule: PolicyRule;
  /** the enforcement points that enforce this rule (see `enforcedBy`) */
  readonly points: readonly EnforcementPointName[];
}

/**
 * Which enforcement points enforce a rule of a protocol. The sidecar's RBAC sees TCP through Envoy (tcp, http,
 * grpc); the kernel checks every protocol at L3/L4 on the host side of each pod (tcp, http and grpc as TCP to the
 * port, udp, icmp). TCP passes only if both allow it.
 */
export function enforcedBy(protocol: Protocol): readonly EnforcementPointName[] {
  return transportOf(protocol) === 'tcp' ? BOTH : KERNEL;
}
const BOTH: readonly EnforcementPointName[] = Object.freeze(['sidecar', 'kernel']);
const KERNEL: readonly EnforcementPointName[] = Object.freeze(['kernel']);

/** One allowed source prefix on an inbound port, and the rule that allows it. */
export interface InboundSource {
  readonly cidr: string;
  readonly rule: CompiledRule;
}

export interface InboundPort {
  readonly port: number;
  /** sorted by cidr, then rule name */
  readonly sources: readonly InboundSource[];
  /** every ingress rule on this port, also those whose peer has no address right now (for explanations) */
  readonly rules: readonly CompiledRule[];
}

export interface OutboundDestination {
  /** where the peer can be reached: workload addresses and VIP, or the external's CIDR; empty when none runs */
  readonly cidrs: readonly string[];
  readonly port: number;
  readonly protocol: Protocol;
  readonly sni?: string;
  readonly rule: CompiledRule;
}

export interface CompiledPolicy {
  readonly service: ServiceName;
  /** sorted by port */
  readonly inbound: readonly InboundPort[];
  /** in rule order (rules.ts `compareRules`) */
  readonly outbound: readonly OutboundDestination[];
}

/** Compiles a policy against the current inventory. Deterministic: same input, same output (same order). */
export function compilePolicy(policy: ServicePolicy, inv: Identities): CompiledPolicy {
  const byPort = new Map<number, { sources: InboundSource[]; rules: CompiledRule[]; names: Set<string> }>();
  for (const rule of [...policy.ingress].sort(compareRules)) {
    const cr: CompiledRule = {
      side: 'ingress',
      name: ruleName('ingress', rule),
      rule,
      points: enforcedBy(rule.protocol),
    };
    let entry = byPort.get(rule.port);
    if (!entry) byPort.set(rule.port, (entry = { sources: [], rules: [], names: new Set() }));
    // a Set, not a scan of the rules so far: 10,000 peers on one port were 50 million name comparisons
    if (entry.names.has(cr.name)) continue;
    entry.names.add(cr.name);
    entry.rules.push(cr);
    for (const cidr of addressesOf(rule.peer, inv)) entry.sources.push({ cidr, rule: cr });
  }
  const inbound = [...byPort.entries()]
    .sort(([a], [b]) => a - b)
    .map(([port, e]): InboundPort => ({
      port,
      sources: e.sources.sort((a, b) =>
        a.cidr !== b.cidr
          ? a.cidr < b.cidr
            ? -1
            : 1
          : a.rule.name < b.rule.name
            ? -1
            : a.rule.name > b.rule.name
              ? 1
              : 0,
      ),
      rules: e.rules,
    }));

  const seen = new Set<string>();
  const outbound: OutboundDestination[] = [];
  for (const rule of [...policy.egress].sort(compareRules)) {
    const name = ruleName('egress', rule);
    if (seen.has(name)) continue;
    seen.add(name);
    const sni = isServicePeer(rule.peer) ? undefined : rule.peer.sni;
    outbound.push({
      cidrs: destinationsOf(rule.peer, inv),
      port: rule.port,
      protocol: rule.protocol,
      ...(sni ? { sni } : {}),
      rule: { side: 'egress', name, rule, points: enforcedBy(rule.protocol) },
    });
  }
  return { service: policy.service, inbound, outbound };
}

/** A connection as a sidecar sees it. `protocol` defaults to tcp (what an L4 filter knows). */
export interface ConnectionFacts {
  readonly sourceIp: string;
  readonly destIp: string;
  readonly port: number;
  readonly sni?: string;
  readonly protocol?: Protocol;
}

export interface Decision {
  readonly allowed: boolean;
  /** the rule that allows it */
  readonly rule?: CompiledRule;
  /** why: the allowing rule, or the missing one */
  readonly reason: string;
}

/** The SNI is checked only for tcp rules: for http/grpc it is the authority, which L4 RBAC cannot see. */
export function sniApplies(d: Pick<OutboundDestination, 'protocol' | 'sni'>): d is { protocol: Protocol; sni: string } {
  return d.protocol === 'tcp' && d.sni !== undefined;
}

/** A rule fits a connection of the same transport: tcp, http and grpc rules fit TCP; udp and icmp their own. */
function protocolFits(rule: PolicyRule, conn: ConnectionFacts): boolean {
  return transportOf(rule.protocol) === transportOf(conn.protocol ?? 'tcp');
}

function cidrOf(s: string): Cidr | undefined {
  const r = parseCidr(s);
  return 'cidr' in r ? r.cidr : undefined;
}

function within(cidrs: readonly string[], ip: string): boolean {
  const a = parseIp(ip);
  if (!a) return false;
  return cidrs.some((c) => {
    const cc = cidrOf(c);
    return cc !== undefined && cidrContains(cc, a);
  });
}

/**
 * The same decision the generated RBAC makes, with its reason: which rule allows the connection, or which rule
 * is missing. `side` is the side of `compiled.service`'s policy that is checked: ingress for a connection to it,
 * egress for a connection from it.
 */
export function decide(compiled: CompiledPolicy, side: PolicySide, conn: ConnectionFacts, inv: Identities): Decision {
  if (side === 'ingress') {
    const entry = compiled.inbound.find((p) => p.port === conn.port);
    const hits = (entry?.sources ?? []).filter(
      (s) => protocolFits(s.rule.rule, conn) && within([s.cidr], conn.sourceIp),
    );
    // most specific prefix first, as Envoy's IP trie matches
    hits.sort((a, b) => (cidrOf(b.cidr)?.prefix ?? 0) - (cidrOf(a.cidr)?.prefix ?? 0));
    const hit = hits[0];
    if (hit) return { allowed: true, rule: hit.rule, reason: `allowed by ${hit.rule.name}` };
    return { allowed: false, reason: explainIngress(compiled, entry, conn, inv) };
  }
  for (const d of compiled.outbound) {
    if (d.port !== conn.port || !protocolFits(d.rule.rule, conn) || !within(d.cidrs, conn.destIp)) continue;
    if (sniApplies(d) && d.sni !== conn.sni) continue;
    return { allowed: true, rule: d.rule, reason: `allowed by ${d.rule.name}` };
  }
  return { allowed: false, reason: explainEgress(compiled, conn, inv) };
}

/**
 * Why a connection is (or would be) denied, naming the missing rule, e.g.
 * `shop/web egress has no rule for data/db tcp/5432` or
 * `data/db ingress allows shop/api on 5432 but not shop/web (10.213.0.11)`.
 * For an allowed connection: `allowed by <rule name>`.
 */
export function explainDeny(
  compiled: CompiledPolicy,
  side: PolicySide,
  conn: ConnectionFacts,
  inv: Identities,
): string {
  return decide(compiled, side, conn, inv).reason;
}

export interface NoPathExplanation {
  readonly reason: string;
  /** the learned template closest to the request, when the rule lists any */
  readonly closest?: { readonly method: string; readonly path: string };
}

/**
 * Why an HTTP request was (or would be) denied by L7 RBAC: the sidecar named the action `<rule>|no-path` (its
 * source matched the rule, none of the rule's paths matched the request). Names the request, the rule and the
 * closest learned template, e.g. `shop/api ingress allows shop/web on http/9090 only on its learned paths, not
 * GET /items/7/tags (closest: GET /items/{id})`. Undefined when `policyName` is not a no-path action.
 */
export function explainNoPath(
  compiled: CompiledPolicy,
  policyName: string,
  request: { readonly method: string; readonly path: string },
): NoPathExplanation | undefined {
  const suffix = `|${NO_PATH}`;
  if (!policyName.endsWith(suffix)) return undefined;
  const name = policyName.slice(0, -suffix.length);
  const rule = compiled.inbound.flatMap((p) => p.rules).find((r) => r.name === name);
  const asked = `${request.method} ${request.path}`;
  if (!rule) return { reason: `${compiled.service} ingress rule ${name} allows no path matching ${asked}` };
  const paths = rule.rule.paths ?? [];
  const closest = closestTemplate(paths, request.method, request.path);
  const near = closest ? ` (closest: ${closest.method} ${closest.path})` : ' (the rule lists no paths)';
  const template = pathTemplate(request.path);
  const tmpl = template === request.path ? '' : `, template ${template}`;
  const reason =
    `${compiled.service} ingress allows ${peerLabel(rule.rule.peer)} on ${protocolPortLabel(rule.rule.protocol, rule.rule.port)} ` +
    `only on its learned paths, not ${asked}${tmpl}${near}`;
  return closest ? { reason, closest: { method: closest.method, path: closest.path } } : { reason };
}

function connLabel(conn: ConnectionFacts): string {
  return protocolPortLabel(conn.protocol ?? 'tcp', conn.port);
}

function explainIngress(
  compiled: CompiledPolicy,
  entry: InboundPort | undefined,
  conn: ConnectionFacts,
  inv: Identities,
): string {
  const owner = identities(inv).ownerOf(conn.sourceIp);
  const who = isServicePeer(owner.peer) ? `${owner.peer.service} (${conn.sourceIp})` : conn.sourceIp;
  const rules = (entry?.rules ?? []).filter((r) => protocolFits(r.rule, conn));
  if (rules.length === 0) {
    return `${compiled.service} ingress has no rule for ${peerLabel(owner.peer)} ${connLabel(conn)}`;
  }
  const allowed = [...new Set(rules.map((r) => peerLabel(r.rule.peer)))].join(', ');
  const stale =
    isServicePeer(owner.peer) &&
    rules.some((r) => isServicePeer(r.rule.peer) && r.rule.peer.service === (owner.peer as { service: string }).service)
      ? ` (${conn.sourceIp} was not an address of ${owner.peer.service} when the policy was compiled)`
      : '';
  return `${compiled.service} ingress allows ${allowed} on ${conn.port} but not ${who}${stale}`;
}

function explainEgress(compiled: CompiledPolicy, conn: ConnectionFacts, inv: Identities): string {
  const owner = identities(inv).ownerOf(conn.destIp);
  const dest = peerLabel(owner.peer);
  const toDest = compiled.outbound.filter((d) => protocolFits(d.rule.rule, conn) && within(d.cidrs, conn.destIp));
  const samePort = toDest.filter((d) => d.port === conn.port);
  if (samePort.length > 0) {
    const snis = samePort.filter(sniApplies).map((d) => d.sni);
    return `${compiled.service} egress allows ${dest} ${connLabel(conn)} only with SNI ${snis.join(' or ')}, not ${conn.sni ? conn.sni : 'without SNI'}`;
  }
  const base = `${compiled.service} egress has no rule for ${dest} ${connLabel(conn)}`;
  if (toDest.length === 0) return base;
  const others = [...new Set(toDest.map((d) => portLabel(d)))].join(', ');
  return `${base} (it allows ${dest} on ${others})`;
}
