// Policy as code: the document `nanoseg policy show SERVICE -o yaml` prints and `nanoseg policy apply -f` reads.
//
//   apiVersion: nanoseg.io/v1alpha1
//   kind: Policy
//   service: shop/api
//   mode: enforce                 # informational on show; optional on apply (sets the mode when it differs)
//   ingress:
//     - peer: {service: shop/web}
//       protocol: http
//       port: 9090
//       evidence: {firstSeen: ..., lastSeen: ..., count: 52}   # informational, ignored on apply
//   egress:
//     - peer: {cidr: 203.0.113.10/32, sni: payments}
//       protocol: http
//       port: 443
//
// Parsing is strict and returns values (never throws): every problem is reported at once, each with
// `FILE:LINE:COL: PATH: what is wrong`. JSON is accepted too (YAML is a superset of it). Pure: text in, value out.
import {
  Document,
  LineCounter,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseDocument,
  type Node,
  type YAMLMap,
} from 'yaml';
import {
  MODES,
  NO_PORT,
  PROTOCOLS,
  SERVICE_NAME_RE,
  hasPort,
  type Mode,
  type PathRule,
  type Peer,
  type PolicyRule,
  type Protocol,
  type ServiceName,
  type ValidationError,
  type ValidationResult,
} from '../model/index.js';
import { formatCidr, parseCidr } from './ip.js';
import { ruleKey, type PolicySide } from './rules.js';

import { POLICY_API_VERSION, POLICY_KIND } from './document.js';
import { checkPathRule, normalizePaths } from './paths.js';

/** What an applied file asks for. `mode` and `l7` only when the file names them. */
export interface ParsedPolicy {
  readonly service: ServiceName;
  readonly mode?: Mode;
  /** L7 enforcement (only the rules' method + path templates pass inbound HTTP) */
  readonly l7?: boolean;
  readonly ingress: readonly PolicyRule[];
  readonly egress: readonly PolicyRule[];
}
const SNI_RE = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\.?$/i;

/** Parses and validates a policy file. Never throws. */
export function parsePolicyFile(text: string, fileName: string): ValidationResult<ParsedPolicy> {
  return guarded(fileName, () => new FileParser(text, fileName).parse());
}

/**
 * Validates a policy given as a plain value (a Kubernetes object's field, already decoded) with the same rules as a
 * file. There are no lines to point at: each error is `PREFIX.PATH: what is wrong` (e.g. `spec.egress[1].port: ...`),
 * with `pathPrefix` ('spec') in front of every path. Never throws.
 */
export function parsePolicyValue(value: unknown, pathPrefix: string): ValidationResult<ParsedPolicy> {
  return guarded(pathPrefix, () => {
    const doc = new Document(value, { aliasDuplicateObjects: false });
    return new FileParser('', pathPrefix, pathPrefix).parseRoot(doc);
  });
}

function guarded(what: string, parse: () => ValidationResult<ParsedPolicy>): ValidationResult<ParsedPolicy> {
  try {
    return parse();
  } catch (e) {
    // defensive: the parser is written not to throw, but a bug must still come back as a value
    return {
      valid: false,
      errors: [{ path: '', message: `${what}: internal error while parsing: ${(e as Error).message}` }],
    };
  }
}

class FileParser {
  private readonly lc = new LineCounter();
  private readonly errors: ValidationError[] = [];

  /** `pathPrefix`: a value, not a file (no line and column; every path starts with the prefix) */
  constructor(
    private readonly text: string,
    private readonly fileName: string,
    private readonly pathPrefix?: string,
  ) {}

  parse(): ValidationResult<ParsedPolicy> {
    const doc = parseDocument(this.text, { lineCounter: this.lc, prettyErrors: false, uniqueKeys: true, strict: true });
    for (const e of doc.errors) this.errorAt(e.pos[0], '', e.message.split('\n')[0] ?? e.message);
    if (this.errors.length > 0) return { valid: false, errors: this.errors };
    return this.parseRoot(doc);
  }

  parseRoot(doc: Document): ValidationResult<ParsedPolicy> {
    const root = doc.contents;
    if (!root) {
      this.errorAt(0, '', 'empty document (expected a Policy)');
      return { valid: false, errors: this.errors };
    }
    if (!isMap(root)) {
      this.error(root, '', 'a policy must be a mapping (apiVersion, kind, service, ingress, egress)');
      return { valid: false, errors: this.errors };
    }
    const fields = this.fields(
      root,
      '',
      ['apiVersion', 'kind', 'service', 'mode', 'l7', 'ingress', 'egress'],
      ['apiVersion', 'kind', 'service'],
    );

    const apiVersion = this.string(fields.get('apiVersion'), 'apiVersion');
    if (apiVersion !== undefined && apiVersion !== POLICY_API_VERSION) {
      this.error(
        fields.get('apiVersion'),
        'apiVersion',
        `"${apiVersion}" is not supported (expected ${POLICY_API_VERSION})`,
      );
    }
    const kind = this.string(fields.get('kind'), 'kind');
    if (kind !== undefined && kind !== POLICY_KIND)
      this.error(fields.get('kind'), 'kind', `"${kind}" is not ${POLICY_KIND}`);
    const service = this.string(fields.get('service'), 'service');
    if (service !== undefined && !SERVICE_NAME_RE.test(service)) {
      this.error(fields.get('service'), 'service', `"${service}" is not a service name (namespace/name, lower case)`);
    }
    let mode: Mode | undefined;
    if (fields.has('mode')) {
      const m = this.string(fields.get('mode'), 'mode');
      if (m !== undefined && !(MODES as readonly string[]).includes(m))
        this.error(fields.get('mode'), 'mode', `"${m}" is not a mode (${MODES.join('|')})`);
      else mode = m as Mode | undefined;
    }
    let l7: boolean | undefined;
    if (fields.has('l7')) {
      const v = this.scalar(fields.get('l7'), 'l7');
      if (typeof v === 'boolean') l7 = v;
      else if (v !== undefined) this.error(fields.get('l7'), 'l7', `expected true or false, got ${JSON.stringify(v)}`);
    }
    const ingress = this.rules(fields.get('ingress'), 'ingress');
    const egress = this.rules(fields.get('egress'), 'egress');
    if (this.errors.length > 0 || service === undefined) return { valid: false, errors: this.errors };
    return {
      valid: true,
      result: { service, ...(mode ? { mode } : {}), ...(l7 !== undefined && { l7 }), ingress, egress },
    };
  }

  private errorAt(offset: number, path: string, msg: string): void {
    if (this.pathPrefix !== undefined) {
      const at = path ? `${this.pathPrefix}.${path}` : this.pathPrefix;
      this.errors.push({ path: at, message: `${at}: ${msg}` });
      return;
    }
    const { line, col } = this.lc.linePos(Math.max(0, Math.min(offset, this.text.length)));
    this.errors.push({ path, message: `${this.fileName}:${line}:${col}: ${path ? `${path}: ` : ''}${msg}` });
  }

  private error(node: unknown, path: string, msg: string): void {
    const range = (node as Node | undefined)?.range;
    this.errorAt(range ? range[0] : 0, path, msg);
  }

  /** The map's values by key; unknown, missing and non-string keys are errors. */
  private fields(
    map: YAMLMap,
    path: string,
    allowed: readonly string[],
    required: readonly string[],
  ): Map<string, unknown> {
    const out = new Map<string, unknown>();
    for (const item of map.items) {
      if (!isPair(item)) continue;
      const key = isScalar(item.key) ? item.key.value : undefined;
      if (typeof key !== 'string') {
        this.error(item.key, path, 'keys must be strings');
        continue;
      }
      const at = path ? `${path}.${key}` : key;
      if (!allowed.includes(key)) {
        this.error(item.key, at, `unknown field (expected ${allowed.join(', ')})`);
        continue;
      }
      out.set(key, item.value ?? null);
    }
    for (const k of required) {
      if (!out.has(k)) this.error(map, path, `missing field ${k}`);
    }
    return out;
  }

  private scalar(node: unknown, path: string): unknown {
    if (this.alias(node, path)) return undefined;
    if (node === undefined || node === null) {
      return null;
    }
    if (!isScalar(node)) {
      this.error(node, path, 'expected a single value');
      return undefined;
    }
    return node.value;
  }

  /** A string value; undefined (after reporting) when absent or not a string. */
  private string(node: unknown, path: string): string | undefined {
    if (node === undefined) return undefined;
    const v = this.scalar(node, path);
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') {
      this.error(
        node,
        path,
        v === null || v === '' ? 'must not be empty' : `expected a string, got ${JSON.stringify(v)}`,
      );
      return undefined;
    }
    return v;
  }

  private rules(node: unknown, side: PolicySide): PolicyRule[] {
    if (node === undefined) return [];
    if (isScalar(node) && node.value === null) return []; // `ingress:` with nothing after it
    if (this.alias(node, side)) return [];
    if (!isSeq(node)) {
      this.error(node, side, 'expected a list of rules');
      return [];
    }
    const out: PolicyRule[] = [];
    const firstIndex = new Map<string, number>();
    node.items.forEach((item, i) => {
      const path = `${side}[${i}]`;
      const r = this.rule(item, path);
      if (!r) return;
      const k = ruleKey(r);
      const first = firstIndex.get(k);
      if (first !== undefined) {
        this.error(item, path, `duplicate rule: same peer, protocol and port as ${side}[${first}]`);
        return;
      }
      firstIndex.set(k, i);
      out.push(r);
    });
    return out;
  }

  /** Reports an alias (`*name`): policy files are plain data, one value per place. */
  private alias(node: unknown, path: string): boolean {
    if (!isAlias(node)) return false;
    this.error(node, path, 'aliases are not allowed in policy files');
    return true;
  }

  private rule(node: unknown, path: string): PolicyRule | undefined {
    if (this.alias(node, path)) return undefined;
    if (!isMap(node)) {
      this.error(node, path, 'a rule must be a mapping (peer, protocol, port)');
      return undefined;
    }
    const before = this.errors.length;
    const f = this.fields(node, path, ['peer', 'protocol', 'port', 'paths', 'evidence'], ['peer', 'protocol']);
    const peer = f.has('peer') ? this.peer(f.get('peer'), `${path}.peer`) : undefined;
    let protocol: Protocol | undefined;
    if (f.has('protocol')) {
      const v = this.scalar(f.get('protocol'), `${path}.protocol`);
      if (typeof v === 'string' && (PROTOCOLS as readonly string[]).includes(v)) protocol = v as Protocol;
      else if (v !== undefined)
        this.error(
          f.get('protocol'),
          `${path}.protocol`,
          `${JSON.stringify(v)} is not a protocol (${PROTOCOLS.join('|')})`,
        );
    }
    let port: number | undefined;
    if (protocol !== undefined && !hasPort(protocol)) {
      if (f.has('port')) this.error(f.get('port'), `${path}.port`, `${protocol} has no port: remove it`);
      else port = NO_PORT;
    } else if (!f.has('port')) {
      if (protocol !== undefined) this.error(node, path, 'missing field port');
    } else {
      const v = this.scalar(f.get('port'), `${path}.port`);
      if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535) port = v;
      else if (v !== undefined)
        this.error(
          f.get('port'),
          `${path}.port`,
          `${typeof v === 'number' ? v : JSON.stringify(v)} is not a port (1-65535)`,
        );
    }
    // evidence is informational (what `show` printed): accepted and ignored
    if (this.errors.length > before || !peer || !protocol || port === undefined) return undefined;
    if (!f.has('paths')) return { peer, protocol, port };
    const paths = this.paths(f.get('paths'), `${path}.paths`, protocol);
    return paths && { peer, protocol, port, paths };
  }

  /** `paths: [{method, path}]` (count is informational); only on http and grpc rules. */
  private paths(node: unknown, path: string, protocol: Protocol): PathRule[] | undefined {
    if (this.alias(node, path)) return undefined;
    if (protocol !== 'http' && protocol !== 'grpc') {
      this.error(node, path, `paths are only allowed on http and grpc rules (this one is ${protocol})`);
      return undefined;
    }
    if (!isSeq(node)) {
      this.error(node, path, 'expected a list of {method, path}');
      return undefined;
    }
    const before = this.errors.length;
    const out: PathRule[] = [];
    node.items.forEach((item, i) => {
      const at = `${path}[${i}]`;
      if (this.alias(item, at)) return;
      if (!isMap(item)) return this.error(item, at, 'a path must be a mapping {method, path}');
      const f = this.fields(item, at, ['method', 'path', 'count'], ['method', 'path']);
      const m = this.string(f.get('method'), `${at}.method`);
      const p = this.string(f.get('path'), `${at}.path`);
      if (m === undefined || p === undefined) return;
      const why = checkPathRule(m, p);
      if (why !== undefined) return this.error(item, at, why);
      out.push({ method: m, path: p });
    });
    return this.errors.length > before ? undefined : normalizePaths(out);
  }

  private peer(node: unknown, path: string): Peer | undefined {
    if (this.alias(node, path)) return undefined;
    if (!isMap(node)) {
      this.error(
        node,
        path,
        'a peer must be a mapping: {service: namespace/name} or {cidr: ADDRESS/PREFIX, sni: NAME}',
      );
      return undefined;
    }
    const before = this.errors.length;
    const f = this.fields(node, path, ['service', 'cidr', 'sni'], []);
    if (this.errors.length > before) return undefined;
    if (f.has('service') === f.has('cidr')) {
      this.error(node, path, 'exactly one of service or cidr is required');
      return undefined;
    }
    if (f.has('service')) {
      if (f.has('sni')) {
        this.error(f.get('sni'), `${path}.sni`, 'sni is only allowed with cidr');
        return undefined;
      }
      const s = this.string(f.get('service'), `${path}.service`);
      if (s === undefined) return undefined;
      if (!SERVICE_NAME_RE.test(s)) {
        this.error(f.get('service'), `${path}.service`, `"${s}" is not a service name (namespace/name, lower case)`);
        return undefined;
      }
      return { service: s };
    }
    const c = this.string(f.get('cidr'), `${path}.cidr`);
    let sni: string | undefined;
    if (f.has('sni')) {
      sni = this.string(f.get('sni'), `${path}.sni`);
      if (sni !== undefined && (sni.length > 253 || !SNI_RE.test(sni))) {
        this.error(f.get('sni'), `${path}.sni`, `"${sni}" is not a server name`);
        return undefined;
      }
      if (sni === undefined) return undefined;
    }
    if (c === undefined) return undefined;
    const parsed = parseCidr(c);
    if ('error' in parsed) {
      this.error(f.get('cidr'), `${path}.cidr`, parsed.error);
      return undefined;
    }
    const cidr = formatCidr(parsed.cidr);
    return sni ? { cidr, sni: sni.toLowerCase() } : { cidr };
  }
}
