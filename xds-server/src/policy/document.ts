// The policy document `nanoseg policy show SERVICE -o yaml` prints (and `policy apply -f` reads back, file.ts):
// the policy in force as plain data, rules in deterministic order, with informational evidence. Pure.
import { Document, isMap, isScalar, isSeq, visit } from 'yaml';
import { hasPort } from '../model/index.js';
import type { Evidence, Mode, Peer, PolicyRule, Protocol, ServiceName, ServicePolicy } from '../model/index.js';
import { latencyQuantile } from '../learn/latency.js';
import { comparePaths } from './paths.js';
import { compareRules, plainPeer, type PolicySide } from './rules.js';

export const POLICY_API_VERSION = 'nanoseg.io/v1alpha1';
export const POLICY_KIND = 'Policy';

export interface DocumentEvidence {
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly count: number;
  /** the edge had more than 50 path templates: its paths were collapsed to `PREFIX/*` */
  readonly pathsCollapsed?: true;
  /** failed requests (connections for tcp) among `count` (learn/outcome.ts) */
  readonly errors: number;
  /** errors / count, 0 when nothing was counted */
  readonly errorRate: number;
  /** request duration quantiles (HTTP/gRPC edges, once a duration was measured), ms */
  readonly latency?: { readonly p50Ms: number; readonly p99Ms: number };
}

/** A method + path template of a rule; `count` (requests seen) is informational, ignored on apply. */
export interface DocumentPath {
  readonly method: string;
  readonly path: string;
  readonly count?: number;
}

export interface DocumentRule {
  readonly peer: Peer;
  readonly protocol: Protocol;
  /** absent for icmp (no port) */
  readonly port?: number;
  readonly paths?: readonly DocumentPath[];
  readonly evidence?: DocumentEvidence;
}

/** The policy document as plain data (serialize with `formatPolicyDocument`). */
export interface PolicyDocument {
  readonly apiVersion: typeof POLICY_API_VERSION;
  readonly kind: typeof POLICY_KIND;
  readonly service: ServiceName;
  readonly mode?: Mode;
  /** present (true) when L7 enforcement is on */
  readonly l7?: boolean;
  readonly ingress: readonly DocumentRule[];
  readonly egress: readonly DocumentRule[];
}

/** Evidence for a rule, when known (learned rules have it; applied ones may not). */
export type EvidenceLookup = (side: PolicySide, rule: PolicyRule) => Evidence | undefined;

/** The document `policy show` prints. Rules and paths in deterministic order. */
export function policyDocument(
  policy: ServicePolicy,
  mode: Mode,
  evidence?: EvidenceLookup,
  l7 = false,
): PolicyDocument {
  const rules = (side: PolicySide, rs: readonly PolicyRule[]): DocumentRule[] =>
    [...rs].sort(compareRules).map((r) => {
      const e = evidence?.(side, r);
      const counts = new Map((e?.paths ?? []).map((p) => [`${p.method} ${p.path}`, p.count]));
      const paths =
        r.paths &&
        [...r.paths].sort(comparePaths).map((p) => {
          const c = counts.get(`${p.method} ${p.path}`);
          return c === undefined ? { method: p.method, path: p.path } : { method: p.method, path: p.path, count: c };
        });
      const base = {
        peer: plainPeer(r.peer),
        protocol: r.protocol,
        ...(hasPort(r.protocol) && { port: r.port }),
        ...(paths && { paths }),
      };
      if (!e) return base;
      return {
        ...base,
        evidence: {
          firstSeen: new Date(e.firstSeen).toISOString(),
          lastSeen: new Date(e.lastSeen).toISOString(),
          count: e.count,
          ...(e.pathsCollapsed === true && { pathsCollapsed: true as const }),
          ...outcome(e),
        },
      };
    });
  return {
    apiVersion: POLICY_API_VERSION,
    kind: POLICY_KIND,
    service: policy.service,
    mode,
    ...(l7 && { l7: true }),
    ingress: rules('ingress', policy.ingress),
    egress: rules('egress', policy.egress),
  };
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

/** Errors, error rate and latency quantiles of an edge's evidence, as `policy show` prints them. */
export function outcome(e: Evidence): Pick<DocumentEvidence, 'errors' | 'errorRate' | 'latency'> {
  const errors = e.errors ?? 0;
  const p50 = e.latency && latencyQuantile(e.latency, 0.5);
  const p99 = e.latency && latencyQuantile(e.latency, 0.99);
  // A quantile shown to 0.01 ms never reads above the slowest request: rounding 1.235 up to 1.24 would.
  const shown = (q: number): number => Math.min(round(q, 2), Math.floor(e.latency!.maxMs * 100) / 100);
  return {
    errors,
    errorRate: e.count > 0 ? round(errors / e.count, 4) : 0,
    ...(p50 !== undefined && p99 !== undefined && { latency: { p50Ms: shown(p50), p99Ms: shown(p99) } }),
  };
}

/** YAML (peers, paths and evidence in flow style, one rule per list item) or JSON (2-space indent). */
export function formatPolicyDocument(doc: PolicyDocument, format: 'yaml' | 'json' = 'yaml'): string {
  if (format === 'json') return JSON.stringify(doc, null, 2) + '\n';
  const d = new Document(doc);
  visit(d, {
    Pair(_, pair) {
      if (!isScalar(pair.key)) return;
      const k = pair.key.value;
      if ((k === 'peer' || k === 'evidence') && isMap(pair.value)) pair.value.flow = true;
      if (k === 'paths' && isSeq(pair.value)) for (const it of pair.value.items) if (isMap(it)) it.flow = true;
    },
  });
  return d.toString({ lineWidth: 0, flowCollectionPadding: false });
}
