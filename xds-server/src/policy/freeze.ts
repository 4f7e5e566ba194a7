// Freezing: the learned edges of a service become its policy when it leaves learn mode. Pure.
import type { Edge, PolicyRule, ServiceName, ServicePolicy } from '../model/index.js';
import { normalizeRules, plainPeer } from './rules.js';

export interface ServiceEdges {
  /** edges whose destination is the service (peer = source) */
  readonly ingress: readonly Edge[];
  /** edges whose source is the service (peer = destination) */
  readonly egress: readonly Edge[];
}

/**
 * The policy that allows exactly what was learned: one rule per distinct (peer, protocol, port). Deterministic:
 * the order of the edges does not matter, rules come out sorted (rules.ts `compareRules`).
 */
export function freezePolicy(service: ServiceName, edges: ServiceEdges, now: number): ServicePolicy {
  const rule = (peer: Edge['source'], e: Edge): PolicyRule => ({
    peer: plainPeer(peer),
    protocol: e.protocol,
    port: e.port,
  });
  return {
    service,
    ingress: normalizeRules(edges.ingress.map((e) => rule(e.source, e))),
    egress: normalizeRules(edges.egress.map((e) => rule(e.destination, e))),
    origin: 'learned',
    updatedAt: now,
  };
}
