// ADS responses encoded by hand from pre-encoded parts, so a push to N streams encodes each resource once and each
// response body once per (snapshot type, subscribed names): only the nonce differs per stream, and protobuf lets a
// field be appended to an encoded message. Field numbers are envoy.service.discovery.v3's (checked against the
// generated codec in test/unit/xds/wire.test.ts). Pure.
import { nameSetKey } from './decide.js';
import type { TypeSnapshot } from './snapshot.js';
import { isWildcardType, type TypeUrl, type XdsResource } from './types.js';

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

/** A length-delimited field (wire type 2): tag, length, bytes. */
function field(num: number, bytes: Buffer): Buffer {
  return Buffer.concat([varint((num << 3) | 2), varint(bytes.length), bytes]);
}

function str(num: number, s: string): Buffer {
  return s === '' ? Buffer.alloc(0) : field(num, Buffer.from(s, 'utf8'));
}

/** google.protobuf.Any { type_url = 1; value = 2 } */
function any(r: XdsResource): Buffer {
  return Buffer.concat([str(1, r.typeUrl), field(2, r.body)]);
}

const sotwEntry = new WeakMap<XdsResource, Buffer>();
/** DiscoveryResponse.resources (field 2) entry of a resource, encoded once per resource object. */
function sotwResource(r: XdsResource): Buffer {
  let b = sotwEntry.get(r);
  if (!b) sotwEntry.set(r, (b = field(2, any(r))));
  return b;
}

const deltaEntry = new WeakMap<XdsResource, Buffer>();
/** DeltaDiscoveryResponse.resources (field 2) entry: Resource { version = 1; resource = 2; name = 3 }. */
function deltaResource(r: XdsResource): Buffer {
  let b = deltaEntry.get(r);
  if (!b) deltaEntry.set(r, (b = field(2, Buffer.concat([str(1, r.version), field(2, any(r)), str(3, r.name)]))));
  return b;
}

/**
 * DiscoveryResponse without its nonce: version_info = 1, resources = 2, type_url = 4. Memoized per type snapshot and
 * names key, so every stream of a group that asks for the same names shares one body.
 */
const sotwBodies = new WeakMap<TypeSnapshot, Map<string, Buffer>>();
export function sotwBody(
  ts: TypeSnapshot,
  typeUrl: string,
  namesKey: string,
  resources: () => readonly XdsResource[],
): Buffer {
  let m = sotwBodies.get(ts);
  if (!m) sotwBodies.set(ts, (m = new Map()));
  let b = m.get(namesKey);
  if (!b) {
    b = Buffer.concat([str(1, ts.version), ...resources().map(sotwResource), str(4, typeUrl)]);
    // bound the memo: a type snapshot is shared by a group whose streams mostly ask the same names
    if (m.size >= 64) m.clear();
    m.set(namesKey, b);
  }
  return b;
}

/** The body with its nonce (field 5) appended: one copy per stream, no re-encoding. */
export function withNonce(body: Buffer, nonce: string): Buffer {
  return Buffer.concat([body, str(5, nonce)]);
}

/**
 * DeltaDiscoveryResponse: system_version_info = 1, resources = 2, type_url = 4, removed_resources = 6, then the nonce
 * (5) appended. The body before the nonce is memoized on the resources array: the delta streams of a group share one
 * changes object (decide.ts deltaChanges), so they share one body too.
 */
const deltaBodies = new WeakMap<
  readonly XdsResource[],
  { readonly version: string; readonly typeUrl: string; readonly removed: readonly string[]; readonly body: Buffer }
>();
export function deltaResponse(
  version: string,
  typeUrl: string,
  resources: readonly XdsResource[],
  removed: readonly string[],
  nonce: string,
): Buffer {
  let m = deltaBodies.get(resources);
  if (!m || m.version !== version || m.typeUrl !== typeUrl || m.removed !== removed) {
    const body = Buffer.concat([
      str(1, version),
      ...resources.map(deltaResource),
      str(4, typeUrl),
      ...removed.map((n) => field(6, Buffer.from(n, 'utf8'))),
    ]);
    deltaBodies.set(resources, (m = { version, typeUrl, removed, body }));
  }
  return withNonce(m.body, nonce);
}

/** The memo key of what a SotW response carries: everything for CDS/LDS, else the subscribed names. */
export function namesKey(t: TypeUrl, names: ReadonlySet<string>): string {
  return isWildcardType(t) ? '*' : nameSetKey(names);
}
