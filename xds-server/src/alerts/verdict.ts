// Access-log entry → verdict (denied / would-deny) and why. Pure: no I/O, never throws.
//
// Signals, strongest first:
//  (a) the stream's log name ends with "-deny": the generator routes connections that match no allowed rule of a
//      service in enforce mode to deny chains that log as "outbound-deny" / "inbound-deny" → denied;
//  (b) Envoy's RBAC filters denied it: network RBAC sets connection_termination_details to
//      "rbac_access_denied_matched_policy[...]"; HTTP RBAC answers 403 with response_code_details
//      "rbac_access_denied_matched_policy[...]" → denied;
//  (c) the RBAC shadow engine (monitor mode) wrote `shadow_engine_result: "denied"` into the dynamic metadata of
//      envoy.filters.network.rbac / envoy.filters.http.rbac → would-deny, with `shadow_effective_policy_id` as the
//      policy when present. Envoy prefixes both keys with `shadow_rules_stat_prefix` when one is configured, so a
//      key is matched by its suffix.
// Anything else (an allowed connection, a malformed entry) → undefined.

import type { LogEntry, Verdict } from '../model/index.js';

export type VerdictEntryKind = 'tcp' | 'http';

export interface VerdictResult {
  readonly verdict: Verdict;
  /** The RBAC policy named by Envoy (matched or shadow-effective), when it names one. */
  readonly policy?: string;
  /** Human-readable evidence: which signal fired and what Envoy said. */
  readonly detail: string;
}

/** Log names of the deny chains end with this. */
import { DENY_LOG_SUFFIX } from '../model/index.js';

export { DENY_LOG_SUFFIX };
export const RBAC_DENIED_PREFIX = 'rbac_access_denied';
export const RBAC_FILTERS = ['envoy.filters.network.rbac', 'envoy.filters.http.rbac'] as const;
const SHADOW_RESULT_KEY = 'shadow_engine_result';
const SHADOW_POLICY_KEY = 'shadow_effective_policy_id';

/** `rbac_access_denied_matched_policy[name]` → `name`; `[none]` or no brackets → undefined. */
function matchedPolicy(details: string): string | undefined {
  const m = /\[([^\]]*)\]\s*$/.exec(details);
  const p = m?.[1];
  return p && p !== 'none' ? p : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function withPolicy(verdict: Verdict, detail: string, policy: string | undefined): VerdictResult {
  return policy !== undefined ? { verdict, policy, detail } : { verdict, detail };
}

function shadowVerdict(c: Record<string, unknown> | undefined): VerdictResult | undefined {
  const md0 = c?.metadata;
  const fm = isRecord(md0) ? md0.filterMetadata : undefined;
  if (!isRecord(fm)) return undefined;
  for (const filter of RBAC_FILTERS) {
    const md = fm[filter];
    if (!isRecord(md)) continue;
    for (const key of Object.keys(md)) {
      if (!key.endsWith(SHADOW_RESULT_KEY) || md[key] !== 'denied') continue;
      const prefix = key.slice(0, key.length - SHADOW_RESULT_KEY.length);
      const policy = str(md[prefix + SHADOW_POLICY_KEY]) || undefined;
      return withPolicy('would-deny', `${filter} shadow rules: denied`, policy);
    }
  }
  return undefined;
}

function classify(entry: LogEntry, kind: VerdictEntryKind, logName: string): VerdictResult | undefined {
  if (typeof logName === 'string' && logName.endsWith(DENY_LOG_SUFFIX)) {
    return { verdict: 'denied', detail: `log ${logName}: no allowed rule matched` };
  }
  // Typed as the generated messages, but checked as unknown: callers may hand in anything.
  const e: unknown = entry;
  if (!isRecord(e)) return undefined;
  const c = isRecord(e.commonProperties) ? e.commonProperties : undefined;

  // Network RBAC closes the connection; HCM never logs it, so this can appear on either kind of entry.
  const term = str(c?.connectionTerminationDetails);
  if (term?.startsWith(RBAC_DENIED_PREFIX)) {
    return withPolicy('denied', `connection terminated: ${term}`, matchedPolicy(term));
  }
  if (kind === 'http') {
    const res = e.response;
    if (isRecord(res) && res.responseCode === 403) {
      const details = str(res.responseCodeDetails);
      if (details?.startsWith(RBAC_DENIED_PREFIX)) {
        return withPolicy('denied', `HTTP 403 ${details}`, matchedPolicy(details));
      }
    }
  }
  return shadowVerdict(c);
}

/**
 * The verdict an access-log entry carries, or undefined for an allowed connection. `logName` is the stream's
 * `identifier.log_name`. Never throws, whatever the input.
 */
export function verdictOf(entry: LogEntry, kind: VerdictEntryKind, logName: string): VerdictResult | undefined {
  try {
    return classify(entry, kind, logName);
  } catch {
    // Only reachable with hand-built objects (getters that throw, proxies); treat as carrying no verdict.
    return undefined;
  }
}
