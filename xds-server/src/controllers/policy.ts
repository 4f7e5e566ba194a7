// The policy controller: the mesh state (modes, policies in force, chain generations, the soak gate, fail-static
// holds) behind the commands people give (mode, policy apply, release) and auto-promotion. Every command is checked
// and returns a domain outcome (never an HTTP error), is audited, persisted, and announced as a config change of the
// services it touches. The state itself changes only through the pure transitions of model/mesh-state.ts.
import type { ConvergenceMemory } from '../learn/index.js';
import { fail, ok, type Outcome } from '../model/errors.js';
import * as mesh from '../model/mesh-state.js';
import type { MeshState, ServiceControl } from '../model/mesh-state.js';
import type { AuditEvent, ConvergenceReport, Edge, Mode, ServiceName, ServicePolicy } from '../model/index.js';
import { MODES, SERVICE_NAME_RE } from '../model/index.js';
import { diffPolicy, freezePolicy, isEmptyDiff, policyDocument, type ParsedPolicy } from '../policy/index.js';
import { OncePerKind, type Logger } from '../util/logger.js';
import type { Scheduler } from '../util/scheduler.js';

/** What the services table keeps per service (JSON). */
export interface StoredServiceState {
  readonly convergence?: ConvergenceMemory;
  readonly policy?: ServicePolicy;
  readonly inboundGenerations?: Record<number, number>;
  readonly monitorSince?: number;
  readonly lastWouldDeny?: number;
  /** L7 enforcement on (survives restarts and mode changes) */
  readonly l7?: boolean;
}

export interface ServiceStore {
  getServiceRows(): readonly { readonly name: ServiceName; readonly mode: Mode; readonly state: unknown }[];
  putService(row: { name: ServiceName; mode: Mode; state: StoredServiceState }): void;
}

export interface PolicyControllerOptions {
  readonly store: ServiceStore;
  readonly logger: Logger;
  readonly scheduler: Scheduler;
  readonly audit: (e: Omit<AuditEvent, 'time'>) => void;
  /** the learned edges into and out of a service */
  readonly learned: (service: ServiceName) => { readonly ingress: readonly Edge[]; readonly egress: readonly Edge[] };
  /** what convergence remembers of a service (persisted with its row) */
  readonly convergence: (service: ServiceName) => ConvergenceMemory | undefined;
  /** every service anyone knows: the inventory's and the learned edges' */
  readonly knownServices: () => readonly ServiceName[];
  /** the given services' config changed (their sidecars need a push) */
  readonly onChange: (reason: string, services: readonly ServiceName[]) => void;
  /** held sidecars were released: serve them */
  readonly onRelease: (nodes: readonly string[]) => void;
  /** a service's L7 enforcement was turned on or off (also for every restored service that has it on) */
  readonly onL7?: (service: ServiceName, on: boolean) => void;
}

export interface ModeChange {
  readonly service: ServiceName;
  readonly before: Mode;
  readonly after: Mode;
  /** L7 enforcement after the change */
  readonly l7: boolean;
}

/** A would-deny moves the stored soak gate at most this often per service (a storm is not a write storm). */
const WOULD_DENY_PERSIST_MS = 1000;

/** A mode set from outside nanoseg (the `nanoseg.io/mode` annotation): while present it wins over API changes. */
export interface ModePin {
  readonly mode: Mode;
  /** what sets it, named in refusals and the audit: `annotation nanoseg.io/mode=enforce on Deployment shop/web` */
  readonly by: string;
}

export class PolicyController {
  private current: MeshState = mesh.EMPTY_MESH;
  private pins: ReadonlyMap<ServiceName, ModePin> = new Map();
  private readonly persistedWouldDeny = new Map<ServiceName, number>();
  private readonly once: OncePerKind;

  constructor(private readonly opts: PolicyControllerOptions) {
    this.once = new OncePerKind(opts.logger, 60_000);
  }

  /** The mesh state now (immutable: a snapshot for the generator and the views). */
  get state(): MeshState {
    return this.current;
  }

  control(service: ServiceName): ServiceControl {
    return mesh.controlOf(this.current, service);
  }

  modeOf(service: ServiceName): Mode {
    return this.control(service).mode;
  }

  /** Loads every service's mode and state from the store; returns the convergence memories to restore. */
  restore(): Map<ServiceName, ConvergenceMemory> {
    const services = new Map<ServiceName, ServiceControl>();
    const memories = new Map<ServiceName, ConvergenceMemory>();
    for (const row of this.opts.store.getServiceRows()) {
      const st = (row.state ?? {}) as StoredServiceState;
      services.set(row.name, {
        mode: row.mode,
        inboundGenerations: st.inboundGenerations ?? {},
        ...(st.policy && { policy: st.policy }),
        ...(st.monitorSince !== undefined && { monitorSince: st.monitorSince }),
        ...(st.lastWouldDeny !== undefined && { lastWouldDeny: st.lastWouldDeny }),
        ...(st.l7 === true && { l7: true }),
      });
      if (st.l7 === true) this.opts.onL7?.(row.name, true);
      if (st.lastWouldDeny !== undefined) this.persistedWouldDeny.set(row.name, st.lastWouldDeny);
      if (st.convergence) memories.set(row.name, st.convergence);
    }
    this.current = { ...this.current, services };
    return memories;
  }

  /** The rules a service's sidecars are configured with (learned edges in learn mode without a policy). */
  policyInForce(service: ServiceName): ServicePolicy {
    return mesh.policyInForce(
      this.control(service),
      () => freezePolicy(service, this.opts.learned(service), 0),
      () => ({ service, ingress: [], egress: [], origin: 'learned', updatedAt: 0 }),
    );
  }

  /**
   * Sets a service's mode (and, when `l7` is given, turns L7 enforcement on or off; otherwise it stays as it was).
   * Leaving learn mode freezes the learned edges into the policy in force.
   */
  setMode(service: string, mode: string, actor: string, l7?: boolean): Outcome<ModeChange> {
    const m = checkMode(mode);
    if (!m.ok) return m;
    const s = this.requireService(service);
    if (!s.ok) return s;
    const refused = this.pinConflict([s.value], m.value);
    if (refused) return refused;
    const r = this.changeMode(s.value, m.value, actor);
    if (l7 !== undefined) this.changeL7(s.value, l7, actor);
    return ok({ ...r, l7: this.control(s.value).l7 === true });
  }

  l7Of(service: ServiceName): boolean {
    return this.control(service).l7 === true;
  }

  setAllModes(mode: string, actor: string): Outcome<ModeChange[]> {
    const m = checkMode(mode);
    if (!m.ok) return m;
    const refused = this.pinConflict(this.opts.knownServices(), m.value);
    if (refused) return refused;
    return ok(this.opts.knownServices().map((s) => this.changeMode(s, m.value, actor)));
  }

  /** The pinned mode of a service, if any. */
  pinOf(service: ServiceName): ModePin | undefined {
    return this.pins.get(service);
  }

  /**
   * Replaces the set of pinned modes (level-triggered: the annotations as they are now) and brings every pinned
   * service to its mode, audited with the pin as the actor — or with who set the annotation, when `actorOf` knows
   * (the validating webhook saw the change). A service whose pin went away keeps its mode.
   */
  syncPins(
    pins: ReadonlyMap<ServiceName, ModePin>,
    actor: string,
    actorOf?: (service: ServiceName, mode: Mode) => string | undefined,
  ): void {
    this.pins = new Map(pins);
    for (const [service, pin] of this.pins) {
      if (this.modeOf(service) !== pin.mode)
        this.changeMode(service, pin.mode, actorOf?.(service, pin.mode) ?? `${actor} (${pin.by})`);
    }
  }

  /** A refusal when a change to `mode` would override a pin of one of `services`. */
  private pinConflict(services: readonly ServiceName[], mode: Mode): Outcome<never> | undefined {
    const against = services.flatMap((s) => {
      const p = this.pins.get(s);
      return p && p.mode !== mode ? [`${s} is ${p.mode} by ${p.by}`] : [];
    });
    if (against.length === 0) return undefined;
    return fail(
      'conflict',
      `refused: ${against.join('; ')} — change or remove the annotation instead (it wins while it is there)`,
    );
  }

  /** Replaces a service's policy with a person's edit (parsed and validated by the caller with the file parser). */
  applyPolicy(p: ParsedPolicy, actor: string): Outcome<{ service: ServiceName; changed: boolean }> {
    const s = this.requireService(p.service);
    if (!s.ok) return s;
    if (p.mode !== undefined && !MODES.includes(p.mode)) return fail('invalid', `mode: unknown mode "${p.mode}"`);
    // a mode the annotation does not allow refuses the whole change: nothing is applied
    const refused = p.mode !== undefined ? this.pinConflict([s.value], p.mode) : undefined;
    if (refused) return refused;
    const service = s.value;
    const mode = this.modeOf(service);
    const before = this.policyInForce(service);
    const now = this.opts.scheduler.now();
    const next: ServicePolicy = { service, ingress: p.ingress, egress: p.egress, origin: 'applied', updatedAt: now };
    const d = diffPolicy(before, next);
    const changed = !isEmptyDiff(d) || (p.l7 !== undefined && p.l7 !== this.l7Of(service));
    const t = mesh.applyPolicy(
      this.current,
      service,
      next,
      d.ingress.removed.map((r) => r.port),
    );
    this.current = t.state;
    this.persist(service);
    this.opts.audit({
      actor,
      action: 'policy-apply',
      target: service,
      before: policyDocument(before, mode, undefined, this.l7Of(service)),
      after: policyDocument(next, p.mode ?? mode, undefined, p.l7 ?? this.l7Of(service)),
    });
    this.opts.onChange(`${service} policy applied`, [service]);
    if (p.mode !== undefined) this.changeMode(service, p.mode, actor);
    if (p.l7 !== undefined) this.changeL7(service, p.l7, actor);
    return ok({ service, changed });
  }

  /** A would-deny against a service's policy: the soak restarts, and the store knows it even after a kill -9. */
  wouldDeny(service: ServiceName, at: number): void {
    const next = mesh.recordWouldDeny(this.current, service, at);
    if (next === this.current) return;
    this.current = next;
    const persisted = this.persistedWouldDeny.get(service);
    if (persisted === undefined || at - persisted >= WOULD_DENY_PERSIST_MS) this.persist(service);
  }

  /** converged learn → monitor; monitor soaked without a would-deny → enforce (audited as auto-promote). */
  autoPromote(reports: ReadonlyMap<ServiceName, ConvergenceReport>, soakMs: number): void {
    const now = this.opts.scheduler.now();
    for (const [service, r] of reports) {
      if (this.pins.has(service)) continue; // a person pinned the mode on the workload
      const p = mesh.promotion(this.control(service), r.state === 'converged', now, soakMs);
      if (p) this.changeMode(service, p.to, `nanoseg (auto-promote: ${p.why})`);
    }
  }

  /** Fail-static: the sidecar runs config we cannot account for; it is served nothing until released. */
  hold(node: string, reason: string): void {
    const next = mesh.hold(this.current, node, { since: this.opts.scheduler.now(), reason });
    if (next === this.current) return;
    this.current = next;
    this.opts.logger.error({ node }, reason);
  }

  isHeld(node: string): boolean {
    return this.current.held.has(node);
  }

  /** A person decided our state is the truth: configure held sidecars again. */
  release(nodes: 'all' | readonly string[], actor: string): Outcome<string[]> {
    const held = this.current.held;
    if (nodes !== 'all') {
      const unknown = nodes.filter((id) => !held.has(id));
      if (unknown.length) {
        return fail('not-found', `not held: ${unknown.join(', ')} (held: ${[...held.keys()].join(', ') || 'none'})`);
      }
    }
    const ids = nodes === 'all' ? [...held.keys()] : [...nodes];
    this.current = mesh.release(this.current, ids);
    if (ids.length) {
      this.opts.audit({ actor, action: 'release', target: ids.join(','), before: 'held', after: 'configured' });
      this.opts.onRelease(ids);
    }
    return ok(ids);
  }

  /** Writes a service's row: its mode, control state and convergence memory. */
  persist(service: ServiceName): void {
    const c = this.control(service);
    const convergence = this.opts.convergence(service);
    const state: StoredServiceState = {
      ...(convergence && { convergence }),
      ...(c.policy && { policy: c.policy }),
      inboundGenerations: { ...c.inboundGenerations },
      ...(c.monitorSince !== undefined && { monitorSince: c.monitorSince }),
      ...(c.lastWouldDeny !== undefined && { lastWouldDeny: c.lastWouldDeny }),
      ...(c.l7 === true && { l7: true }),
    };
    try {
      this.opts.store.putService({ name: service, mode: c.mode, state });
      if (c.lastWouldDeny !== undefined) this.persistedWouldDeny.set(service, c.lastWouldDeny);
    } catch (e) {
      this.once.warn('store-service', { err: (e as Error).message }, 'cannot persist service state');
    }
  }

  private changeMode(service: ServiceName, mode: Mode, actor: string): ModeChange {
    const now = this.opts.scheduler.now();
    const t = mesh.setMode(this.current, service, mode, now, () =>
      freezePolicy(service, this.opts.learned(service), now),
    );
    const l7 = this.l7Of(service);
    if (!t.changed) return { service, before: t.before, after: t.after, l7 };
    this.current = t.state;
    this.persist(service);
    this.opts.audit({ actor, action: 'mode', target: service, before: t.before, after: t.after });
    this.opts.onChange(`${service} mode ${t.before} → ${t.after}`, [service]);
    return { service, before: t.before, after: t.after, l7 };
  }

  private changeL7(service: ServiceName, on: boolean, actor: string): void {
    const next = mesh.setL7(this.current, service, on);
    if (next === this.current) return;
    this.current = next;
    this.persist(service);
    this.opts.audit({ actor, action: 'mode', target: service, before: { l7: !on }, after: { l7: on } });
    this.opts.onL7?.(service, on);
    this.opts.onChange(`${service} L7 enforcement ${on ? 'on' : 'off'}`, [service]);
  }

  private requireService(service: string): Outcome<ServiceName> {
    if (!SERVICE_NAME_RE.test(service)) {
      return fail('invalid', `service "${service}": expected namespace/name in lowercase DNS labels`);
    }
    const known = this.opts.knownServices();
    if (!known.includes(service)) {
      return fail('not-found', `unknown service ${service} (known: ${known.join(', ') || 'none'})`);
    }
    return ok(service);
  }
}

function checkMode(mode: string): Outcome<Mode> {
  return MODES.includes(mode as Mode)
    ? ok(mode as Mode)
    : fail('invalid', `mode: expected one of ${MODES.join(', ')}, got ${JSON.stringify(mode)}`);
}
