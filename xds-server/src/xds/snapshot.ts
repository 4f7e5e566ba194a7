// Immutable configuration of a group of nodes (the replicas of one service): per type a content-derived version and
// the resources by name.
import type { ValidationError, ValidationResult } from '../model/index.js';
import { EDS, ECDS, RDS, RESPONSE_ORDER, prefixed, shortHash, typeName } from './types.js';
import type { ResourceRef, TypeUrl, XdsResource } from './types.js';

export interface TypeSnapshot {
  /**
   * Hash of the (name, hash) pairs behind the control plane's version prefix: the same content from the same store
   * always gives the same version, across restarts too.
   */
  readonly version: string;
  readonly resources: ReadonlyMap<string, XdsResource>;
}

export interface Snapshot {
  readonly types: Readonly<Record<TypeUrl, TypeSnapshot>>;
  /** Resources given more than once to `makeSnapshot` (the first one is kept); reported by `checkConsistency`. */
  readonly duplicates: readonly ResourceRef[];
}

/** `versionPrefix`: the store id of the control plane serving it ('' = none), carried by every version. */
export function makeSnapshot(resources: readonly XdsResource[], versionPrefix = ''): Snapshot {
  const maps = new Map<TypeUrl, Map<string, XdsResource>>(RESPONSE_ORDER.map((t) => [t, new Map()]));
  const duplicates: ResourceRef[] = [];
  for (const r of resources) {
    const m = maps.get(r.typeUrl)!;
    if (m.has(r.name)) duplicates.push({ typeUrl: r.typeUrl, name: r.name });
    else m.set(r.name, r);
  }
  const types = {} as Record<TypeUrl, TypeSnapshot>;
  for (const [t, m] of maps)
    types[t] = Object.freeze({ version: prefixed(versionPrefix, typeVersion(m)), resources: m });
  return Object.freeze({ types: Object.freeze(types), duplicates: Object.freeze(duplicates) });
}

function typeVersion(m: ReadonlyMap<string, XdsResource>): string {
  const names = [...m.keys()].sort();
  return shortHash(names.map((n) => `${n}\0${m.get(n)!.hash}`).join('\n'));
}

/** Types that exist only because something else names them; an unreferenced one is a generator bug. */
const REFERENCED_TYPES: readonly TypeUrl[] = [EDS, RDS, ECDS];

/** Every dependency exists, and every EDS/RDS/ECDS resource is referenced by some other resource. */
export function checkConsistency(s: Snapshot): ValidationResult<Snapshot> {
  const errors: ValidationError[] = [];
  const referenced = new Set<string>();
  for (const d of s.duplicates) errors.push({ path: path(d), message: 'defined more than once' });
  for (const t of RESPONSE_ORDER) {
    for (const r of s.types[t].resources.values()) {
      r.deps?.forEach((d, i) => {
        referenced.add(path(d));
        if (!s.types[d.typeUrl]?.resources.has(d.name)) {
          errors.push({
            path: `${path(r)}.deps[${i}]`,
            message: `references ${path(d)}, which is not in the snapshot`,
          });
        }
      });
    }
  }
  for (const t of REFERENCED_TYPES) {
    for (const r of s.types[t].resources.values()) {
      if (!referenced.has(path(r))) errors.push({ path: path(r), message: 'not referenced by any resource' });
    }
  }
  return errors.length ? { valid: false, errors } : { valid: true, result: s };
}

function path(r: ResourceRef): string {
  return `${typeName(r.typeUrl)}/${r.name}`;
}
