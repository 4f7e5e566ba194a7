// The config generator: one service's snapshot from an immutable view of the mesh state and the inventory. Pure:
// the discovery server calls it (through the composition root) and never builds config itself.
import type { Mode, ServiceName, ServicePolicy } from '../model/index.js';
import type { Identities } from '../policy/principals.js';
import { policyInForce, type ServiceControl } from '../model/mesh-state.js';
import { makeSnapshot, type Snapshot } from '../xds/snapshot.js';
import { resource, typeUrlOf, type XdsResource } from '../xds/types.js';
import { DEFAULT_SETTINGS, type GenerateSettings } from './names.js';
import { egressServices, emptyPolicy, generateProxy } from './proxy.js';
import type { GeneratedResource } from './resource.js';

/** Everything one service's sidecars are generated from, besides the inventory. */
export interface ServiceConfig {
  readonly service: ServiceName;
  readonly mode: Mode;
  /** the rules: the policy in force, or in learn mode the learned edges (they shape chains, nothing is checked) */
  readonly policy: ServicePolicy;
  /** converged services in enforce get only the VIPs of their egress policy (config scoping) */
  readonly converged: boolean;
  readonly inboundGenerations: Readonly<Record<number, number>>;
  /** L7 enforcement on (inbound HTTP RBAC checks method + path templates) */
  readonly l7?: boolean;
}

/** The generator's input for a service, from its control state and what was learned. */
export function serviceConfig(
  service: ServiceName,
  control: ServiceControl,
  learned: () => ServicePolicy,
  converged: boolean,
): ServiceConfig {
  return {
    service,
    mode: control.mode,
    policy: policyInForce(control, learned, () => emptyPolicy(service)),
    converged,
    inboundGenerations: control.inboundGenerations,
    ...(control.l7 === true && { l7: true }),
  };
}

const xdsOf = new WeakMap<GeneratedResource, Map<string, XdsResource>>();

/** A generated resource as an xDS resource, hashed once per resource object (the builder shares them). */
function toXds(g: GeneratedResource, prefix: string): XdsResource {
  let m = xdsOf.get(g);
  if (!m) xdsOf.set(g, (m = new Map()));
  let r = m.get(prefix);
  if (!r) {
    const deps = g.deps.map((d) => ({ typeUrl: typeUrlOf(d.kind), name: d.name }));
    m.set(prefix, (r = resource(typeUrlOf(g.kind), g.name, g.body, deps, prefix)));
  }
  return r;
}

/**
 * The snapshot every sidecar of `cfg.service` is served. Scoping applies only where it cannot break anything: in
 * enforce, once converged (monitor must still let off-segment traffic to any VIP through, to report it).
 * Deterministic: the same input gives byte-identical resources and the same versions.
 */
export function generateSnapshot(
  cfg: ServiceConfig,
  inventory: Identities,
  versionPrefix: string,
  settings: GenerateSettings = DEFAULT_SETTINGS,
): Snapshot {
  const scope = cfg.mode === 'enforce' && cfg.converged ? egressServices(cfg.policy) : undefined;
  const resources = generateProxy(
    {
      identity: { service: cfg.service },
      inventory,
      mode: cfg.mode,
      policy: cfg.policy,
      ...(scope && { scope }),
      inboundGenerations: cfg.inboundGenerations,
      ...(cfg.l7 === true && { l7: true }),
    },
    settings,
  );
  return makeSnapshot(
    resources.map((g) => toXds(g, versionPrefix)),
    versionPrefix,
  );
}
