// Pure generation of the RBAC filter configs that enforce a compiled policy, as ECDS resources
// (TypedExtensionConfig). Delivered over ECDS, a policy change replaces the filter config in place: listeners and
// filter chains stay byte-identical, so Envoy never drains connections because of a policy change.
//
// Modes:
//   learn    RBAC without rules: everything passes, nothing is evaluated
//   monitor  `shadow_matcher` only: everything passes; Envoy records, per connection/request, dynamic metadata
//            `shadow_engine_result` (allowed|denied) and `shadow_effective_policy_id` (the rule name, or
//            `<side>|no-rule`) under the filter's namespace (envoy.filters.network.rbac / envoy.filters.http.rbac)
//   enforce  `matcher` AND `shadow_matcher` (the same tree): denied connections are closed (network filter,
//            termination details `rbac_access_denied_matched_policy[<side>|no-rule]`) or answered 403 (HTTP
//            filter); allowed ones carry the allowing rule's name in the shadow metadata
//
// Scale: the rules are not a list of policies with one principal per address (Envoy evaluates those one by
// one). They are a unified-matcher tree: destination port → exact-match map (hash lookup), then the address →
// `xds.type.matcher.v3.IPMatcher` (Envoy's LC-trie, `envoy.matching.custom_matchers.trie_matcher`), whose ranges
// are grouped per rule so a match names its rule. A policy allowing 10,000 addresses costs one hash lookup and
// one trie lookup per connection, like a policy allowing one.
import type { Any } from '../../../proto/gen/google/protobuf/any.js';
import type { Matcher, Matcher_OnMatch } from '../../../proto/gen/xds/type/matcher/v3/matcher.js';
import { RBAC_Action } from '../../../proto/gen/envoy/config/rbac/v3/rbac.js';
import { ApiVersion } from '../../../proto/gen/envoy/config/core/v3/config_source.js';
import { IPMatcher } from '../../../proto/gen/xds/type/matcher/v3/ip.js';
import type { CidrRange } from '../../../proto/gen/xds/core/v3/cidr.js';
import { transportOf, type Mode } from '../model/index.js';
import type { CompiledPolicy, OutboundDestination } from '../policy/compile.js';
import { sniApplies } from '../policy/compile.js';
import { parseCidr } from '../policy/ip.js';
import { noRuleName, type PolicySide } from '../policy/rules.js';
import { T, encode, pack, type PartialOf } from './envoy-types.js';
import type { GeneratedResource } from './resource.js';
import { pathsOnMatch } from './rbac-l7.js';

// ---------------------------------------------------------------------------------------------------------------

export type RbacFilterKind = 'network' | 'http';

const RBAC_TYPE: Record<RbacFilterKind, { url: string }> = { network: T.networkRbac, http: T.httpRbac };

function emptyAny(t: { url: string }): Any {
  return { typeUrl: t.url, value: Buffer.alloc(0) };
}

function input(name: string, t: { url: string }) {
  return { name, typedConfig: emptyAny(t) };
}

function action(policyName: string, allow: boolean): Matcher_OnMatch {
  return {
    matcher: undefined,
    action: {
      name: policyName,
      typedConfig: pack(T.rbacAction, { name: policyName, action: allow ? RBAC_Action.ALLOW : RBAC_Action.DENY }),
    },
  };
}

function cidrRange(c: string): CidrRange {
  const r = parseCidr(c);
  if ('error' in r) throw new Error(`internal: compiled policy holds an invalid CIDR: ${r.error}`);
  const slash = c.indexOf('/');
  return { addressPrefix: c.slice(0, slash), prefixLen: r.cidr.prefix };
}

/** An address trie: each group of ranges → its on_match. Groups are given in a deterministic order. */
function trie(
  inputName: string,
  inputType: { url: string },
  groups: readonly { cidrs: readonly string[]; onMatch: Matcher_OnMatch }[],
): Matcher {
  const ip: IPMatcher = {
    rangeMatchers: groups.map((g) => ({ ranges: g.cidrs.map(cidrRange), onMatch: g.onMatch, exclusive: false })),
  };
  return {
    matcherTree: {
      input: input(inputName, inputType),
      customMatch: {
        name: 'envoy.matching.custom_matchers.trie_matcher',
        typedConfig: { typeUrl: T.ipMatcher.url, value: Buffer.from(IPMatcher.encode(ip).finish()) },
      },
      exactMatchMap: undefined,
      prefixMatchMap: undefined,
    },
    matcherList: undefined,
    onNoMatch: undefined,
  };
}

/** destination port → nested matcher; no match → `<side>|no-rule` (deny). */
function byPort(side: PolicySide, ports: ReadonlyMap<number, Matcher>): Matcher {
  const deny = action(noRuleName(side), false);
  if (ports.size === 0) return { matcherList: undefined, matcherTree: undefined, onNoMatch: deny };
  const map: Record<string, Matcher_OnMatch> = {};
  for (const [port, m] of [...ports.entries()].sort(([a], [b]) => a - b))
    map[String(port)] = { matcher: m, action: undefined };
  return {
    matcherList: undefined,
    matcherTree: {
      input: input('destination-port', T.destinationPortInput),
      exactMatchMap: { map },
      prefixMatchMap: undefined,
      customMatch: undefined,
    },
    onNoMatch: deny,
  };
}

/** Groups addresses by what happens on a match, keeping first-seen order of groups and sorted addresses. */
function groupBy<K>(entries: readonly { cidr: string; key: string; value: K }[]): { cidrs: string[]; value: K }[] {
  const groups = new Map<string, { cidrs: Set<string>; value: K }>();
  for (const e of entries) {
    let g = groups.get(e.key);
    if (!g) groups.set(e.key, (g = { cidrs: new Set(), value: e.value }));
    g.cidrs.add(e.cidr);
  }
  return [...groups.values()].map((g) => ({ value: g.value, cidrs: [...g.cidrs].sort() }));
}

/**
 * The ingress matcher: destination port → source address trie → ALLOW named after the rule; anything else →
 * DENY `ingress|no-rule`. udp and icmp rules are left out (the listeners carry TCP; the kernel enforces those). With `l7` (HTTP RBAC of a service
 * with L7 enforcement on), a rule that lists paths matches the request's method and path next (rbac-l7.ts).
 */
export function inboundMatcher(compiled: CompiledPolicy, l7 = false): Matcher {
  const ports = new Map<number, Matcher>();
  for (const p of compiled.inbound) {
    // an address allowed by several rules on this port is attributed to the first (sources are sorted)
    const first = new Map<string, string>();
    for (const s of p.sources) {
      if (transportOf(s.rule.rule.protocol) !== 'tcp' || first.has(s.cidr)) continue;
      first.set(s.cidr, s.rule.name);
    }
    if (first.size === 0) continue;
    const ruleOrder = p.rules.map((r) => r.name);
    const byName = new Map(p.rules.map((r) => [r.name, r.rule]));
    const onMatch = (name: string): Matcher_OnMatch => {
      const paths = l7 ? byName.get(name)?.paths : undefined;
      return paths === undefined ? action(name, true) : pathsOnMatch(name, paths);
    };
    const groups = groupBy([...first.entries()].map(([cidr, name]) => ({ cidr, key: name, value: name }))).sort(
      (a, b) => ruleOrder.indexOf(a.value) - ruleOrder.indexOf(b.value),
    );
    ports.set(
      p.port,
      trie(
        'source-ip',
        T.sourceIpInput,
        groups.map((g) => ({ cidrs: g.cidrs, onMatch: onMatch(g.value) })),
      ),
    );
  }
  return byPort('ingress', ports);
}

/**
 * The egress matcher: destination port → destination address trie → ALLOW named after the rule, or, for tcp
 * rules with an SNI, → server name (exact) → ALLOW; anything else → DENY `egress|no-rule`. A range whose nested
 * SNI map does not match falls back to shorter matching ranges (trie ranges are not exclusive).
 */
export function outboundMatcher(compiled: CompiledPolicy): Matcher {
  const perPort = new Map<number, OutboundDestination[]>();
  for (const d of compiled.outbound) {
    if (transportOf(d.protocol) !== 'tcp' || d.cidrs.length === 0) continue;
    const list = perPort.get(d.port) ?? [];
    list.push(d);
    perPort.set(d.port, list);
  }
  const ports = new Map<number, Matcher>();
  for (const [port, dests] of [...perPort.entries()].sort(([a], [b]) => a - b)) {
    // per address: the first rule without SNI allows all; else the SNIs allowed there
    const plain = new Map<string, string>();
    const bySni = new Map<string, Map<string, string>>();
    for (const d of dests) {
      for (const c of d.cidrs) {
        if (!sniApplies(d)) {
          if (!plain.has(c)) plain.set(c, d.rule.name);
        } else {
          const m = bySni.get(c) ?? new Map<string, string>();
          if (!m.has(d.sni)) m.set(d.sni, d.rule.name);
          bySni.set(c, m);
        }
      }
    }
    const entries: { cidr: string; key: string; value: Matcher_OnMatch }[] = [];
    for (const d of dests) {
      for (const c of d.cidrs) {
        const p = plain.get(c);
        if (p !== undefined) {
          entries.push({ cidr: c, key: `rule:${p}`, value: action(p, true) });
          continue;
        }
        const snis = [...bySni.get(c)!.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        const map: Record<string, Matcher_OnMatch> = {};
        for (const [sni, name] of snis) map[sni] = action(name, true);
        entries.push({
          cidr: c,
          key: `sni:${JSON.stringify(snis)}`,
          value: {
            action: undefined,
            matcher: {
              matcherList: undefined,
              onNoMatch: undefined,
              matcherTree: {
                input: input('server-name', T.serverNameInput),
                exactMatchMap: { map },
                prefixMatchMap: undefined,
                customMatch: undefined,
              },
            },
          },
        });
      }
    }
    const groups = groupBy(entries).map((g) => ({ cidrs: g.cidrs, onMatch: g.value }));
    ports.set(port, trie('destination-ip', T.destinationIpInput, groups));
  }
  return byPort('egress', ports);
}

/** A matcher that matches nothing: every connection/request is denied (enforce) or would be (monitor). */
export function denyAllMatcher(side: PolicySide): Matcher {
  return byPort(side, new Map());
}

type RbacFields = { matcher?: Matcher; shadowMatcher?: Matcher };

/** The mode → RBAC fields mapping, in one place. */
export function modeFields(mode: Mode, m: Matcher): RbacFields {
  switch (mode) {
    case 'learn':
      return {};
    case 'monitor':
      return { shadowMatcher: m };
    case 'enforce':
      return { matcher: m, shadowMatcher: m };
  }
}

/** The filter config (not yet wrapped) for a matcher in a mode. */
export function rbacConfig(kind: RbacFilterKind, mode: Mode, m: Matcher, statPrefix: string): Any {
  const fields = modeFields(mode, m) as PartialOf<typeof T.networkRbac.codec>;
  if (kind === 'network') return pack(T.networkRbac, { statPrefix, ...fields });
  return pack(T.httpRbac, { ...(fields as PartialOf<typeof T.httpRbac.codec>) });
}

function extension(name: string, typedConfig: Any): GeneratedResource {
  return {
    kind: 'extension',
    typeUrl: T.extension.url,
    name,
    body: encode(T.extension, { name, typedConfig }),
    deps: [],
  };
}

/** ECDS resource: network RBAC for the inbound listener's TCP chains (denied → connection closed). */
export function inboundNetworkRbac(
  compiled: CompiledPolicy,
  mode: Mode,
  name: string,
  statPrefix = 'inbound.',
): GeneratedResource {
  return extension(name, rbacConfig('network', mode, inboundMatcher(compiled), statPrefix));
}

/**
 * ECDS resource: HTTP RBAC for the inbound listener's HTTP chains (denied → 403, per request); with `l7`, only the
 * rules' method + path templates pass.
 */
export function inboundHttpRbac(compiled: CompiledPolicy, mode: Mode, name: string, l7 = false): GeneratedResource {
  return extension(name, rbacConfig('http', mode, inboundMatcher(compiled, l7), ''));
}

/** ECDS resource: network RBAC for the outbound listener (allowed destinations; principals: anyone). */
export function outboundNetworkRbac(
  compiled: CompiledPolicy,
  mode: Mode,
  name: string,
  statPrefix = 'outbound.',
): GeneratedResource {
  return extension(name, rbacConfig('network', mode, outboundMatcher(compiled), statPrefix));
}

/**
 * ECDS resource: HTTP RBAC for the outbound listener's HTTP chains, with the same tree as the network one
 * (denied → 403, per request). HTTP chains carry this one instead of the network filter: the network filter's
 * shadow result is connection metadata, which HTTP access-log entries do not carry, and its denial closes the
 * connection before the HCM sees a request, so neither would be reported.
 */
export function outboundHttpRbac(compiled: CompiledPolicy, mode: Mode, name: string): GeneratedResource {
  return extension(name, rbacConfig('http', mode, outboundMatcher(compiled), ''));
}

/** ECDS resource for a chain where nothing is allowed: deny-all in enforce, would-deny-all in monitor. */
export function denyAllRbac(
  kind: RbacFilterKind,
  side: PolicySide,
  mode: Mode,
  name: string,
  statPrefix = side === 'ingress' ? 'inbound.' : 'outbound.',
): GeneratedResource {
  return extension(name, rbacConfig(kind, mode, denyAllMatcher(side), statPrefix));
}

/**
 * The listener-side reference to an ECDS RBAC config: the filter's name IS the ECDS resource name. Put it first
 * in the chain (before tcp_proxy / HCM, or first among HTTP filters). Without a default config the listener
 * waits (warms) until the ECDS resource arrives, so no connection is ever accepted without its policy.
 */
export function rbacFilterRef(kind: RbacFilterKind, name: string) {
  return {
    name,
    configDiscovery: {
      configSource: { ads: {}, resourceApiVersion: ApiVersion.V3 },
      typeUrls: [RBAC_TYPE[kind].url],
    },
  };
}
