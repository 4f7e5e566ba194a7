// Identity, ordering and names of policy rules. Pure.
import { isServicePeer, protocolPortLabel, type Peer, type PolicyRule } from '../model/index.js';

/** Which half of a service's policy: who may connect to it (ingress) or where it may connect (egress). */
export type PolicySide = 'ingress' | 'egress';
export const POLICY_SIDES: readonly PolicySide[] = ['ingress', 'egress'];

/** A peer as a plain object with only its own fields (for serialization and stored policies). */
export function plainPeer(p: Peer): Peer {
  if (isServicePeer(p)) return { service: p.service };
  return p.sni ? { cidr: p.cidr, sni: p.sni } : { cidr: p.cidr };
}

/** Human form of a peer: `shop/web`, `203.0.113.10/32`, `203.0.113.10/32 (sni payments)`. */
export function peerLabel(p: Peer): string {
  if (isServicePeer(p)) return p.service;
  return p.sni ? `${p.cidr} (sni ${p.sni})` : p.cidr;
}

/** Compact, space-free form of a peer: `shop/web`, `203.0.113.10/32`, `203.0.113.10/32#payments`. */
export function peerToken(p: Peer): string {
  if (isServicePeer(p)) return p.service;
  return p.sni ? `${p.cidr}#${p.sni}` : p.cidr;
}

/** Identity of a rule within one side of a policy: peer + protocol + port (two rules with equal keys are one). */
export function ruleKey(r: PolicyRule): string {
  return `${peerToken(r.peer)}|${r.protocol}/${r.port}`;
}

/**
 * The stable name of a rule, used as the RBAC policy / matcher action name, so Envoy's dynamic metadata
 * (`shadow_effective_policy_id`) and termination details (`rbac_access_denied_matched_policy[...]`) say which
 * rule matched: `ingress|shop/web|http/9090`, `egress|203.0.113.10/32#payments|tcp/443`.
 */
export function ruleName(side: PolicySide, r: PolicyRule): string {
  return `${side}|${ruleKey(r)}`;
}

/** The name of the action taken when no rule matches (the connection is denied, or would be). */
export function noRuleName(side: PolicySide): string {
  return `${side}|no-rule`;
}

/** Deterministic order: services before externals, then by peer, port, protocol. */
export function compareRules(a: PolicyRule, b: PolicyRule): number {
  const ka = isServicePeer(a.peer) ? 0 : 1;
  const kb = isServicePeer(b.peer) ? 0 : 1;
  if (ka !== kb) return ka - kb;
  const pa = peerToken(a.peer);
  const pb = peerToken(b.peer);
  if (pa !== pb) return pa < pb ? -1 : 1;
  if (a.port !== b.port) return a.port - b.port;
  return a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0;
}

/** Sorted copy without duplicates (by ruleKey; the first occurrence wins). */
export function normalizeRules(rules: readonly PolicyRule[]): PolicyRule[] {
  const seen = new Map<string, PolicyRule>();
  for (const r of rules) if (!seen.has(ruleKey(r))) seen.set(ruleKey(r), r);
  return [...seen.values()].sort(compareRules);
}

/** `http/9090`, `icmp` (no port) */
export function portLabel(r: Pick<PolicyRule, 'protocol' | 'port'>): string {
  return protocolPortLabel(r.protocol, r.port);
}
