// The labels and annotations the injector reads and writes, and the parsing of the capture exclusions. Pure.
import type { ValidationError, ValidationResult } from '../xds-server/src/model/index.js';
import { formatCidr, parseCidr } from '../xds-server/src/policy/index.js';

/** Namespace label that turns injection on (the MutatingWebhookConfiguration's namespaceSelector matches it). */
export const INJECT_LABEL = 'nanoseg.io/inject';
export const INJECT_ENABLED = 'enabled';
/** `nanoseg.io/inject: "false"` on a pod, as a label or an annotation, opts it out. */
export const INJECT_OPT_OUT = 'false';
/** Written on an injected pod: a second admission (reinvocation, a retried request) leaves it alone. */
export const STATUS_ANNOTATION = 'nanoseg.io/status';
export const STATUS_INJECTED = 'injected';
/** Written on an injected pod: the service its sidecar speaks for. */
export const SERVICE_ANNOTATION = 'nanoseg.io/service';

export const EXCLUDE_OUTBOUND_PORTS = 'nanoseg.io/exclude-outbound-ports';
export const EXCLUDE_INBOUND_PORTS = 'nanoseg.io/exclude-inbound-ports';
export const EXCLUDE_OUTBOUND_IP_RANGES = 'nanoseg.io/exclude-outbound-ip-ranges';

export interface CaptureExclusions {
  readonly inboundPorts: readonly number[];
  readonly outboundPorts: readonly number[];
  /** canonical CIDR text */
  readonly outboundCidrs: readonly string[];
}

/** Comma-separated values; blanks around commas allowed, empty items refused. An empty annotation means none. */
function items(value: string): string[] {
  const trimmed = value.trim();
  return trimmed === '' ? [] : trimmed.split(',').map((s) => s.trim());
}

function ports(name: string, value: string | undefined, errors: ValidationError[]): number[] {
  if (value === undefined) return [];
  const out: number[] = [];
  for (const item of items(value)) {
    const n = /^[0-9]{1,5}$/.test(item) ? Number(item) : NaN;
    if (!(n >= 1 && n <= 65535)) {
      errors.push({
        path: `metadata.annotations["${name}"]`,
        message: `annotation ${name}: "${item}" is not a port (1-65535; write ports separated by commas, e.g. "5432,6379")`,
      });
    } else out.push(n);
  }
  return out;
}

function cidrs(name: string, value: string | undefined, errors: ValidationError[]): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const item of items(value)) {
    const p = parseCidr(item.includes('/') ? item : `${item}/${item.includes(':') ? 128 : 32}`);
    if ('error' in p) {
      errors.push({
        path: `metadata.annotations["${name}"]`,
        message: `annotation ${name}: ${p.error} (write addresses or CIDRs separated by commas, e.g. "10.0.0.0/8,fd00::/8")`,
      });
    } else out.push(formatCidr(p.cidr));
  }
  return out;
}

/** The three exclusion annotations of a pod, every problem reported at once, each naming its annotation. */
export function captureExclusions(annotations: Readonly<Record<string, string>>): ValidationResult<CaptureExclusions> {
  const errors: ValidationError[] = [];
  const result = {
    inboundPorts: ports(EXCLUDE_INBOUND_PORTS, annotations[EXCLUDE_INBOUND_PORTS], errors),
    outboundPorts: ports(EXCLUDE_OUTBOUND_PORTS, annotations[EXCLUDE_OUTBOUND_PORTS], errors),
    outboundCidrs: cidrs(EXCLUDE_OUTBOUND_IP_RANGES, annotations[EXCLUDE_OUTBOUND_IP_RANGES], errors),
  };
  return errors.length > 0 ? { valid: false, errors } : { valid: true, result };
}
