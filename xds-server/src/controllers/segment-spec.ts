// The NanoSegment spec controller: applies each NanoSegment's spec (inventory/kubernetes/segment-spec.ts: the same
// validation as `nanoseg policy apply`) to its service through the policy controller — the CLI's path, with its
// checks (mode annotation pins, known service) and its audit — once per object generation. Level-triggered: it is
// handed every object as it is now (each status round) and compares the generation with the one it last handled,
// which is kept in the store, so a restarted control plane neither re-applies an old spec over later CLI changes nor
// misses a spec applied while it was down. The actor is the Kubernetes user the validating webhook admitted the
// spec for (`admit`), or, when that is unknown (admitted by an earlier process), the object itself.
// A refused change (a conflicting mode annotation) changes nothing and is retried while the object stays as it is;
// a service nobody knows yet waits for it.
import type { ModeChange } from './policy.js';
import type { Outcome } from '../model/errors.js';
import type { Mode, ServiceName } from '../model/index.js';
import type { ParsedPolicy } from '../policy/index.js';
import type { SpecOutcome } from '../inventory/kubernetes/segment-status.js';
import { parseSegmentSpec, segmentService, specKey, type SegmentObject } from '../inventory/kubernetes/segment-spec.js';
import { OncePerKind, type Logger } from '../util/logger.js';

/** The store key of the handled generations. */
export const SEGMENT_SPECS_KEY = 'nanosegment-specs';

/** A generation that needs nothing more: applied, nothing wanted, or invalid (it will not become valid). */
interface Handled {
  readonly uid: string;
  readonly generation: number;
  readonly state: 'applied' | 'none' | 'invalid';
  readonly message: string;
}

export interface SegmentSpecOptions {
  readonly policy: {
    applyPolicy(p: ParsedPolicy, actor: string): Outcome<{ service: ServiceName; changed: boolean }>;
    setMode(service: string, mode: string, actor: string, l7?: boolean): Outcome<ModeChange>;
    modeOf(service: ServiceName): Mode;
  };
  readonly knownServices: () => readonly ServiceName[];
  /** the persisted handled generations (JSON), and where they go */
  readonly load: () => string | undefined;
  readonly save: (json: string) => void;
  readonly logger: Logger;
  readonly now: () => number;
}

/** How long the webhook's "who asked" is kept for the object to show up. */
const ADMITTED_TTL_MS = 10 * 60_000;

export class SegmentSpecController {
  private readonly handled = new Map<ServiceName, Handled>();
  private readonly admitted = new Map<ServiceName, { spec: string; actor: string; at: number }[]>();
  private readonly once: OncePerKind;

  constructor(private readonly opts: SegmentSpecOptions) {
    this.once = new OncePerKind(opts.logger, 60_000);
    try {
      const saved = JSON.parse(opts.load() ?? '{}') as Record<ServiceName, Handled>;
      for (const [s, h] of Object.entries(saved)) this.handled.set(s, h);
    } catch (e) {
      opts.logger.warn({ err: (e as Error).message }, 'the stored NanoSegment generations are unreadable; re-applying');
    }
  }

  /** The validating webhook accepted this spec of this service from this user. */
  admit(a: { readonly service: ServiceName; readonly spec: string; readonly actor: string }): void {
    const now = this.opts.now();
    const list = (this.admitted.get(a.service) ?? []).filter((x) => now - x.at < ADMITTED_TTL_MS);
    list.push({ spec: a.spec, actor: a.actor, at: now });
    this.admitted.set(a.service, list.slice(-16));
    if (this.admitted.size > 10_000) this.admitted.delete(this.admitted.keys().next().value!);
  }

  /** Brings one object's service to what its spec asks, if this generation was not handled yet. */
  reconcile(obj: SegmentObject): SpecOutcome {
    const generation = obj.metadata?.generation ?? 0;
    const uid = obj.metadata?.uid ?? '';
    const s = segmentService(obj.metadata);
    if (!s.valid) return { generation, state: 'invalid', message: s.errors.map((e) => e.message).join('; ') };
    const service = s.result;
    const h = this.handled.get(service);
    if (h && h.uid === uid && h.generation >= generation) return { generation, state: h.state, message: h.message };
    const c = parseSegmentSpec(service, obj.spec);
    if (!c.valid) {
      // only possible for an object stored without the webhook: nothing is applied
      const message = `not applied: ${c.errors.map((e) => e.message).join('; ')}`;
      return this.done(service, uid, generation, 'invalid', message);
    }
    const change = c.result;
    if (change.kind === 'none') return this.done(service, uid, generation, 'none', 'the spec asks for nothing');
    if (!this.opts.knownServices().includes(service)) {
      return { generation, state: 'pending', message: `waiting for ${service} (no workload or learned edge yet)` };
    }
    const actor = this.actorOf(service, obj, generation);
    const r: Outcome<unknown> =
      change.kind === 'policy'
        ? this.opts.policy.applyPolicy(change.policy, actor)
        : this.opts.policy.setMode(service, change.mode ?? this.opts.policy.modeOf(service), actor, change.l7);
    if (r.ok) {
      const what = change.kind === 'policy' ? 'policy applied' : 'mode applied';
      return this.done(service, uid, generation, 'applied', `generation ${generation}: ${what} by ${actor}`);
    }
    if (r.error.kind === 'invalid') return this.done(service, uid, generation, 'invalid', r.error.message);
    if (r.error.kind === 'not-found') return { generation, state: 'pending', message: r.error.message };
    this.once.warn(`segment-refused ${service}`, { service, generation, why: r.error.message }, 'NanoSegment refused');
    return { generation, state: 'refused', message: r.error.message };
  }

  private actorOf(service: ServiceName, obj: SegmentObject, generation: number): string {
    const key = specKey(obj.spec);
    const hit = (this.admitted.get(service) ?? []).filter((a) => a.spec === key).pop();
    return hit?.actor ?? `kubernetes (NanoSegment ${service} generation ${generation}, admitted earlier)`;
  }

  private done(
    service: ServiceName,
    uid: string,
    generation: number,
    state: Handled['state'],
    message: string,
  ): SpecOutcome {
    this.handled.set(service, { uid, generation, state, message });
    try {
      this.opts.save(JSON.stringify(Object.fromEntries(this.handled)));
    } catch (e) {
      this.once.warn(
        'segment-save',
        { err: (e as Error).message },
        'cannot persist the applied NanoSegment generations',
      );
    }
    return { generation, state, message };
  }
}
