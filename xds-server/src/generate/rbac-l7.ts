// L7 rules in the inbound HTTP RBAC (a service with L7 enforcement on): after the source address matched an
// ingress rule that lists paths, the request's `:method` and `:path` must match one of the rule's templates. Pure.
//
//   port → source-ip trie → rule R with paths → :method exact-match map:
//       GET → :path ~ ^(?:/items|/items/[^/?#]+)(\?.*)?$ → ALLOW `R|GET paths`
//       ...
//     a method not in the map, or a path no template of its method matches → the `*` templates, if any
//     → DENY `R|no-path`
//
// The names travel in Envoy's shadow metadata and termination details like the L4 rule names, so a would-deny or
// a 403 names the rule whose paths did not match (alerts/verdict.ts, and the closest template, learn/l7.ts).
import type {
  Matcher,
  Matcher_MatcherList_Predicate,
  Matcher_OnMatch,
} from '../../../proto/gen/xds/type/matcher/v3/matcher.js';
import { RBAC_Action } from '../../../proto/gen/envoy/config/rbac/v3/rbac.js';
import { NO_PATH, type PathRule } from '../model/index.js';
import { ID_SEGMENT, WILDCARD_SUFFIX } from '../learn/l7.js';
import { T, pack } from './envoy-types.js';

const RE_SPECIAL = /[\\^$.*+?()[\]{}|]/g;
const QUERY = '(\\?.*)?$';

/** One template's part of a `:path` regex, without anchors or the query string. */
function templateBody(template: string): string {
  if (template === WILDCARD_SUFFIX) return '(/[^?#]*)?';
  const wild = template.endsWith(WILDCARD_SUFFIX);
  const body = wild ? template.slice(0, -2) : template;
  const re = body
    .split('/')
    .map((seg) => (seg === ID_SEGMENT ? '[^/?#]+' : seg.replace(RE_SPECIAL, '\\$&')))
    .join('/');
  return wild ? `${re}(/[^?#]*)?` : re;
}

/**
 * The RE2 regex a template matches the `:path` header with (which includes the query string): a literal segment
 * matches itself, `{id}` one non-empty segment, a final `/*` the prefix itself or anything under it.
 */
export function templateRegex(template: string): string {
  return templatesRegex([template]);
}

/** One regex matching a path any of the templates matches (an alternation: RE2 reads the path once for all). */
export function templatesRegex(templates: readonly string[]): string {
  const bodies = templates.map(templateBody);
  return bodies.length === 1 ? `^${bodies[0]}${QUERY}` : `^(?:${bodies.join('|')})${QUERY}`;
}

/**
 * Templates per regex: RE2 compiles an alternation into one program that reads the path once, whose size grows
 * with the templates; a rule with thousands of them gets several regexes, tried in turn.
 */
export const TEMPLATES_PER_REGEX = 64;

function header(
  name: string,
  valueMatch: Matcher_MatcherList_Predicate['singlePredicate'],
): Matcher_MatcherList_Predicate {
  return {
    singlePredicate: {
      input: { name: `header:${name}`, typedConfig: pack(T.requestHeaderInput, { headerName: name }) },
      valueMatch: valueMatch?.valueMatch,
      customMatch: undefined,
    },
    orMatcher: undefined,
    andMatcher: undefined,
    notMatcher: undefined,
  };
}

function rbacAction(name: string, allow: boolean): Matcher_OnMatch {
  return {
    matcher: undefined,
    action: {
      name,
      typedConfig: pack(T.rbacAction, { name, action: allow ? RBAC_Action.ALLOW : RBAC_Action.DENY }),
    },
  };
}

/** The ALLOW action name of a rule's templates of one method: `ingress|shop/web|http/9090|GET paths`. */
export function methodPathsName(ruleName: string, method: string): string {
  return `${ruleName}|${method} paths`;
}

export function noPathName(ruleName: string): string {
  return `${ruleName}|${NO_PATH}`;
}

/** `:path` against one method's templates (a regex per TEMPLATES_PER_REGEX of them); none → `otherwise`. */
function pathList(ruleName: string, method: string, paths: readonly string[], otherwise: Matcher_OnMatch): Matcher {
  const sorted = [...new Set(paths)].sort();
  const matchers = [];
  for (let i = 0; i < sorted.length; i += TEMPLATES_PER_REGEX) {
    const regex = templatesRegex(sorted.slice(i, i + TEMPLATES_PER_REGEX));
    matchers.push({
      predicate: header(':path', { valueMatch: { safeRegex: { googleRe2: {}, regex }, ignoreCase: false } }),
      onMatch: rbacAction(methodPathsName(ruleName, method), true),
    });
  }
  return { matcherTree: undefined, matcherList: { matchers }, onNoMatch: otherwise };
}

/**
 * What a request from a rule's source does next with the rule's paths: `:method` picks that method's templates (an
 * exact-match map), which match `:path` with one regex; a request whose method has none, or whose path none of them matches, tries the
 * rule's any-method (`*`) templates; none matching → DENY `<rule>|no-path`. Each request costs two header lookups
 * and one or two regex reads, however many templates the rule lists.
 */
export function pathsOnMatch(ruleName: string, paths: readonly PathRule[]): Matcher_OnMatch {
  const byMethod = new Map<string, string[]>();
  for (const p of paths) {
    const list = byMethod.get(p.method);
    if (list) list.push(p.path);
    else byMethod.set(p.method, [p.path]);
  }
  const deny = rbacAction(noPathName(ruleName), false);
  const any = byMethod.get('*');
  const otherwise: Matcher_OnMatch = any ? { matcher: pathList(ruleName, '*', any, deny), action: undefined } : deny;
  const map: Record<string, Matcher_OnMatch> = {};
  for (const [method, list] of [...byMethod.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (method === '*') continue;
    map[method] = { matcher: pathList(ruleName, method, list, otherwise), action: undefined };
  }
  // no method has templates of its own: the `*` templates decide (with none at all, every request is denied)
  if (Object.keys(map).length === 0) return otherwise;
  const matcher: Matcher = {
    matcherTree: {
      input: { name: 'header::method', typedConfig: pack(T.requestHeaderInput, { headerName: ':method' }) },
      exactMatchMap: { map },
      prefixMatchMap: undefined,
      customMatch: undefined,
    },
    matcherList: undefined,
    onNoMatch: otherwise,
  };
  return { matcher, action: undefined };
}
