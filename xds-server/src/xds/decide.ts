// The protocol decisions, as pure functions of (request, per-stream per-type state, current snapshot, time).
// The server only carries them out: send, park a watch, or drop the request.
import type {
  DeltaDiscoveryRequest,
  DiscoveryRequest,
} from '../../../proto/gen/envoy/service/discovery/v3/discovery.js';
import type { TypeSnapshot } from './snapshot.js';
import { isWildcardType } from './types.js';
import type { TypeUrl, XdsResource } from './types.js';

/**
 * respond: send the current version now. ack / nack: the client confirmed or rejected our last response and there
 * is nothing new to send. wait: nothing to send yet. In these three the stream parks a watch. ignore: drop the
 * request (stale nonce), state unchanged.
 */
export type Action = 'respond' | 'ack' | 'nack' | 'wait' | 'ignore';

export interface Nack {
  /** The version the client rejected; it is never sent again to this stream. */
  readonly version: string;
  readonly message: string;
  readonly at: number;
}

export interface Decision<S> {
  readonly action: Action;
  readonly why: string;
  /** State to keep for this stream and type (the previous one when ignored). */
  readonly next: S;
  /** Set when this request acknowledged a response: its version. */
  readonly acked?: string;
  /** Set when this request rejected a response. */
  readonly nacked?: Nack;
}

// ---- State of the world ----------------------------------------------------------------------------------------

export interface SotwState {
  /** Version of the last response sent, or the version the client already had when it reconnected. */
  readonly sentVersion?: string;
  /** Nonce of the last response sent on this stream for this type. */
  readonly nonce?: string;
  readonly ackedVersion?: string;
  /** Subscribed names (named types only; CDS and LDS always get everything). */
  readonly names: ReadonlySet<string>;
  /** The resource_names list of the last request, as sent: an ACK repeating it needs no set built (hot path). */
  readonly requested?: readonly string[];
  readonly nack?: Nack;
}

/** Whether `current` is something this stream should be sent: not what it has, and not what it rejected. */
export function sotwHasNewer(s: SotwState, current: string | undefined): current is string {
  return current !== undefined && current !== s.sentVersion && current !== s.nack?.version;
}

export function decideSotw(
  req: DiscoveryRequest,
  typeUrl: TypeUrl,
  prev: SotwState | undefined,
  current: string | undefined,
  now: number,
): Decision<SotwState> {
  const wildcard = isWildcardType(typeUrl);
  // most requests (ACKs) repeat the previous list: keep its set instead of building and comparing a new one
  const same = !wildcard && prev?.requested !== undefined && sameList(prev.requested, req.resourceNames);
  const names = wildcard ? EMPTY_NAMES : same ? prev!.names : new Set(req.resourceNames);
  const requested = wildcard ? undefined : req.resourceNames;

  // Empty nonce, or a nonce from before this stream (Envoy reconnecting to us): an initial request.
  if (req.responseNonce === '' || prev?.nonce === undefined) {
    const base: SotwState = { names, ...(requested && { requested }), ...(prev?.nack && { nack: prev.nack }) };
    if (current === undefined)
      return { action: 'wait', why: 'initial request, no snapshot for this node yet', next: base };
    if (!wildcard && names.size === 0) return { action: 'wait', why: 'initial request names nothing', next: base };
    if (current === prev?.nack?.version) {
      return {
        action: 'wait',
        why: `current version ${current} was rejected on this stream`,
        next: { ...prev, names },
      };
    }
    if (req.versionInfo !== '' && req.versionInfo === current) {
      const next = { ...base, sentVersion: current, ackedVersion: current };
      return { action: 'ack', why: `reconnect: client already has version ${current}`, next, acked: current };
    }
    const next = req.versionInfo === '' ? base : { ...base, ackedVersion: req.versionInfo };
    return { action: 'respond', why: 'initial request', next };
  }

  if (req.responseNonce !== prev.nonce) {
    // Envoy dropping the last name of a type (EDS once its config has no EDS cluster left) sends that with the nonce
    // it last processed, and a response of a type it watches nothing of is dropped, never ACKed: the response in
    // flight will never be answered. The unsubscription is kept (nothing is outstanding once nothing is subscribed).
    if (!wildcard && names.size === 0 && prev.names.size > 0) {
      return {
        action: 'wait',
        why: `stale nonce ${req.responseNonce} (last sent ${prev.nonce}) unsubscribing from every name`,
        next: { ...prev, names, requested: requested! },
      };
    }
    return { action: 'ignore', why: `stale nonce ${req.responseNonce} (last sent ${prev.nonce})`, next: prev };
  }

  const added = wildcard || same ? 0 : countAdded(names, prev.names);
  const withNames: SotwState =
    wildcard || same
      ? prev
      : sameSet(names, prev.names)
        ? { ...prev, requested: requested! }
        : { ...prev, names, requested: requested! };

  if (req.errorDetail) {
    const nacked: Nack = { version: prev.sentVersion ?? req.versionInfo, message: req.errorDetail.message, at: now };
    const next: SotwState = { ...withNames, nack: nacked };
    if (sotwHasNewer(next, current)) {
      return { action: 'respond', why: `NACK of ${nacked.version}, ${current} is available`, next, nacked };
    }
    return {
      action: 'nack',
      why: `NACK of ${nacked.version}: keeping the last good config, not resending`,
      next,
      nacked,
    };
  }

  const acked = req.versionInfo;
  const next: SotwState = { ...withNames, ackedVersion: acked };
  // a named type the client no longer subscribes to anything of (e.g. EDS once it has no EDS clusters)
  if (!wildcard && next.names.size === 0)
    return { action: 'ack', why: `ACK of ${acked}; subscribed to nothing`, next, acked };
  if (sotwHasNewer(next, current)) {
    return { action: 'respond', why: `ACK of ${acked}, snapshot moved on to ${current}`, next, acked };
  }
  if (added > 0 && current !== undefined && current !== next.nack?.version) {
    return { action: 'respond', why: `ACK of ${acked} with ${added} newly subscribed name(s)`, next, acked };
  }
  return { action: 'ack', why: `ACK of ${acked}, nothing new`, next, acked };
}

export function afterSotwSend(s: SotwState, version: string, nonce: string): SotwState {
  return { ...s, sentVersion: version, nonce };
}

/** What a SotW response carries: everything for CDS/LDS, the subscribed names that exist otherwise. */
export function sotwResources(typeUrl: TypeUrl, s: SotwState, current: TypeSnapshot): XdsResource[] {
  if (isWildcardType(typeUrl)) return [...current.resources.values()];
  const out: XdsResource[] = [];
  for (const n of s.names) {
    const r = current.resources.get(n);
    if (r) out.push(r);
  }
  return out;
}

// ---- Incremental (delta) ---------------------------------------------------------------------------------------

export interface DeltaState {
  /** Subscribed to everything of the type (CDS/LDS with an empty first subscribe list, or '*'). */
  readonly wildcard: boolean;
  /** Explicitly subscribed names. */
  readonly names: ReadonlySet<string>;
  /**
   * Resource versions the client has, or was last sent (a rejected version counts: it is not resent); absent once
   * `synced` says it (knownVersions reads either).
   */
  readonly known?: ReadonlyMap<string, string>;
  /** system_version_info of the last response sent. */
  readonly sentVersion?: string;
  readonly nonce?: string;
  readonly ackedVersion?: string;
  readonly nack?: Nack;
  /**
   * The type snapshot last sent in full: the client's versions are its versions for this subscription
   * (afterDeltaSend sets it; a subscription change turns it back into `known`). What the stream lacks of a newer
   * snapshot is then the difference of the two snapshots, the same for every stream of a group, so deltaChanges
   * works it out once per group and a send copies nothing per stream.
   */
  readonly synced?: TypeSnapshot;
}

export interface DeltaChanges {
  readonly resources: readonly XdsResource[];
  readonly removed: readonly string[];
}

export interface DeltaDecision extends Decision<DeltaState> {
  /** What to send, when action is 'respond'. */
  readonly changes?: DeltaChanges;
}

const NO_CHANGES: DeltaChanges = Object.freeze({ resources: Object.freeze([]), removed: Object.freeze([]) });

/** The resources the client lacks or has in another version, and the names it has that are gone. */
export function deltaChanges(s: DeltaState, current: TypeSnapshot | undefined): DeltaChanges {
  if (!current) return NO_CHANGES;
  if (!s.synced) {
    const known = knownVersions(s);
    return difference(s, (n) => known.get(n), known.keys(), current);
  }
  const from = s.synced;
  if (from.version === current.version) return NO_CHANGES; // versions are content hashes: nothing differs
  // nested maps of strings the snapshots and nameSetKey keep (their hashes are cached), never a key built per call
  let byFrom = diffs.get(current);
  if (!byFrom) diffs.set(current, (byFrom = new Map()));
  let bySubscription = byFrom.get(from.version);
  if (!bySubscription) {
    if (byFrom.size >= 16) byFrom.clear(); // a group's streams were mostly sent one of the last few snapshots
    byFrom.set(from.version, (bySubscription = new Map()));
  }
  const key = s.wildcard ? '*' : nameSetKey(s.names);
  let d = bySubscription.get(key);
  if (!d) {
    d = difference(s, (n) => from.resources.get(n)?.version, from.resources.keys(), current);
    if (bySubscription.size >= 64) bySubscription.clear(); // and mostly share a subscription
    bySubscription.set(key, d);
  }
  return d;
}

/** deltaChanges from `synced`, by current snapshot, synced version and subscription: shared, never mutated */
const diffs = new WeakMap<TypeSnapshot, Map<string, Map<string, DeltaChanges>>>();

function difference(
  s: DeltaState,
  knownVersion: (name: string) => string | undefined,
  knownNames: Iterable<string>,
  current: TypeSnapshot,
): DeltaChanges {
  const resources: XdsResource[] = [];
  const removed: string[] = [];
  if (s.wildcard) {
    for (const r of current.resources.values()) if (knownVersion(r.name) !== r.version) resources.push(r);
    for (const name of knownNames) if (!current.resources.has(name)) removed.push(name);
  } else {
    for (const name of s.names) {
      const r = current.resources.get(name);
      if (r && knownVersion(name) !== r.version) resources.push(r);
      else if (!r && knownVersion(name) !== undefined) removed.push(name);
    }
  }
  return resources.length || removed.length ? { resources, removed } : NO_CHANGES;
}

/** The versions the client holds (or was last sent), by name. */
export function knownVersions(s: DeltaState): ReadonlyMap<string, string> {
  if (s.known || !s.synced) return s.known ?? EMPTY_VERSIONS;
  const out = new Map<string, string>();
  if (s.wildcard) for (const r of s.synced.resources.values()) out.set(r.name, r.version);
  else
    for (const n of s.names) {
      const r = s.synced.resources.get(n);
      if (r) out.set(n, r.version);
    }
  return out;
}

const EMPTY_VERSIONS: ReadonlyMap<string, string> = new Map();

const nameSetKeys = new WeakMap<ReadonlySet<string>, string>();
/** A set of names as one string (sorted), memoized per set object: streams keep their set while it is unchanged. */
export function nameSetKey(names: ReadonlySet<string>): string {
  let k = nameSetKeys.get(names);
  if (k === undefined) nameSetKeys.set(names, (k = [...names].sort().join('\n')));
  return k;
}

export function decideDelta(
  req: DeltaDiscoveryRequest,
  typeUrl: TypeUrl,
  prev: DeltaState | undefined,
  current: TypeSnapshot | undefined,
  now: number,
): DeltaDecision {
  if (!prev) {
    const sub = req.resourceNamesSubscribe;
    const next: DeltaState = {
      wildcard: sub.includes('*') || (isWildcardType(typeUrl) && sub.length === 0),
      names: new Set(sub.filter((n) => n !== '*')),
      known: new Map(Object.entries(req.initialResourceVersions)),
    };
    if (!current) return { action: 'wait', why: 'initial request, no snapshot for this node yet', next };
    const reconnect = Object.keys(req.initialResourceVersions).length > 0;
    const d = respondIfChanged(
      next,
      current,
      'wait',
      reconnect ? 'initial request with known versions' : 'initial request',
    );
    // A reconnecting client that already has exactly the current resources runs this version: count it as
    // sent and ACKed (as SotW does for a matching version_info), so status shows what it runs.
    if (reconnect && d.action === 'wait')
      return { ...d, next: { ...next, sentVersion: current.version, ackedVersion: current.version } };
    return d;
  }

  const next = applySubscriptions(prev, req);
  if (req.responseNonce === '') return respondIfChanged(next, current, 'wait', 'subscription change');
  if (req.responseNonce !== prev.nonce) {
    if (next !== prev) return respondIfChanged(next, current, 'wait', 'subscription change with a stale nonce');
    return { action: 'ignore', why: `stale nonce ${req.responseNonce} (last sent ${prev.nonce})`, next: prev };
  }
  if (req.errorDetail) {
    const nacked: Nack = { version: prev.sentVersion ?? '', message: req.errorDetail.message, at: now };
    return { ...respondIfChanged({ ...next, nack: nacked }, current, 'nack', `NACK of ${nacked.version}`), nacked };
  }
  const acked = prev.sentVersion ?? '';
  return { ...respondIfChanged({ ...next, ackedVersion: acked }, current, 'ack', `ACK of ${acked}`), acked };
}

/** Respond when the client lacks something; otherwise `otherwise` (the request is an ACK, a NACK or a wait). */
function respondIfChanged(
  next: DeltaState,
  current: TypeSnapshot | undefined,
  otherwise: Action,
  what: string,
): DeltaDecision {
  const changes = deltaChanges(next, current);
  const n = changes.resources.length + changes.removed.length;
  if (n > 0) return { action: 'respond', why: `${what}: ${n} change(s) to send`, next, changes };
  return { action: otherwise, why: `${what}: nothing to send`, next };
}

function applySubscriptions(prev: DeltaState, req: DeltaDiscoveryRequest): DeltaState {
  const sub = req.resourceNamesSubscribe;
  const unsub = req.resourceNamesUnsubscribe;
  if (sub.length === 0 && unsub.length === 0) return prev;
  const names = new Set(prev.names);
  const known = new Map(knownVersions(prev));
  let wildcard = prev.wildcard;
  for (const n of sub) {
    if (n === '*') wildcard = true;
    else names.add(n);
  }
  for (const n of unsub) {
    if (n === '*') wildcard = false;
    else {
      names.delete(n);
      known.delete(n);
    }
  }
  const { synced: _dropped, ...rest } = prev; // the versions are `known` again
  return { ...rest, wildcard, names, known };
}

/**
 * After sending deltaChanges(s, current) — all the stream lacked — it holds `current`'s versions for its
 * subscription, which `synced` says without a copy per stream.
 */
export function afterDeltaSend(s: DeltaState, current: TypeSnapshot, nonce: string): DeltaState {
  const { known: _replaced, ...rest } = s;
  return { ...rest, sentVersion: current.version, nonce, synced: current };
}

// ---- helpers ---------------------------------------------------------------------------------------------------

const EMPTY_NAMES: ReadonlySet<string> = new Set();

function countAdded(now: ReadonlySet<string>, before: ReadonlySet<string>): number {
  let n = 0;
  for (const x of now) if (!before.has(x)) n++;
  return n;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && countAdded(a, b) === 0;
}
