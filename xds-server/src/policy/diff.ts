// Differences between two versions of a service's policy, rule by rule (rules compared by peer + protocol +
// port), and for a rule on both sides, by its method + path templates. Pure.
import type { PathRule, PolicyRule, ServicePolicy } from '../model/index.js';
import { comparePaths } from './paths.js';
import { POLICY_SIDES, compareRules, peerLabel, portLabel, ruleKey, type PolicySide } from './rules.js';

export interface RuleDiff {
  readonly added: readonly PolicyRule[];
  readonly removed: readonly PolicyRule[];
  /** rules in both whose path templates differ (absent paths = any path) */
  readonly changed: readonly PathChange[];
}

export interface PathChange {
  readonly rule: PolicyRule;
  readonly addedPaths: readonly PathRule[];
  readonly removedPaths: readonly PathRule[];
  /** the rule went from any path to listed ones ('restricted') or back ('opened') */
  readonly scope?: 'restricted' | 'opened';
}

const pathKey = (p: PathRule): string => `${p.method} ${p.path}`;

function diffPaths(cur: PolicyRule, nxt: PolicyRule): PathChange | undefined {
  const a = new Set((cur.paths ?? []).map(pathKey));
  const b = new Set((nxt.paths ?? []).map(pathKey));
  const addedPaths = (nxt.paths ?? []).filter((p) => !a.has(pathKey(p))).sort(comparePaths);
  const removedPaths = (cur.paths ?? []).filter((p) => !b.has(pathKey(p))).sort(comparePaths);
  const scope =
    cur.paths === undefined && nxt.paths !== undefined
      ? 'restricted'
      : cur.paths !== undefined && nxt.paths === undefined
        ? 'opened'
        : undefined;
  if (addedPaths.length === 0 && removedPaths.length === 0 && scope === undefined) return undefined;
  return { rule: nxt, addedPaths, removedPaths, ...(scope && { scope }) };
}

export interface PolicyDiff {
  readonly ingress: RuleDiff;
  readonly egress: RuleDiff;
}

/** The rules of a policy, or of a parsed policy file. */
export type PolicyRules = Pick<ServicePolicy, 'ingress' | 'egress'>;

const NO_RULES: PolicyRules = { ingress: [], egress: [] };

function diffSide(current: readonly PolicyRule[], next: readonly PolicyRule[]): RuleDiff {
  const cur = new Set(current.map(ruleKey));
  const nxt = new Set(next.map(ruleKey));
  const once = (rules: readonly PolicyRule[], keep: (k: string) => boolean): PolicyRule[] => {
    const seen = new Set<string>();
    return rules
      .filter((r) => {
        const k = ruleKey(r);
        if (seen.has(k) || !keep(k)) return false;
        seen.add(k);
        return true;
      })
      .sort(compareRules);
  };
  const curByKey = new Map(current.map((r) => [ruleKey(r), r]));
  const changed: PathChange[] = [];
  for (const r of once(next, (k) => cur.has(k))) {
    const c = diffPaths(curByKey.get(ruleKey(r))!, r);
    if (c) changed.push(c);
  }
  return { added: once(next, (k) => !cur.has(k)), removed: once(current, (k) => !nxt.has(k)), changed };
}

/** What applying `next` over `current` (undefined: no policy yet) adds and removes, in rule order. */
export function diffPolicy(current: PolicyRules | undefined, next: PolicyRules): PolicyDiff {
  const c = current ?? NO_RULES;
  return { ingress: diffSide(c.ingress, next.ingress), egress: diffSide(c.egress, next.egress) };
}

export function isEmptyDiff(d: PolicyDiff): boolean {
  return POLICY_SIDES.every((s) => d[s].added.length === 0 && d[s].removed.length === 0 && d[s].changed.length === 0);
}

/** One line per change, removals first per side: `+ ingress  shop/web  http/9090`, `- egress  203.0.113.10/32  tcp/5432`. */
export function renderDiff(d: PolicyDiff): string {
  const lines: string[] = [];
  const width = Math.max(
    0,
    ...POLICY_SIDES.flatMap((s) =>
      [...d[s].added, ...d[s].removed, ...d[s].changed.map((c) => c.rule)].map((r) => peerLabel(r.peer).length),
    ),
  );
  const line = (sign: '+' | '-', side: PolicySide, r: PolicyRule): string =>
    `${sign} ${side.padEnd(7)}  ${peerLabel(r.peer).padEnd(width)}  ${portLabel(r)}`;
  for (const side of POLICY_SIDES) {
    for (const r of d[side].removed) lines.push(line('-', side, r));
    for (const r of d[side].added) lines.push(line('+', side, r));
    for (const c of d[side].changed) {
      const head = `~ ${side.padEnd(7)}  ${peerLabel(c.rule.peer).padEnd(width)}  ${portLabel(c.rule)}`;
      if (c.scope === 'opened') lines.push(`${head}  any path`);
      else if (c.scope === 'restricted') lines.push(`${head}  only the listed paths`);
      for (const p of c.removedPaths) lines.push(`${head}  - ${p.method} ${p.path}`);
      for (const p of c.addedPaths) lines.push(`${head}  + ${p.method} ${p.path}`);
    }
  }
  return lines.length === 0 ? 'no changes\n' : lines.join('\n') + '\n';
}
