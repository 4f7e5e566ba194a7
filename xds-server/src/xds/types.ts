// xDS type URLs and the resource unit the cache and servers deal in. No I/O.
import { createHash } from 'node:crypto';

export const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster' as const;
export const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment' as const;
export const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener' as const;
export const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration' as const;
export const ECDS = 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig' as const;

export type TypeUrl = typeof CDS | typeof EDS | typeof LDS | typeof RDS | typeof ECDS;

/** ADS answers in this order when several types are due, so Envoy sees clusters before their endpoints, etc. */
export const RESPONSE_ORDER: readonly TypeUrl[] = [CDS, EDS, LDS, RDS, ECDS];

/** Short names for logs and validation paths. */
export const TYPE_NAME: Readonly<Record<TypeUrl, string>> = {
  [CDS]: 'CDS',
  [EDS]: 'EDS',
  [LDS]: 'LDS',
  [RDS]: 'RDS',
  [ECDS]: 'ECDS',
};

/** Types whose requests mean "everything for this node"; the others are requested by name. */
export function isWildcardType(typeUrl: TypeUrl): boolean {
  return typeUrl === CDS || typeUrl === LDS;
}

export function isTypeUrl(s: string): s is TypeUrl {
  return Object.hasOwn(TYPE_NAME, s);
}

export interface ResourceRef {
  readonly typeUrl: TypeUrl;
  readonly name: string;
}

export interface XdsResource {
  readonly name: string;
  readonly typeUrl: TypeUrl;
  /** The encoded Envoy message. */
  readonly body: Buffer;
  /** Short content hash of `body`; doubles as the per-resource version in delta xDS. */
  readonly hash: string;
  /**
   * Resources this one references: a cluster with EDS its ClusterLoadAssignment, a listener with RDS its
   * RouteConfiguration, a listener filter with ECDS its TypedExtensionConfig.
   */
  readonly deps?: readonly ResourceRef[];
}

export function shortHash(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}

export function resource(typeUrl: TypeUrl, name: string, body: Uint8Array, deps?: readonly ResourceRef[]): XdsResource {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const r: XdsResource = { name, typeUrl, body: buf, hash: shortHash(buf) };
  return deps?.length ? { ...r, deps } : r;
}

export type { Logger } from '../util/logger.js';
export { SILENT } from '../util/logger.js';
