// Shared inputs of the policy tests: a small shop with a database and an external payment API.
import type { Edge, Inventory, PolicyRule, ServicePolicy } from '../../../xds-server/src/model/index.js';
import { edgeId } from '../../../xds-server/src/model/index.js';
import { render } from '../../../xds-server/src/generate/envoy-types.js';
import type { GeneratedResource } from '../../../xds-server/src/generate/resource.js';

export const inventory: Inventory = {
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [8080] },
    { name: 'web-2', service: 'shop/web', addresses: ['10.213.0.12'], ports: [8080] },
    { name: 'api-1', service: 'shop/api', addresses: ['10.213.0.21'], ports: [9090] },
    { name: 'api-2', service: 'shop/api', addresses: ['10.213.0.22', 'fd00::22'], ports: [9090] },
    { name: 'db-1', service: 'data/db', addresses: ['10.213.0.31'], ports: [5432] },
  ],
  externals: [{ name: 'payments', address: '203.0.113.10' }],
  vips: [
    { service: 'shop/web', address: '10.213.0.250' },
    { service: 'shop/api', address: '10.213.0.251' },
    { service: 'data/db', address: '10.213.0.252' },
  ],
};

export const rule = (peer: PolicyRule['peer'], protocol: PolicyRule['protocol'], port: number): PolicyRule => ({
  peer,
  protocol,
  port,
});

/** shop/api: called by shop/web over HTTP, calls data/db and the payment API. */
export const apiPolicy: ServicePolicy = {
  service: 'shop/api',
  ingress: [rule({ service: 'shop/web' }, 'http', 9090), rule({ cidr: '192.0.2.0/24' }, 'tcp', 9090)],
  egress: [
    rule({ service: 'data/db' }, 'tcp', 5432),
    rule({ cidr: '203.0.113.10/32', sni: 'payments' }, 'tcp', 443),
    rule({ cidr: '198.51.100.7/32' }, 'http', 80),
  ],
  origin: 'applied',
  updatedAt: 1_700_000_000_000,
};

/** data/db: only shop/api may connect. */
export const dbPolicy: ServicePolicy = {
  service: 'data/db',
  ingress: [rule({ service: 'shop/api' }, 'tcp', 5432)],
  egress: [],
  origin: 'learned',
  updatedAt: 1_700_000_000_000,
};

export function edge(
  source: Edge['source'],
  destination: Edge['destination'],
  protocol: Edge['protocol'],
  port: number,
  count = 1,
): Edge {
  const k = { source, destination, protocol, port };
  return {
    ...k,
    id: edgeId(k),
    evidence: {
      firstSeen: 1_700_000_000_000,
      lastSeen: 1_700_000_060_000,
      count,
      bytesSent: 10,
      bytesReceived: 20,
      exampleWorkloads: [],
    },
  };
}

export { prng } from '../../support/prng.js';

// ---- rendering ECDS resources for golden files --------------------------------------------------------------------

/** A generated resource as readable JSON (envoy-types.ts `render`), for golden files. */
export function renderResource(g: GeneratedResource): unknown {
  return render(g.typeUrl, g.body);
}
