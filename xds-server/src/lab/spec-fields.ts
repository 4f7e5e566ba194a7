// Field checks of the lab file, shared by the lab and pod validators. Pure.
import { parsePodUser, type PodUser } from './sandbox.js';
import {
  MAX_SUBNET6_PREFIX,
  MIN_SUBNET6_PREFIX,
  canonicalIp6,
  externalAddress6Problem,
  parseCidr6,
  podAddress6Problem,
  type Cidr6,
} from './ipv6.js';

/** Ports Envoy owns inside every pod: admin, outbound capture, inbound capture. */
export const RESERVED_POD_PORTS: readonly number[] = [15000, 15001, 15006];
export const MAX_MEMBER_NAME_LENGTH = 32;

export type Segment = string | number;
export interface RawError {
  readonly segments: readonly Segment[];
  /** point at the key of the last segment (unknown fields) rather than its value */
  readonly atKey: boolean;
  readonly message: string;
}

export const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function formatPath(segments: readonly Segment[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`;
  return out;
}

/** `FILE:LINE:COL: path: message` (position and path parts left out when unknown). */

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class Collector {
  readonly errors: RawError[] = [];
  add(segments: readonly Segment[], message: string, atKey = false): void {
    this.errors.push({ segments, message, atKey });
  }
}

export function checkFields(
  c: Collector,
  obj: Record<string, unknown>,
  at: readonly Segment[],
  allowed: readonly string[],
): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) c.add([...at, k], `unknown field (allowed: ${allowed.join(', ')})`, true);
  }
}

export function checkName(c: Collector, v: unknown, at: readonly Segment[]): string | undefined {
  if (v === undefined) return (c.add(at, 'required'), undefined);
  if (typeof v !== 'string') return (c.add(at, 'must be a string'), undefined);
  if (v.length > MAX_MEMBER_NAME_LENGTH)
    return (c.add(at, `longer than ${MAX_MEMBER_NAME_LENGTH} characters`), undefined);
  if (!DNS_LABEL_RE.test(v)) {
    return (
      c.add(at, 'not a DNS label (lowercase letters, digits and "-", starting and ending alphanumeric)'),
      undefined
    );
  }
  if (v === 'lab') return (c.add(at, '"lab" is reserved for the lab host namespace'), undefined);
  return v;
}

export function checkRun(c: Collector, v: unknown, at: readonly Segment[], required: boolean): string[] | undefined {
  if (v === undefined) {
    if (required) c.add(at, 'required');
    return required ? undefined : [];
  }
  if (typeof v === 'string') {
    if (v.trim() === '') return (c.add(at, 'must not be empty'), undefined);
    return [v];
  }
  if (!Array.isArray(v)) return (c.add(at, 'must be a string or a list of strings'), undefined);
  if (v.length === 0) return (c.add(at, 'must not be an empty list'), undefined);
  let ok = true;
  v.forEach((item, i) => {
    if (typeof item !== 'string' || item.trim() === '') {
      c.add([...at, i], 'must be a non-empty string');
      ok = false;
    }
  });
  return ok ? (v as string[]) : undefined;
}

export function checkPorts(c: Collector, v: unknown, at: readonly Segment[]): number[] | undefined {
  if (v === undefined) return [];
  if (!Array.isArray(v)) return (c.add(at, 'must be a list of port numbers'), undefined);
  const seen = new Set<number>();
  let ok = true;
  v.forEach((p, i) => {
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) {
      c.add([...at, i], 'not a port number (an integer 1-65535)');
      ok = false;
    } else if (RESERVED_POD_PORTS.includes(p)) {
      c.add([...at, i], `port ${p} is reserved for Envoy (${RESERVED_POD_PORTS.join(', ')})`);
      ok = false;
    } else if (seen.has(p)) {
      c.add([...at, i], `duplicate port ${p}`);
      ok = false;
    }
    if (typeof p === 'number') seen.add(p);
  });
  return ok ? (v as number[]) : undefined;
}

export function checkString(c: Collector, v: unknown, at: readonly Segment[]): string | undefined {
  if (v === undefined) return (c.add(at, 'required'), undefined);
  if (typeof v !== 'string') return (c.add(at, 'must be a string'), undefined);
  return v;
}

/** `user:` and `privileged:` of a pod: undefined for the default user, null when invalid. */
export function checkUser(
  c: Collector,
  p: Record<string, unknown>,
  at: readonly Segment[],
): PodUser | undefined | null {
  const priv = p['privileged'];
  if (priv !== undefined && typeof priv !== 'boolean')
    return (c.add([...at, 'privileged'], 'must be true or false'), null);
  if (priv === true) {
    if (p['user'] !== undefined) {
      c.add([...at, 'privileged'], 'a privileged pod runs as root (uid 0): remove "user" or "privileged"');
      return null;
    }
    return { uid: 0, gid: 0, privileged: true };
  }
  if (p['user'] === undefined) return undefined;
  const u = parsePodUser(p['user']);
  if (typeof u === 'string') return (c.add([...at, 'user'], u), null);
  return u;
}

/** `subnet6:` at the top: absent (IPv4-only lab), or a canonical IPv6 CIDR of a size the lab can use. */
export function checkSubnet6(c: Collector, v: unknown): { subnet6?: string; cidr6?: Cidr6; ok: boolean } {
  if (v === undefined) return { ok: true };
  const cidr6 = typeof v === 'string' ? parseCidr6(v) : undefined;
  if (cidr6 === undefined) {
    c.add(['subnet6'], 'not an IPv6 network in CIDR notation without host bits (e.g. fd6e:7367::/64)');
    return { ok: false };
  }
  if (cidr6.prefix < MIN_SUBNET6_PREFIX || cidr6.prefix > MAX_SUBNET6_PREFIX) {
    c.add(['subnet6'], `prefix length must be between /${MIN_SUBNET6_PREFIX} and /${MAX_SUBNET6_PREFIX}`);
    return { ok: false };
  }
  return { subnet6: `${canonicalIp6((v as string).split('/')[0]!)!}/${cidr6.prefix}`, cidr6, ok: true };
}

/** A member's `address6`: its canonical text, undefined when absent, false when invalid. */
export function checkAddress6(
  c: Collector,
  v: unknown,
  at: readonly Segment[],
  subnet6Ok: boolean,
  cidr6: Cidr6 | undefined,
  kind: 'pod' | 'external',
): string | undefined | false {
  if (v === undefined) return undefined;
  const a = typeof v === 'string' ? canonicalIp6(v) : undefined;
  if (a === undefined) return (c.add(at, 'not an IPv6 address'), false);
  if (cidr6 === undefined) {
    if (subnet6Ok) c.add(at, `an IPv6 address needs a dual-stack lab: set subnet6 at the top (the bridge's network)`);
    return false;
  }
  const problem = kind === 'pod' ? podAddress6Problem(cidr6, a) : externalAddress6Problem(cidr6, a);
  if (problem !== undefined) return (c.add(at, problem), false);
  return a;
}
