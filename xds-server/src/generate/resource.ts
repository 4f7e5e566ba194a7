// The unit generation produces: an encoded Envoy resource and the names it references (for the consistency check).
// Kinds are the xDS type registry's (xds/types.ts).
import type { ResourceKind } from '../xds/types.js';

export type { ResourceKind };

export interface GeneratedResource {
  readonly kind: ResourceKind;
  readonly typeUrl: string;
  readonly name: string;
  readonly body: Buffer;
  readonly deps: readonly { readonly kind: ResourceKind; readonly name: string }[];
}
