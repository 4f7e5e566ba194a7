// The inventory file (`nanoseg serve --inventory FILE`): hosts and VMs that are not in the lab or the cluster.
//
//   apiVersion: nanoseg.io/v1alpha1
//   kind: Inventory
//   workloads:
//     - {name: db-vm-1, service: data/db, addresses: [192.0.2.5], ports: [5432]}
//   externals:
//     - {name: payments, address: 203.0.113.10}
//   vips:
//     - {service: data/db, address: 192.0.2.100}
//
// Parsing is strict and returns values (never throws): YAML syntax errors, duplicate keys, several documents,
// aliases and unknown tags are errors, the structure and meaning are checked by validate.ts, and every problem is
// reported at once as `FILE:LINE:COL: PATH: what is wrong` (the place of the YAML node the path names). JSON is
// accepted too (YAML is a superset of it). Pure: text in, value out.
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import type { Inventory } from '../model/index.js';
import type { ValidationError, ValidationResult } from '../model/validation.js';
import { INVENTORY_API_VERSION, INVENTORY_KIND } from './schema.js';
import { checkInventory, formatPath, type InventoryProblem, type PathSegment } from './validate.js';

/**
 * Parses and validates an inventory file. Each error's `message` is the whole line to show a person,
 * `FILE:LINE:COL: PATH: what is wrong` (as policy files do); `path`, `line` and `col` say the same for programs.
 * Errors are sorted by position. Never throws.
 */
export function parseInventoryFile(text: string, fileName: string): ValidationResult<Inventory> {
  try {
    return new FileParser(text, fileName).parse();
  } catch (e) {
    // defensive: the parser is written not to throw, but a bug must still come back as a value
    return {
      valid: false,
      errors: [{ path: '', line: 1, col: 1, message: `${fileName}:1:1: internal error while parsing: ${String(e)}` }],
    };
  }
}

/** The errors of a refused file as text, one per line. */
export function formatInventoryFileErrors(errors: readonly ValidationError[]): string {
  return errors.map((e) => e.message).join('\n');
}

class FileParser {
  private readonly lc = new LineCounter();
  private readonly errors: ValidationError[] = [];

  constructor(
    private readonly text: string,
    private readonly fileName: string,
  ) {}

  parse(): ValidationResult<Inventory> {
    const doc = parseDocument(this.text, { lineCounter: this.lc, prettyErrors: false, uniqueKeys: true, strict: true });
    for (const e of [...doc.errors, ...doc.warnings]) {
      const msg = e.code === 'MULTIPLE_DOCS' ? 'more than one document (an inventory file holds one)' : e.message;
      this.errorAt(e.pos[0], '', firstLine(msg));
    }
    if (this.errors.length > 0) return this.refused();
    if (doc.contents === null) {
      this.errorAt(0, '', `empty file (expected apiVersion: ${INVENTORY_API_VERSION}, kind: ${INVENTORY_KIND}, ...)`);
      return this.refused();
    }
    this.plainData(doc.contents, []);
    if (this.errors.length > 0) return this.refused();
    const checked = checkInventory(doc.toJS(), 'file');
    if (checked.inventory !== undefined) return { valid: true, result: checked.inventory };
    for (const p of checked.problems) this.errorAt(locate(doc, p), formatPath(p.segments), p.message);
    return this.refused();
  }

  private refused(): ValidationResult<Inventory> {
    const sorted = [...this.errors].sort((a, b) => a.line! - b.line! || a.col! - b.col!);
    return { valid: false, errors: sorted };
  }

  private errorAt(offset: number, path: string, msg: string): void {
    const { line, col } = this.lc.linePos(Math.max(0, Math.min(offset, this.text.length)));
    const message = `${this.fileName}:${line}:${col}: ${path === '' ? '' : `${path}: `}${msg}`;
    this.errors.push({ path, message, line, col });
  }

  /**
   * Inventory files are plain data, one value per place: an alias (`*name`) is an error where it is used, and so
   * is a key that is a list or a mapping (it has no field name; the yaml package would also warn on stderr).
   */
  private plainData(node: unknown, at: readonly PathSegment[]): void {
    if (isAlias(node)) {
      this.errorAt(node.range?.[0] ?? 0, formatPath(at), 'aliases are not allowed in inventory files');
    } else if (isMap(node)) {
      for (const pair of node.items) {
        if (isAlias(pair.key) || !(isScalar(pair.key) || pair.key === null)) {
          this.errorAt(rangeStart(pair.key) ?? 0, formatPath(at), 'keys must be field names');
          continue;
        }
        this.plainData(pair.value, [...at, String(pair.key?.value)]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => this.plainData(item, [...at, i]));
    }
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

/**
 * The offset of the YAML node a problem's path names: the key for an unknown field, else the value; for a
 * field that is missing, the mapping that should hold it (the deepest node of the path that exists).
 */
function locate(doc: Document, p: InventoryProblem): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < p.segments.length; i++) {
    const seg = p.segments[i]!;
    const last = i === p.segments.length - 1;
    if (isMap(node) && typeof seg === 'string') {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === seg);
      if (pair === undefined) break;
      const keyAt = rangeStart(pair.key);
      if ((last && p.atKey) || rangeStart(pair.value) === undefined) {
        offset = keyAt ?? offset;
        break;
      }
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
    } else break;
    const at = rangeStart(node);
    if (at === undefined) break;
    offset = at;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  if (typeof node !== 'object' || node === null || !('range' in node)) return undefined;
  const range = (node as { range?: readonly number[] | null }).range;
  return range?.[0] ?? undefined;
}
