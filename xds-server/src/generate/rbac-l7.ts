// L7 rules in the inbound HTTP RBAC (a service with L7 enforcement on): after the source address matched an
// ingress rule that lists paths, the request's `:method` and `:path` must match one of the rule's templates. Pure.
//
//   port → source-ip trie → rule R with paths → matcher_list, first match wins:
//       (:method = GET ∧ :path ~ ^/items/[^/?#]+(\?.*)?$) → ALLOW `R|GET /items/{id}`
//       ...
//     on_no_match → DENY `R|no-path`
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

/** The RBAC action name of one path of a rule: `ingress|shop/web|http/9090|GET /items/{id}`. */
export function pathRuleName(ruleName: string, p: PathRule): string {
  return `${ruleName}|${p.method} ${p.path}`;
}

export function noPathName(ruleName: string): string {
  return `${ruleName}|${NO_PATH}`;
}

const RE_SPECIAL = /[\\^$.*+?()[\]{}|]/g;

/**
 * The RE2 regex a template matches the `:path` header with (which includes the query string): a literal segment
 * matches itself, `{id}` one non-empty segment, a final `/*` the prefix itself or anything under it.
 */
export function templateRegex(template: string): string {
  const query = '(\\?.*)?$';
  if (template === WILDCARD_SUFFIX) return `^(/[^?#]*)?${query}`;
  const wild = template.endsWith(WILDCARD_SUFFIX);
  const body = wild ? template.slice(0, -2) : template;
  const re = body
    .split('/')
    .map((seg) => (seg === ID_SEGMENT ? '[^/?#]+' : seg.replace(RE_SPECIAL, '\\$&')))
    .join('/');
  return `^${re}${wild ? '(/[^?#]*)?' : ''}${query}`;
}

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

/** The request matcher of one rule's paths; none matching → DENY `<rule>|no-path`. */
export function pathsMatcher(ruleName: string, paths: readonly PathRule[]): Matcher {
  return {
    matcherTree: undefined,
    matcherList: {
      matchers: paths.map((p) => {
        const path = header(':path', {
          valueMatch: { safeRegex: { googleRe2: {}, regex: templateRegex(p.path) }, ignoreCase: false },
        });
        const predicate: Matcher_MatcherList_Predicate =
          p.method === '*'
            ? path
            : {
                andMatcher: {
                  predicate: [header(':method', { valueMatch: { exact: p.method, ignoreCase: false } }), path],
                },
                singlePredicate: undefined,
                orMatcher: undefined,
                notMatcher: undefined,
              };
        return { predicate, onMatch: rbacAction(pathRuleName(ruleName, p), true) };
      }),
    },
    onNoMatch: rbacAction(noPathName(ruleName), false),
  };
}
