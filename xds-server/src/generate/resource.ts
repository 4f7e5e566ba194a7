// The unit generation produces: an encoded Envoy resource and the names it references (for the consistency check).
export type ResourceKind = 'cluster' | 'endpoints' | 'listener' | 'route' | 'extension';

export interface GeneratedResource {
  readonly kind: ResourceKind;
  readonly typeUrl: string;
  readonly name: string;
  readonly body: Buffer;
  readonly deps: readonly { readonly kind: ResourceKind; readonly name: string }[];
}
