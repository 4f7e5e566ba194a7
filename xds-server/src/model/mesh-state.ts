// The mesh state: what people (and auto-promotion) decided per service — mode, the policy in force, inbound chain
// generations, the soak gate — and which sidecars are held by fail-static. Immutable: every transition is a pure
// function that returns a new state (and what changed); the policy controller swaps the whole value, the config
// generator reads a snapshot of it. No I/O, no clock: time is passed in.
import type { Mode, ServiceName, ServicePolicy } from './types.js';
import { formatDuration } from '../util/duration.js';

/** Per service: the user's decisions and what follows from them. */
export interface ServiceControl {
  readonly mode: Mode;
  /** the policy in force once the service left learn mode (frozen from learning), or applied by a person */
  readonly policy?: ServicePolicy;
  /**
   * Per server port, bumped when ingress rules on that port are revoked while enforced: the inbound chain of the port
   * is re-created, so Envoy drains it and connections the policy no longer allows are closed.
   */
  readonly inboundGenerations: Readonly<Record<number, number>>;
  /** when the service last entered monitor mode (ms) */
  readonly monitorSince?: number;
  /** the last would-deny reported against its policy (ms): the soak restarts there */
  readonly lastWouldDeny?: number;
  /** L7 enforcement: inbound HTTP passes only the rules' method + path templates (kept across mode changes) */
  readonly l7?: boolean;
}

export const DEFAULT_CONTROL: ServiceControl = Object.freeze({ mode: 'learn', inboundGenerations: Object.freeze({}) });

/** A sidecar the control plane refuses to configure (fail-static). */
export interface Hold {
  readonly since: number;
  readonly reason: string;
}

export interface MeshState {
  readonly services: ReadonlyMap<ServiceName, ServiceControl>;
  readonly held: ReadonlyMap<string, Hold>;
}

export const EMPTY_MESH: MeshState = Object.freeze({ services: new Map(), held: new Map() });

export function controlOf(state: MeshState, service: ServiceName): ServiceControl {
  return state.services.get(service) ?? DEFAULT_CONTROL;
}

function withControl(state: MeshState, service: ServiceName, control: ServiceControl): MeshState {
  const services = new Map(state.services);
  services.set(service, control);
  return { ...state, services };
}

export interface ModeTransition {
  readonly state: MeshState;
  readonly before: Mode;
  readonly after: Mode;
  readonly changed: boolean;
}

/**
 * Sets a service's mode. Leaving learn mode without a policy freezes what was learned (`frozen()`, called only
 * then) into the policy in force; entering monitor starts the soak. The same mode again changes nothing.
 */
export function setMode(
  state: MeshState,
  service: ServiceName,
  mode: Mode,
  now: number,
  frozen: () => ServicePolicy,
): ModeTransition {
  const c = controlOf(state, service);
  if (c.mode === mode) return { state, before: c.mode, after: mode, changed: false };
  const next: ServiceControl = {
    ...c,
    mode,
    ...(c.mode === 'learn' && !c.policy ? { policy: frozen() } : {}),
    ...(mode === 'monitor' ? { monitorSince: now } : {}),
  };
  return { state: withControl(state, service, next), before: c.mode, after: mode, changed: true };
}

export interface PolicyTransition {
  readonly state: MeshState;
  /** ports whose inbound chain generation was bumped (ingress rules on them revoked while enforced) */
  readonly regenerated: readonly number[];
}

/**
 * Replaces the policy in force. Revoking ingress rules while enforced bumps the generation of each port that lost a
 * rule, so its inbound chain is re-created and open connections are re-checked.
 */
export function applyPolicy(
  state: MeshState,
  service: ServiceName,
  next: ServicePolicy,
  revokedIngressPorts: readonly number[],
): PolicyTransition {
  const c = controlOf(state, service);
  const regenerated = c.mode === 'enforce' ? [...new Set(revokedIngressPorts)].sort((a, b) => a - b) : [];
  const gens: Record<number, number> = { ...c.inboundGenerations };
  for (const p of regenerated) gens[p] = (gens[p] ?? 0) + 1;
  return { state: withControl(state, service, { ...c, policy: next, inboundGenerations: gens }), regenerated };
}

/** Records a would-deny against a service's policy; only a later one moves the soak gate. */
export function recordWouldDeny(state: MeshState, service: ServiceName, at: number): MeshState {
  const c = controlOf(state, service);
  if (c.lastWouldDeny !== undefined && c.lastWouldDeny >= at) return state;
  return withControl(state, service, { ...c, lastWouldDeny: at });
}

/** When the current soak began: entering monitor, or the last would-deny since, whichever is later. */
export function soakStart(c: ServiceControl): number | undefined {
  if (c.mode !== 'monitor') return undefined;
  return Math.max(c.monitorSince ?? 0, c.lastWouldDeny ?? 0);
}

export interface Promotion {
  readonly to: Mode;
  /** the audit actor's explanation */
  readonly why: string;
}

/**
 * Auto-promotion: a converged service in learn goes to monitor; a service in monitor goes to enforce once it has
 * soaked `soakMs` without a would-deny. Anything else stays.
 */
export function promotion(c: ServiceControl, converged: boolean, now: number, soakMs: number): Promotion | undefined {
  if (c.mode === 'learn') return converged ? { to: 'monitor', why: 'converged' } : undefined;
  const since = c.monitorSince === undefined ? undefined : soakStart(c);
  if (since === undefined) return undefined;
  const quiet = now - since;
  return quiet >= soakMs ? { to: 'enforce', why: `no would-deny for ${formatDuration(quiet)}` } : undefined;
}

/** The rules a service's sidecars are configured with: the policy in force, else `learned()` (learn mode). */
export function policyInForce(
  c: ServiceControl,
  learned: () => ServicePolicy,
  none: () => ServicePolicy,
): ServicePolicy {
  if (c.policy) return c.policy;
  return c.mode === 'learn' ? learned() : none();
}

export function hold(state: MeshState, node: string, h: Hold): MeshState {
  if (state.held.has(node)) return state;
  const held = new Map(state.held);
  held.set(node, h);
  return { ...state, held };
}

export function release(state: MeshState, nodes: readonly string[]): MeshState {
  if (!nodes.some((n) => state.held.has(n))) return state;
  const held = new Map(state.held);
  for (const n of nodes) held.delete(n);
  return { ...state, held };
}

/** Turns L7 enforcement on or off for a service; the same value again changes nothing (same state object). */
export function setL7(state: MeshState, service: ServiceName, on: boolean): MeshState {
  const c = controlOf(state, service);
  if ((c.l7 === true) === on) return state;
  const { l7: _drop, ...rest } = c;
  return withControl(state, service, on ? { ...rest, l7: true } : rest);
}
