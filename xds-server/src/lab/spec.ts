// The lab file: parsing (with line/column positions) and validation. Pure: no I/O except `loadLabSpec`.
import { readFile } from 'node:fs/promises';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import { SERVICE_NAME_RE } from '../model/types.js';
import { externalAddressProblem, isIPv4, labAddressPlan, parseCidr, podAddressProblem } from './ipv4.js';
import type { LabAddressPlan } from './ipv4.js';
import {
  Collector,
  DNS_LABEL_RE,
  checkAddress6,
  checkFields,
  checkName,
  checkPorts,
  checkRun,
  checkString,
  checkSubnet6,
  checkUser,
  formatPath,
  isRecord,
} from './spec-fields.js';
import type { RawError, Segment } from './spec-fields.js';
import type { LabExternalSpec, LabPodSpec, LabSpec } from './spec-types.js';
import { CAPTURE_MODES, DEFAULT_CAPTURE, type CaptureModeName } from '../sidecar/cgroup.js';

export { MAX_MEMBER_NAME_LENGTH, RESERVED_POD_PORTS, formatPath } from './spec-fields.js';

export const LAB_API_VERSION = 'nanoseg.io/v1alpha1';
export const DEFAULT_LAB_NAME = 'lab';
export const DEFAULT_LAB_SUBNET = '10.213.0.0/16';

import type { ValidationError, ValidationResult } from '../model/validation.js';

/** One validation problem (`path` like `pods[1].address`; line/col 1-based when the source is known). */
export type { ValidationError, ValidationResult };

export type { LabExternalSpec, LabPodSpec, LabSpec } from './spec-types.js';

/** The name of the lab's resolver member (`dns: true`). */
export const DNS_MEMBER = 'dns';

const TOP_FIELDS = [
  'apiVersion',
  'kind',
  'name',
  'subnet',
  'subnet6',
  'dns',
  'capture',
  'sockmap',
  'pods',
  'externals',
];
const POD_FIELDS = [
  'name',
  'service',
  'address',
  'address6',
  'run',
  'ports',
  'user',
  'privileged',
  'capture',
  'sockmap',
];
const EXTERNAL_FIELDS = ['name', 'address', 'address6', 'run'];

export function formatValidationError(e: ValidationError, file?: string): string {
  const where = [file, e.line, e.line !== undefined ? e.col : undefined].filter((x) => x !== undefined).join(':');
  const path = e.path === '' ? '' : `${e.path}: `;
  return `${where === '' ? '' : `${where}: `}${path}${e.message}`;
}

function checkCapture(c: Collector, v: unknown, at: readonly Segment[]): CaptureModeName | undefined | false {
  if (v === undefined || (CAPTURE_MODES as readonly unknown[]).includes(v)) return v as CaptureModeName | undefined;
  return (c.add(at, `must be one of ${CAPTURE_MODES.join(', ')}`), false);
}

function checkBool(c: Collector, v: unknown, at: readonly Segment[]): boolean | undefined | null {
  if (v === undefined || typeof v === 'boolean') return v;
  return (c.add(at, 'must be true or false'), null);
}
function validateInto(c: Collector, doc: unknown): LabSpec | undefined {
  if (!isRecord(doc)) {
    c.add([], 'a lab file must be a mapping with apiVersion, kind and pods');
    return undefined;
  }
  checkFields(c, doc, [], TOP_FIELDS);
  if (doc['apiVersion'] === undefined) c.add(['apiVersion'], `required (${LAB_API_VERSION})`);
  else if (doc['apiVersion'] !== LAB_API_VERSION) c.add(['apiVersion'], `must be ${LAB_API_VERSION}`);
  if (doc['kind'] === undefined) c.add(['kind'], 'required (Lab)');
  else if (doc['kind'] !== 'Lab') c.add(['kind'], 'must be Lab');

  let name: string | undefined = DEFAULT_LAB_NAME;
  if (doc['name'] !== undefined) {
    const n = doc['name'];
    if (typeof n !== 'string' || !DNS_LABEL_RE.test(n) || n.length > 63) {
      c.add(['name'], 'not a DNS label (lowercase letters, digits and "-", at most 63 characters)');
      name = undefined;
    } else name = n;
  }

  let subnet: string | undefined = DEFAULT_LAB_SUBNET;
  let plan: LabAddressPlan | undefined;
  if (doc['subnet'] !== undefined) {
    const s = doc['subnet'];
    const cidr = typeof s === 'string' ? parseCidr(s) : undefined;
    if (cidr === undefined) {
      c.add(['subnet'], 'not an IPv4 network in CIDR notation without host bits (e.g. 10.213.0.0/16)');
      subnet = undefined;
    } else if (cidr.prefix < 8 || cidr.prefix > 23) {
      c.add(['subnet'], 'prefix length must be between /8 and /23 (the last /24 holds service VIPs)');
      subnet = undefined;
    } else subnet = s as string;
  }
  if (subnet !== undefined) plan = labAddressPlan(parseCidr(subnet)!);
  const capture = checkCapture(c, doc['capture'], ['capture']);
  const sockmap = checkBool(c, doc['sockmap'], ['sockmap']);
  const { subnet6, cidr6, ok: subnet6Ok } = checkSubnet6(c, doc['subnet6']);

  let dns = false;
  if (doc['dns'] !== undefined) {
    if (typeof doc['dns'] !== 'boolean') c.add(['dns'], 'must be true or false');
    else dns = doc['dns'];
  }

  const names = new Map<string, string>();
  const addresses = new Map<string, string>();
  const claimName = (n: string | undefined, at: readonly Segment[]): void => {
    if (n === undefined) return;
    const prev = names.get(n);
    if (dns && n === DNS_MEMBER) c.add(at, `"${DNS_MEMBER}" is the lab's resolver (dns: true): choose another name`);
    else if (prev !== undefined) c.add(at, `duplicate name "${n}" (also ${prev})`);
    else names.set(n, formatPath(at));
  };
  const claimAddress = (a: string | undefined, at: readonly Segment[]): void => {
    if (a === undefined) return;
    const prev = addresses.get(a);
    if (prev !== undefined) c.add(at, `duplicate address ${a} (also ${prev})`);
    else addresses.set(a, formatPath(at));
  };

  const pods: LabPodSpec[] = [];
  let podsOk = true;
  const rawPods = doc['pods'];
  if (rawPods === undefined) {
    c.add(['pods'], 'required (a list of pods)');
    podsOk = false;
  } else if (!Array.isArray(rawPods)) {
    c.add(['pods'], 'must be a list of pods');
    podsOk = false;
  } else {
    rawPods.forEach((p: unknown, i) => {
      const at: Segment[] = ['pods', i];
      if (!isRecord(p)) {
        c.add(at, 'must be a mapping (name, service, run, ...)');
        podsOk = false;
        return;
      }
      checkFields(c, p, at, POD_FIELDS);
      const podName = checkName(c, p['name'], [...at, 'name']);
      claimName(podName, [...at, 'name']);
      let service: string | undefined;
      const svc = p['service'];
      if (svc === undefined) c.add([...at, 'service'], 'required (namespace/name)');
      else if (typeof svc !== 'string' || !SERVICE_NAME_RE.test(svc) || svc.split('/').some((l) => l.length > 63)) {
        c.add([...at, 'service'], 'not a service name: namespace/name, both lowercase DNS labels');
      } else service = svc;
      let address: string | undefined;
      let addressOk = true;
      if (p['address'] !== undefined) {
        const a = p['address'];
        addressOk = false;
        if (typeof a !== 'string' || !isIPv4(a)) c.add([...at, 'address'], 'not an IPv4 address');
        else if (plan !== undefined) {
          const problem = podAddressProblem(plan, a);
          if (problem !== undefined) c.add([...at, 'address'], problem);
          else {
            address = a;
            addressOk = true;
            claimAddress(a, [...at, 'address']);
          }
        }
      }
      const address6 = checkAddress6(c, p['address6'], [...at, 'address6'], subnet6Ok, cidr6, 'pod');
      claimAddress(address6 || undefined, [...at, 'address6']);
      const run = checkRun(c, p['run'], [...at, 'run'], true);
      const ports = checkPorts(c, p['ports'], [...at, 'ports']);
      const user = checkUser(c, p, at);
      const podCapture = checkCapture(c, p['capture'], [...at, 'capture']);
      const podSockmap = checkBool(c, p['sockmap'], [...at, 'sockmap']);
      if (podSockmap !== undefined && podSockmap !== null && (podCapture || capture || DEFAULT_CAPTURE) !== 'ebpf')
        c.add([...at, 'sockmap'], 'only with capture: ebpf (the fast path is part of the eBPF capture)');
      if (
        podName === undefined ||
        service === undefined ||
        !addressOk ||
        address6 === false ||
        run === undefined ||
        ports === undefined ||
        user === null ||
        podCapture === false ||
        podSockmap === null
      ) {
        podsOk = false;
        return;
      }
      pods.push({
        name: podName,
        service,
        ...(address !== undefined ? { address } : {}),
        ...(address6 ? { address6 } : {}),
        run,
        ports,
        ...(user !== undefined ? { user } : {}),
        ...(podCapture ? { capture: podCapture } : {}),
        ...(podSockmap !== undefined ? { sockmap: podSockmap } : {}),
      });
    });
  }

  const externals: LabExternalSpec[] = [];
  let externalsOk = true;
  const rawExternals = doc['externals'];
  if (rawExternals !== undefined && !Array.isArray(rawExternals)) {
    c.add(['externals'], 'must be a list of externals');
    externalsOk = false;
  } else if (rawExternals !== undefined) {
    (rawExternals as unknown[]).forEach((e, i) => {
      const at: Segment[] = ['externals', i];
      if (!isRecord(e)) {
        c.add(at, 'must be a mapping (name, address, run)');
        externalsOk = false;
        return;
      }
      checkFields(c, e, at, EXTERNAL_FIELDS);
      const extName = checkName(c, e['name'], [...at, 'name']);
      claimName(extName, [...at, 'name']);
      let address = checkString(c, e['address'], [...at, 'address']);
      if (address !== undefined) {
        if (!isIPv4(address)) {
          c.add([...at, 'address'], 'not an IPv4 address');
          address = undefined;
        } else if (plan !== undefined) {
          const problem = externalAddressProblem(plan, address);
          if (problem !== undefined) {
            c.add([...at, 'address'], problem);
            address = undefined;
          } else claimAddress(address, [...at, 'address']);
        }
      }
      const address6 = checkAddress6(c, e['address6'], [...at, 'address6'], subnet6Ok, cidr6, 'external');
      claimAddress(address6 || undefined, [...at, 'address6']);
      const run = checkRun(c, e['run'], [...at, 'run'], false);
      if (extName === undefined || address === undefined || address6 === false || run === undefined) {
        externalsOk = false;
        return;
      }
      externals.push({ name: extName, address, ...(address6 ? { address6 } : {}), run });
    });
  }

  if (
    c.errors.length > 0 ||
    name === undefined ||
    subnet === undefined ||
    !subnet6Ok ||
    capture === false ||
    sockmap === null ||
    !podsOk ||
    !externalsOk
  )
    return undefined;
  return {
    name,
    subnet,
    ...(subnet6 !== undefined ? { subnet6 } : {}),
    pods,
    externals,
    ...(dns ? { dns } : {}),
    ...(capture !== undefined ? { capture } : {}),
    ...(sockmap !== undefined ? { sockmap } : {}),
  };
}

function toResult(
  c: Collector,
  spec: LabSpec | undefined,
  position?: (e: RawError) => { line: number; col: number } | undefined,
): ValidationResult<LabSpec> {
  if (c.errors.length === 0 && spec !== undefined) return { valid: true, result: spec };
  const errors = c.errors.map((e): ValidationError => {
    const pos = position?.(e);
    return { path: formatPath(e.segments), message: e.message, ...(pos ?? {}) };
  });
  return { valid: false, errors };
}

/** Validates an already-parsed lab object (no positions in errors). */
export function validateLabSpec(value: unknown): ValidationResult<LabSpec> {
  const c = new Collector();
  return toResult(c, validateInto(c, value));
}

function locate(doc: Document, lc: LineCounter, e: RawError): { line: number; col: number } | undefined {
  let node: unknown = doc.contents;
  let found: YamlNode | undefined = isMap(node) || isSeq(node) || isScalar(node) ? (node as YamlNode) : undefined;
  for (let i = 0; i < e.segments.length; i++) {
    const seg = e.segments[i]!;
    const last = i === e.segments.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === seg);
      if (pair === undefined) break;
      if (last && e.atKey && isScalar(pair.key)) {
        found = pair.key;
        break;
      }
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
    } else break;
    if (isMap(node) || isSeq(node) || isScalar(node)) found = node as YamlNode;
    else break;
  }
  const offset = found?.range?.[0];
  if (offset === undefined) return undefined;
  const p = lc.linePos(offset);
  return { line: p.line, col: p.col };
}

/** Parses lab YAML text; every error carries its field path and, where known, line and column (1-based). */
export function parseLabSpec(text: string): ValidationResult<LabSpec> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      valid: false,
      errors: doc.errors.map((err) => {
        const pos = err.linePos?.[0];
        const message = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return { path: '', message, ...(pos ? { line: pos.line, col: pos.col } : {}) };
      }),
    };
  }
  const c = new Collector();
  const spec = validateInto(c, doc.toJS());
  return toResult(c, spec, (e) => locate(doc, lineCounter, e));
}

/** Reads and parses a lab file; errors are values (format them with `formatValidationError(e, file)`). */
export async function loadLabSpec(file: string): Promise<ValidationResult<LabSpec>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { valid: false, errors: [{ path: '', message: `cannot read lab file: ${(err as Error).message}` }] };
  }
  return parseLabSpec(text);
}

/** Re-validates an already normalised `LabSpec` (e.g. one built in code) with the same rules as a lab file. */
export function checkLabSpec(spec: LabSpec): ValidationResult<LabSpec> {
  return validateLabSpec({
    apiVersion: LAB_API_VERSION,
    kind: 'Lab',
    name: spec.name,
    subnet: spec.subnet,
    ...(spec.subnet6 !== undefined ? { subnet6: spec.subnet6 } : {}),
    ...(spec.dns === true ? { dns: true } : {}),
    ...(spec.capture !== undefined ? { capture: spec.capture } : {}),
    ...(spec.sockmap !== undefined ? { sockmap: spec.sockmap } : {}),
    pods: spec.pods.map(({ user, ...p }) =>
      user === undefined ? p : user.privileged ? { ...p, privileged: true } : { ...p, user: `${user.uid}:${user.gid}` },
    ),
    externals: spec.externals.map(({ run, ...e }) => (run.length === 0 ? e : { ...e, run })),
  });
}
