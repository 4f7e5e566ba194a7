// L7 learning: HTTP method + path template per edge (gRPC: `/package.Service/Method`). Pure, never throws.
//
// The templating rule (docs/l7.md), applied to the request path Envoy logged:
//   1. The query string (from the first `?`) and a fragment (from the first `#`) are dropped.
//   2. Each path segment (between `/`) that is all digits, a UUID (8-4-4-4-12 hex digits), or at least 8 hex
//      characters including a digit becomes `{id}`. A segment containing `{`, `}` or `*` (template syntax) becomes
//      `{id}` too, so a template never holds a literal that reads as syntax. Every other segment is kept as is.
//   3. gRPC paths (`/package.Service/Method`) are kept as they are: the method name is the identity.
// One edge keeps at most MAX_TEMPLATES templates. The one that would be the 51st collapses the edge: every
// template becomes its first segment followed by `/*` (`/items/{id}/tags` → `/items/*`, `/` stays `/`), merged by
// method, and the edge is flagged `pathsCollapsed`; later templates arrive collapsed too. If even the collapsed
// set exceeds the limit, each method keeps only `/*`. A template longer than MAX_TEMPLATE_LENGTH is collapsed the
// same way on its own. `PREFIX/*` means PREFIX itself and every path under it.

import type { PathEvidence } from '../model/index.js';

export const MAX_TEMPLATES = 50;
export const MAX_TEMPLATE_LENGTH = 256;
export const ID_SEGMENT = '{id}';
export const WILDCARD_SUFFIX = '/*';

const DIGITS_RE = /^[0-9]+$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX_RE = /^[0-9a-f]{8,}$/i;
const HAS_DIGIT_RE = /[0-9]/;
const SYNTAX_RE = /[{}*]/;

/** `{id}` when the segment is an identifier by the rule above, else the segment. */
export function templateSegment(seg: string): string {
  if (seg === '') return seg;
  if (DIGITS_RE.test(seg) || UUID_RE.test(seg) || (HEX_RE.test(seg) && HAS_DIGIT_RE.test(seg))) return ID_SEGMENT;
  if (SYNTAX_RE.test(seg)) return ID_SEGMENT;
  return seg;
}

/** The path without query string and fragment; `/` when nothing (or no leading `/`) remains. */
export function stripQuery(path: string): string {
  let end = path.length;
  const q = path.indexOf('?');
  if (q >= 0) end = q;
  const h = path.indexOf('#');
  if (h >= 0 && h < end) end = h;
  const p = path.slice(0, end);
  return p.startsWith('/') ? p : '/' + p;
}

/**
 * Recent raw paths → templates: the hot path of ingest sees the same few paths over and over, and templating
 * (split + regexes per segment) cost about as much as counting the entry. Bounded: cleared when full. The result
 * depends on the path alone, so the memo changes no output.
 */
const TEMPLATE_MEMO_MAX = 4096;
/** longer paths are templated every time (the memo's memory stays below 4096 × this) */
const TEMPLATE_MEMO_KEY_MAX = 512;
const templateMemo = new Map<string, string>();

/** The template of an HTTP request path (rule above). `grpc` keeps the path as is (minus a query). */
export function pathTemplate(path: string, grpc = false): string {
  if (path.length > TEMPLATE_MEMO_KEY_MAX) return computeTemplate(path, grpc);
  const key = grpc ? '\0' + path : path;
  const hit = templateMemo.get(key);
  if (hit !== undefined) return hit;
  const t = computeTemplate(path, grpc);
  if (templateMemo.size >= TEMPLATE_MEMO_MAX) templateMemo.clear();
  templateMemo.set(key, t);
  return t;
}

function computeTemplate(path: string, grpc: boolean): string {
  const p = stripQuery(path);
  if (grpc) return p.length > MAX_TEMPLATE_LENGTH ? collapseTemplate(p) : p;
  const t = p.split('/').map(templateSegment).join('/');
  return t.length > MAX_TEMPLATE_LENGTH ? collapseTemplate(t) : t;
}

/** `PREFIX/*` for a template: its first segment and a wildcard (`/` and wildcards stay what they are). */
export function collapseTemplate(template: string): string {
  if (template === '/' || template.endsWith(WILDCARD_SUFFIX)) {
    return template.length > MAX_TEMPLATE_LENGTH ? WILDCARD_SUFFIX : template;
  }
  const second = template.indexOf('/', 1);
  const first = second < 0 ? template : template.slice(0, second);
  return first.length + 2 > MAX_TEMPLATE_LENGTH ? WILDCARD_SUFFIX : first + WILDCARD_SUFFIX;
}

/** True when the template `t` (possibly `PREFIX/*`) covers the concrete template `path`. */
export function templateCovers(t: string, path: string): boolean {
  if (t === path) return true;
  if (!t.endsWith(WILDCARD_SUFFIX)) return false;
  const prefix = t.slice(0, -2); // '' for '/*'
  return path === prefix || path.startsWith(prefix + '/');
}

/** Method names Envoy's access log carries (envoy.config.core.v3.RequestMethod), by enum value. */
const METHODS = ['', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

/** The method name of an access-log RequestMethod value; undefined when unspecified or unknown. */
export function methodName(v: number | undefined): string | undefined {
  if (v === undefined) return undefined;
  const m = METHODS[v];
  return m === undefined || m === '' ? undefined : m;
}

export interface PathsState {
  paths: PathEvidence[];
  pathsCollapsed?: boolean;
}

export interface RecordedPath {
  /** the template the request was counted under (the covering wildcard once the edge collapsed) */
  readonly path: string;
  /** it revealed a template the edge did not have, or collapsed the edge: a new species for convergence */
  readonly isNew: boolean;
}

/** Counts one request (method + template) on an edge's evidence. Mutates `ev` (the learner's live evidence). */
export function recordPath(ev: PathsState, method: string, template: string, time: number): RecordedPath {
  let t = ev.pathsCollapsed ? collapseTemplate(template) : template;
  const hit = findCovering(ev.paths, method, t);
  if (hit !== undefined) return count(hit, time, false);
  if (ev.paths.length >= MAX_TEMPLATES) {
    collapsePaths(ev);
    t = collapseTemplate(template);
    const again = findCovering(ev.paths, method, t);
    if (again !== undefined) return count(again, time, true);
    if (ev.paths.length >= MAX_TEMPLATES) {
      collapseToMethods(ev);
      t = WILDCARD_SUFFIX;
      const m = findCovering(ev.paths, method, t);
      if (m !== undefined) return count(m, time, true);
    }
  }
  if (t.endsWith(WILDCARD_SUFFIX)) ev.pathsCollapsed = true; // an over-long template, collapsed on its own
  ev.paths.push({ method, path: t, count: 1, firstSeen: time, lastSeen: time });
  return { path: t, isNew: true };
}

function count(p: PathEvidence, time: number, isNew: boolean): RecordedPath {
  p.count++;
  if (time > p.lastSeen) p.lastSeen = time;
  if (time < p.firstSeen) p.firstSeen = time;
  return { path: p.path, isNew };
}

function findCovering(paths: readonly PathEvidence[], method: string, path: string): PathEvidence | undefined {
  for (const p of paths) if (p.method === method && templateCovers(p.path, path)) return p;
  return undefined;
}

function merge(paths: readonly PathEvidence[], key: (p: PathEvidence) => string): PathEvidence[] {
  const by = new Map<string, PathEvidence>();
  for (const p of paths) {
    const path = key(p);
    const k = `${p.method} ${path}`;
    const m = by.get(k);
    if (m === undefined)
      by.set(k, { method: p.method, path, count: p.count, firstSeen: p.firstSeen, lastSeen: p.lastSeen });
    else {
      m.count += p.count;
      if (p.firstSeen < m.firstSeen) m.firstSeen = p.firstSeen;
      if (p.lastSeen > m.lastSeen) m.lastSeen = p.lastSeen;
    }
  }
  return [...by.values()];
}

/** Every template → `PREFIX/*`, merged; the edge is flagged. */
export function collapsePaths(ev: PathsState): void {
  ev.paths = merge(ev.paths, (p) => collapseTemplate(p.path));
  ev.pathsCollapsed = true;
}

function collapseToMethods(ev: PathsState): void {
  ev.paths = merge(ev.paths, () => WILDCARD_SUFFIX);
  ev.pathsCollapsed = true;
}

/** Sorted by path, then method (deterministic output for documents and golden files). */
export function comparePaths(a: { method: string; path: string }, b: { method: string; path: string }): number {
  if (a.path !== b.path) return a.path < b.path ? -1 : 1;
  return a.method < b.method ? -1 : a.method > b.method ? 1 : 0;
}

/**
 * The learned template closest to a request (for alerts about a denied new path): same method first, then the
 * most leading segments in common, then the smallest edit in segment count. Undefined when nothing is learned.
 */
export function closestTemplate(
  learned: readonly { method: string; path: string }[],
  method: string,
  path: string,
): { method: string; path: string } | undefined {
  const segs = pathTemplate(path).split('/');
  let best: { method: string; path: string } | undefined;
  let bestScore = -Infinity;
  for (const l of learned) {
    const ls = l.path.split('/');
    let common = 0;
    while (common < ls.length && common < segs.length && (ls[common] === segs[common] || ls[common] === ID_SEGMENT))
      common++;
    const score = (l.method === method ? 1000 : 0) + common * 10 - Math.abs(ls.length - segs.length);
    if (score > bestScore || (score === bestScore && best && comparePaths(l, best) < 0)) {
      best = l;
      bestScore = score;
    }
  }
  return best;
}
