// L7 rules: the method + path templates a policy rule allows (learned by learn/l7.ts, or written by a person).
// Validation and normalization here; the RBAC matchers are built in generate/rbac.ts. Pure.
import type { PathRule } from '../model/index.js';
import { ID_SEGMENT, MAX_TEMPLATE_LENGTH, WILDCARD_SUFFIX, comparePaths } from '../learn/l7.js';

export { comparePaths };

/** Methods a rule may name; `*` is any method (a learned request whose log carried no method). */
export const PATH_METHODS: readonly string[] = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
  '*',
];

/** RFC 3986 pchar without `%`-escapes spelled out: what a literal template segment may contain. */
const LITERAL_SEGMENT_RE = /^[A-Za-z0-9\-._~!$&'()+,;=:@%]*$/;

/**
 * Why a method + path template is not valid, or undefined. A template is `/` followed by segments separated by
 * `/`; a segment is a literal (URL path characters, no `{`, `}`, `*`, `?`, `#`) or `{id}` (exactly one segment);
 * the template may end in `/*` (that prefix and everything under it).
 */
export function checkPathRule(method: string, path: string): string | undefined {
  if (!PATH_METHODS.includes(method)) return `"${method}" is not a method (${PATH_METHODS.join('|')})`;
  if (!path.startsWith('/')) return `"${path}" must start with /`;
  if (path.length > MAX_TEMPLATE_LENGTH) return `a path template is at most ${MAX_TEMPLATE_LENGTH} characters`;
  if (path === '/' || path === WILDCARD_SUFFIX) return undefined;
  const body = path.endsWith(WILDCARD_SUFFIX) ? path.slice(1, -2) : path.slice(1);
  for (const seg of body.split('/')) {
    if (seg === ID_SEGMENT) continue;
    if (!LITERAL_SEGMENT_RE.test(seg))
      return `"${path}": segment "${seg}" is neither a literal nor {id} (* only as a final /*)`;
  }
  return undefined;
}

/** Sorted copy without duplicates. */
export function normalizePaths(paths: readonly PathRule[]): PathRule[] {
  const by = new Map<string, PathRule>();
  for (const p of paths) by.set(`${p.method} ${p.path}`, { method: p.method, path: p.path });
  return [...by.values()].sort(comparePaths);
}
