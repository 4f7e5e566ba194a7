// The unit generation produces: an encoded Envoy resource and the names it references (for the consistency check).
// Kinds are the xDS type registry's (xds/types.ts).
import { typeUrlOf, type ResourceKind } from '../xds/types.js';

export type { ResourceKind };

export interface GeneratedResource {
  readonly kind: ResourceKind;
  readonly typeUrl: string;
  readonly name: string;
  readonly body: Buffer;
  readonly deps: readonly { readonly kind: ResourceKind; readonly name: string }[];
}

/** Each dependency once, in first-seen order. */
export function dedupeDeps(deps: { kind: ResourceKind; name: string }[]): { kind: ResourceKind; name: string }[] {
  const seen = new Set<string>();
  return deps.filter((d) => {
    const k = `${d.kind}|${d.name}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** A generated resource; its type URL must be its kind's (a generator bug otherwise). */
export function res(
  kind: ResourceKind,
  typeUrl: string,
  name: string,
  body: Buffer,
  deps: GeneratedResource['deps'] = [],
): GeneratedResource {
  if (typeUrlOf(kind) !== typeUrl) throw new Error(`internal: ${kind} resource with type ${typeUrl}`);
  return { kind, typeUrl, name, body, deps };
}
