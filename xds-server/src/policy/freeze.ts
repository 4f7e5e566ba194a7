// Freezing: the learned edges of a service become its policy when it leaves learn mode. Pure.
import type { Edge, PolicyRule, ServiceName, ServicePolicy } from '../model/index.js';
import { normalizePaths } from './paths.js';
import { normalizeRules, plainPeer } from './rules.js';

export interface ServiceEdges {
  /** edges whose destination is the service (peer = source) */
  readonly ingress: readonly Edge[];
  /** edges whose source is the service (peer = destination) */
  readonly egress: readonly Edge[];
}

/**
 * The policy that allows exactly what was learned: one rule per distinct (peer, protocol, port); an ingress
 * HTTP/gRPC rule lists the method + path templates learned on its edge (the L7 segment, enforced only when the
 * service has L7 on). Deterministic: the order of the edges does not matter, rules come out sorted
 * (rules.ts `compareRules`), paths too.
 */
export function freezePolicy(service: ServiceName, edges: ServiceEdges, now: number): ServicePolicy {
  const rule = (peer: Edge['source'], e: Edge): PolicyRule => ({
    peer: plainPeer(peer),
    protocol: e.protocol,
    port: e.port,
  });
  return {
    service,
    ingress: normalizeRules(
      edges.ingress.map((e) => {
        const r = rule(e.source, e);
        const paths = e.evidence.paths;
        if (r.protocol === 'tcp' || r.protocol === 'udp' || paths === undefined || paths.length === 0) return r;
        return { ...r, paths: normalizePaths(paths) };
      }),
    ),
    egress: normalizeRules(edges.egress.map((e) => rule(e.destination, e))),
    origin: 'learned',
    updatedAt: now,
  };
}
