// Validation of inventory documents (the API body) and of inventory files once parsed (file.ts). Pure.
//
// Structure comes from the JSON Schemas in schema.ts, compiled once with ajv; what a schema cannot say is checked
// here in code: addresses are IP addresses, workload names are unique, an address is claimed once (by one workload,
// external or VIP), a workload lists a port once. A VIP's service need not have workloads (they may come from
// another source). ajv's keywords are translated into messages a person understands, and every problem is
// reported at once, in document order, with its field path (`workloads[0].addresses[0]`).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Inventory, NamedExternal, ServiceVip, Workload } from '../model/index.js';
import type { ValidationError, ValidationResult } from '../model/validation.js';
import { formatIp, parseIp, type IpAddress } from '../policy/index.js';
import { INVENTORY_FILE_SCHEMA, INVENTORY_SCHEMA, type StructuralSchema } from './schema.js';

/** A field name or a list index. */
export type PathSegment = string | number;

/** One problem, its place given as path segments so that a file parser can find its line and column. */
export interface InventoryProblem {
  readonly segments: readonly PathSegment[];
  /** the problem is the key itself (an unknown field), not its value */
  readonly atKey: boolean;
  readonly message: string;
}

/** `document`: the API body (workloads, externals, vips); `file`: the same plus apiVersion and kind. */
export type InventoryForm = 'document' | 'file';

export interface InventoryCheck {
  /** present exactly when there are no problems */
  readonly inventory?: Inventory;
  readonly problems: readonly InventoryProblem[];
}

/** `workloads[0].addresses[1]`; the root is the empty string. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`;
  return out;
}

/** Validates an inventory document (the API body). Never throws. */
export function validateInventory(value: unknown): ValidationResult<Inventory> {
  const c = checkInventory(value, 'document');
  if (c.inventory !== undefined) return { valid: true, result: c.inventory };
  return {
    valid: false,
    errors: c.problems.map((p): ValidationError => ({ path: formatPath(p.segments), message: p.message })),
  };
}

/** Structure (schema) and meaning (addresses, uniqueness) of a parsed value; the problems in document order. */
export function checkInventory(value: unknown, form: InventoryForm): InventoryCheck {
  try {
    return check(value, form);
  } catch (e) {
    // defensive: the checks are written not to throw, but a bug (or a hostile getter) must come back as a value
    return { problems: [{ segments: [], atKey: false, message: `internal error while validating: ${String(e)}` }] };
  }
}

function check(value: unknown, form: InventoryForm): InventoryCheck {
  const validate = validators()[form];
  const problems: InventoryProblem[] = [];
  const seen = new Set<string>(); // ajv may say one thing twice (type and enum of apiVersion: 3)
  const add = (p: InventoryProblem): void => {
    const key = `${JSON.stringify(p.segments)} ${p.message}`;
    if (!seen.has(key)) problems.push(p);
    seen.add(key);
  };
  if (!validate(value)) for (const e of validate.errors ?? []) add(translate(e, value, form));
  for (const p of meaningProblems(value)) add(p);
  if (problems.length > 0) return { problems: sortInDocumentOrder(problems, value) };
  return { inventory: build(value as DocumentShape), problems: [] };
}

// ---- the schema, compiled once ----

const K8S_ANNOTATIONS = ['x-kubernetes-list-type', 'x-kubernetes-list-map-keys'];
let compiled: Readonly<Record<InventoryForm, ValidateFunction>> | undefined;

function validators(): Readonly<Record<InventoryForm, ValidateFunction>> {
  if (compiled === undefined) {
    // verbose: errors carry the failing value and schema node, which the messages below use
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, keywords: K8S_ANNOTATIONS });
    compiled = {
      document: ajv.compile(closedSchema(INVENTORY_SCHEMA)),
      file: ajv.compile(closedSchema(INVENTORY_FILE_SCHEMA)),
    };
  }
  return compiled;
}

/**
 * The schema with `additionalProperties: false` on every object that lists its properties: a file or API body
 * with an unknown field is refused (a CRD schema must not say this; the apiserver prunes such fields instead).
 */
export function closedSchema(s: StructuralSchema): object {
  const out: Record<string, unknown> = { ...s };
  if (s.properties !== undefined) {
    out['properties'] = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, closedSchema(v)]));
    out['additionalProperties'] = false;
  }
  if (s.items !== undefined) out['items'] = closedSchema(s.items);
  return out;
}

// ---- ajv errors → messages ----

const LIST_OF: Readonly<Record<string, string>> = {
  workloads: 'workloads',
  externals: 'externals',
  vips: 'VIPs',
  addresses: 'IP addresses',
  ports: 'ports',
};

const ONE_OF: Readonly<Record<string, string>> = {
  workloads: 'workload',
  externals: 'external',
  vips: 'VIP',
  addresses: 'IP address',
  ports: 'port',
};

/** What belongs at a place, for "expected …" messages. */
function noun(schema: StructuralSchema | undefined, segments: readonly PathSegment[]): string {
  const last = segments[segments.length - 1];
  const field = typeof last === 'number' ? segments[segments.length - 2] : last;
  const item = typeof last === 'number';
  if (schema?.enum !== undefined) return schema.enum.join(' or ');
  switch (schema?.type) {
    case 'object':
      return `a mapping with ${Object.keys(schema.properties ?? {}).join(', ')}`;
    case 'array':
      return `a list of ${LIST_OF[String(field)] ?? 'values'}`;
    case 'integer':
      return `a port ${schema.minimum ?? 1}-${schema.maximum ?? 65535}`;
    case 'string':
      if (field === 'service') return 'a service name namespace/name (lowercase DNS labels)';
      if (field === 'address' || (field === 'addresses' && item)) return 'an IP address';
      return 'a non-empty string';
    default:
      return 'nothing here';
  }
}

function got(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'nothing (null)';
  if (ArrayBuffer.isView(v)) return 'binary data';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') {
    const s = JSON.stringify(v);
    return s.length > 60 ? `${s.slice(0, 56)}…"` : s;
  }
  return String(v);
}

function segmentsOf(pointer: string, root: unknown): PathSegment[] {
  if (pointer === '') return [];
  const out: PathSegment[] = [];
  let cur: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      out.push(Number(key));
      cur = cur[Number(key)];
    } else {
      out.push(key);
      cur = isRecord(cur) ? cur[key] : undefined;
    }
  }
  return out;
}

function schemaAt(form: InventoryForm, segments: readonly PathSegment[]): StructuralSchema | undefined {
  let s: StructuralSchema | undefined = form === 'file' ? INVENTORY_FILE_SCHEMA : INVENTORY_SCHEMA;
  for (const seg of segments) s = typeof seg === 'number' ? s?.items : s?.properties?.[seg];
  return s;
}

function translate(e: ErrorObject, root: unknown, form: InventoryForm): InventoryProblem {
  const at = segmentsOf(e.instancePath, root);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const allowed = Object.keys(schemaAt(form, at)?.properties ?? {});
      return {
        segments: [...at, String(params['additionalProperty'])],
        atKey: true,
        message: `unknown field (allowed: ${allowed.join(', ')})`,
      };
    }
    case 'required': {
      const field = String(params['missingProperty']);
      return {
        segments: [...at, field],
        atKey: false,
        message: `required: ${noun(schemaAt(form, [...at, field]), [...at, field])}`,
      };
    }
    case 'minItems':
      return {
        segments: at,
        atKey: false,
        message: `expected at least one ${ONE_OF[String(at[at.length - 1])] ?? 'item'}`,
      };
    case 'type':
    case 'enum':
    case 'minimum':
    case 'maximum':
    case 'minLength':
    case 'pattern':
      return { segments: at, atKey: false, message: `expected ${noun(schemaAt(form, at), at)}, got ${got(e.data)}` };
    default:
      return { segments: at, atKey: false, message: e.message ?? e.keyword };
  }
}

// ---- what the schema cannot say ----

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function listAt(o: Record<string, unknown>, k: string): readonly unknown[] {
  const v = o[k];
  return Array.isArray(v) ? v : [];
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

const IPV4_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4_RE = new RegExp(`^(?:${IPV4_OCTET}\\.){3}${IPV4_OCTET}$`);

/** The canonical text of an address (IPv6 compressed, lower case); undefined when it is not one we accept. */
function canonicalAddress(s: string): string | undefined {
  if (IPV4_RE.test(s)) return s; // the common case, without allocating
  const a = parseIp(s);
  if (a === undefined || isV4Mapped(a)) return undefined;
  return formatIp(a);
}

function isV4Mapped(a: IpAddress): boolean {
  const b = a.bytes;
  return a.family === 6 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

/** Why `s` is not accepted as an address (when `canonicalAddress(s)` is undefined). */
function addressProblem(s: string): string {
  const a = parseIp(s);
  if (a !== undefined && isV4Mapped(a)) {
    // Envoy reports such peers as plain IPv4 (learn/normalizeIp): the mapped form would never match
    return `${got(s)} is an IPv4-mapped IPv6 address: write ${formatIp({ family: 4, bytes: a.bytes.slice(12) })}`;
  }
  const hint = s.includes('/') ? ' (one address, without a prefix length)' : '';
  return `expected an IP address, got ${got(s)}${hint}`;
}

/** Where an address was claimed: a list (workloads, externals, vips), an item, and an index in `addresses`. */
interface Claim {
  readonly list: string;
  readonly i: number;
  readonly j: number;
}

function claimPath(c: Claim): PathSegment[] {
  return c.list === 'workloads' ? ['workloads', c.i, 'addresses', c.j] : [c.list, c.i, 'address'];
}

// Written with plain loops and paths built only for problems: the API validates whole inventories of tens of
// thousands of workloads on every change.
function meaningProblems(value: unknown): InventoryProblem[] {
  const out: InventoryProblem[] = [];
  if (!isRecord(value)) return out;
  const add = (segments: PathSegment[], message: string): void => {
    out.push({ segments, atKey: false, message });
  };
  const owners = new Map<string, Claim>();
  const claim = (v: unknown, c: Claim): void => {
    if (typeof v !== 'string' || v === '') return; // the schema reports it
    const ip = canonicalAddress(v);
    if (ip === undefined) return add(claimPath(c), addressProblem(v));
    const prev = owners.get(ip);
    if (prev !== undefined) add(claimPath(c), `duplicate address ${ip} (also ${formatPath(claimPath(prev))})`);
    else owners.set(ip, c);
  };
  const names = new Map<string, number>();
  const workload = (w: Record<string, unknown>, i: number): void => {
    const name = w['name'];
    if (typeof name === 'string' && name !== '') {
      const prev = names.get(name);
      if (prev !== undefined)
        add(['workloads', i, 'name'], `duplicate name ${got(name)} (also workloads[${prev}].name)`);
      else names.set(name, i);
    }
    const addresses = listAt(w, 'addresses');
    for (let j = 0; j < addresses.length; j++) claim(addresses[j], { list: 'workloads', i, j });
    const ports = listAt(w, 'ports');
    const seen = ports.length > 16 ? new Set<unknown>() : undefined; // a scan is cheaper for a few ports
    for (let j = 0; j < ports.length; j++) {
      const p = ports[j];
      if (isPort(p) && (seen ? seen.has(p) : ports.indexOf(p) < j))
        add(['workloads', i, 'ports', j], `duplicate port ${p}`);
      seen?.add(p);
    }
  };
  // in the value's key order, so that the second claim of an address (in the document) is the one reported
  for (const list of Object.keys(value)) {
    const items = listAt(value, list);
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (!isRecord(item)) continue;
      if (list === 'workloads') workload(item, i);
      else if (list === 'externals' || list === 'vips') claim(item['address'], { list, i, j: 0 });
    }
  }
  return out;
}

/** Problems sorted as their places appear in the value (key order of objects, index order of lists). */
function sortInDocumentOrder(problems: InventoryProblem[], root: unknown): InventoryProblem[] {
  const order = (segments: readonly PathSegment[]): number[] => {
    const out: number[] = [];
    let cur: unknown = root;
    for (const seg of segments) {
      if (Array.isArray(cur) && typeof seg === 'number') {
        out.push(seg);
        cur = cur[seg];
      } else if (isRecord(cur) && typeof seg === 'string') {
        const keys = Object.keys(cur);
        const i = keys.indexOf(seg);
        out.push(i < 0 ? keys.length : i); // a missing field sorts after its siblings
        cur = cur[seg];
      } else break;
    }
    return out;
  };
  const keyed = problems.map((p) => ({ p, k: order(p.segments) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < Math.min(a.k.length, b.k.length); i++) if (a.k[i] !== b.k[i]) return a.k[i]! - b.k[i]!;
    return a.k.length - b.k.length;
  });
  return keyed.map((x) => x.p);
}

// ---- the result ----

interface DocumentShape {
  readonly workloads?: readonly {
    name: string;
    service: string;
    addresses: string[];
    ports?: number[];
    interface?: string;
  }[];
  readonly externals?: readonly { name: string; address: string; interface?: string }[];
  readonly vips?: readonly { service: string; address: string }[];
}

/** A fresh Inventory from a value that passed every check; addresses in canonical text (IPv6 compressed). */
function build(v: DocumentShape): Inventory {
  const ip = (s: string): string => canonicalAddress(s) ?? s;
  const workloads: Workload[] = (v.workloads ?? []).map((w) => ({
    name: w.name,
    service: w.service,
    addresses: w.addresses.map(ip),
    ports: [...(w.ports ?? [])],
    ...(w.interface !== undefined && { interface: w.interface }),
  }));
  const externals: NamedExternal[] = (v.externals ?? []).map((e) => ({
    name: e.name,
    address: ip(e.address),
    ...(e.interface !== undefined && { interface: e.interface }),
  }));
  const vips: ServiceVip[] = (v.vips ?? []).map((x) => ({ service: x.service, address: ip(x.address) }));
  return { workloads, externals, vips };
}
