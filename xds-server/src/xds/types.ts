// xDS resource types and the resource unit the cache and servers deal in. No I/O.
import { createHash } from 'node:crypto';

export const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster' as const;
export const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment' as const;
export const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener' as const;
export const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration' as const;
export const ECDS = 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig' as const;

/**
 * THE registry of the xDS resource types nanoseg serves: type URL, the generator's kind, the short name used in
 * status and metrics, the display name used in logs and validation paths, and whether a request for the type means
 * "everything" (CDS, LDS) or names what it wants. Every other table of types derives from this one.
 */
export const RESOURCE_TYPES = [
  { url: CDS, kind: 'cluster', short: 'cds', name: 'CDS', wildcard: true },
  { url: EDS, kind: 'endpoints', short: 'eds', name: 'EDS', wildcard: false },
  { url: LDS, kind: 'listener', short: 'lds', name: 'LDS', wildcard: true },
  { url: RDS, kind: 'route', short: 'rds', name: 'RDS', wildcard: false },
  { url: ECDS, kind: 'extension', short: 'ecds', name: 'ECDS', wildcard: false },
] as const;

export type ResourceType = (typeof RESOURCE_TYPES)[number];
export type TypeUrl = ResourceType['url'];
export type ResourceKind = ResourceType['kind'];
export type TypeShortName = ResourceType['short'];

/** ADS answers in this order when several types are due, so Envoy sees clusters before their endpoints, etc. */
export const RESPONSE_ORDER: readonly TypeUrl[] = RESOURCE_TYPES.map((t) => t.url);

const BY_URL: ReadonlyMap<string, ResourceType> = new Map(RESOURCE_TYPES.map((t) => [t.url, t]));
const BY_KIND: ReadonlyMap<ResourceKind, ResourceType> = new Map(RESOURCE_TYPES.map((t) => [t.kind, t]));

export function isTypeUrl(s: string): s is TypeUrl {
  return BY_URL.has(s);
}

export function resourceType(url: TypeUrl): ResourceType {
  return BY_URL.get(url)!;
}

/** The type URL of a generator kind. */
export function typeUrlOf(kind: ResourceKind): TypeUrl {
  return BY_KIND.get(kind)!.url;
}

/** Display name for logs and validation paths: CDS, EDS, LDS, RDS, ECDS. */
export function typeName(url: TypeUrl): ResourceType['name'] {
  return resourceType(url).name;
}

/** Short name for status and metrics: cds, eds, lds, rds, ecds. */
export function typeShort(url: TypeUrl): TypeShortName {
  return resourceType(url).short;
}

/** Types whose requests mean "everything for this node"; the others are requested by name. */
export function isWildcardType(typeUrl: TypeUrl): boolean {
  return resourceType(typeUrl).wildcard;
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
  /** Short content hash of `body`. */
  readonly hash: string;
  /**
   * The per-resource version in delta xDS: the hash, prefixed with the version prefix of the control plane that made
   * it (its store's id), so a reconnecting sidecar's versions say whose config it runs (fail-static).
   */
  readonly version: string;
  /**
   * Resources this one references: a cluster with EDS its ClusterLoadAssignment, a listener with RDS its
   * RouteConfiguration, a listener filter with ECDS its TypedExtensionConfig.
   */
  readonly deps?: readonly ResourceRef[];
}

export function shortHash(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}

/** Joins a version prefix (a control plane's store id; '' = none) and a content hash into a version string. */
export function prefixed(prefix: string, hash: string): string {
  return prefix === '' ? hash : `${prefix}${VERSION_SEPARATOR}${hash}`;
}

export const VERSION_SEPARATOR = '.';

/** The version prefix a version string carries ('' when it has none). */
export function versionPrefixOf(version: string): string {
  const i = version.indexOf(VERSION_SEPARATOR);
  return i < 0 ? '' : version.slice(0, i);
}

export function resource(
  typeUrl: TypeUrl,
  name: string,
  body: Uint8Array,
  deps?: readonly ResourceRef[],
  versionPrefix = '',
): XdsResource {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const hash = shortHash(buf);
  const r: XdsResource = { name, typeUrl, body: buf, hash, version: prefixed(versionPrefix, hash) };
  return deps?.length ? { ...r, deps } : r;
}

export type { Logger } from '../util/logger.js';
export { SILENT } from '../util/logger.js';
