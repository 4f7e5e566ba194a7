// Config scoping, in process: one sidecar's generated config in a synthetic 1,000-service mesh (2 replicas and one
// port each, a VIP per service), enforce mode, each service with ≤ 10 egress peers. Generated with the scope the
// control plane uses once a service is converged in enforce mode (egressServices(policy)) and without it (the
// whole mesh), side by side in one run: encoded bytes of all resources and generation time of each.
import {
  egressServices,
  generateProxy,
  DEFAULT_SETTINGS,
  type GenerateSettings,
  type GeneratedResource,
} from '../../xds-server/src/generate/index.js';
import type { Inventory, ServiceName, ServicePolicy, Workload } from '../../xds-server/src/model/index.js';
import type { Benchmark, Metric } from './types.js';

const SERVICES = 1000;
const REPLICAS = 2;
const PORT = 8080;
const PEERS = 10;

const svc = (s: number): ServiceName => `mesh/svc${s}`;
/** replica r of service s: 10.<1+r>.<s/250>.<s%250+1>; VIP: 10.9.<s/250>.<s%250+1> (s < 64,000) */
const ip = (net: number, s: number) => `10.${net}.${Math.floor(s / 250)}.${(s % 250) + 1}`;

function mesh(): Inventory {
  const workloads: Workload[] = [];
  for (let s = 0; s < SERVICES; s++) {
    for (let r = 0; r < REPLICAS; r++)
      workloads.push({ name: `svc${s}-${r}`, service: svc(s), addresses: [ip(1 + r, s)], ports: [PORT] });
  }
  return {
    workloads,
    externals: [],
    vips: Array.from({ length: SERVICES }, (_, s) => ({ service: svc(s), address: ip(9, s) })),
  };
}

/** Service s calls the next PEERS services and is called by the previous PEERS. */
function policyOf(s: number): ServicePolicy {
  const at = (k: number) => (s + k + SERVICES) % SERVICES;
  return {
    service: svc(s),
    egress: Array.from({ length: PEERS }, (_, i) => ({
      peer: { service: svc(at(i + 1)) },
      protocol: 'http' as const,
      port: PORT,
    })),
    ingress: Array.from({ length: PEERS }, (_, i) => ({
      peer: { service: svc(at(-(i + 1))) },
      protocol: 'http' as const,
      port: PORT,
    })),
    origin: 'learned',
    updatedAt: 0,
  };
}

const bytesOf = (rs: readonly GeneratedResource[]) => rs.reduce((n, r) => n + r.body.length, 0);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export const scoping: Benchmark = {
  name: 'scoping',
  description: "one sidecar's config in a 1,000-service mesh: scoped to its egress peers vs the full mesh (in process)",
  async run({ quick, progress }) {
    const inventory = mesh();
    const s = 0;
    const policy = policyOf(s);
    const scope = egressServices(policy);
    const input = {
      identity: { service: svc(s) },
      inventory,
      mode: 'enforce' as const,
      policy,
    };
    // A fresh settings object per generation gives a fresh encoder memo (the control plane's memo is shared between
    // sidecars, so this is the cost of the first sidecar of a service after a change). Scoped and full alternate.
    const gen = (scoped: boolean): { ms: number; resources: GeneratedResource[] } => {
      const settings: GenerateSettings = { ...DEFAULT_SETTINGS };
      const t0 = performance.now();
      const resources = generateProxy(scoped ? { ...input, scope } : input, settings);
      return { ms: performance.now() - t0, resources };
    };
    gen(true);
    gen(false); // JIT warm-up
    const reps = quick ? 5 : 21;
    const tScoped: number[] = [],
      tFull: number[] = [];
    let scoped: GeneratedResource[] = [],
      full: GeneratedResource[] = [];
    for (let i = 0; i < reps; i++) {
      const a = gen(true),
        b = gen(false);
      tScoped.push(a.ms);
      tFull.push(b.ms);
      scoped = a.resources;
      full = b.resources;
    }
    const sb = bytesOf(scoped),
      fb = bytesOf(full);
    progress(`scoped ${scoped.length} resources ${sb} B, full ${full.length} resources ${fb} B`);
    const m: Metric[] = [
      {
        name: 'scoped config bytes',
        value: sb,
        unit: 'B',
        note: `${scoped.length} resources, ${scope.size} egress services`,
      },
      {
        name: 'full-mesh config bytes',
        value: fb,
        unit: 'B',
        note: `${full.length} resources, ${SERVICES} services × ${REPLICAS} replicas`,
      },
      { name: 'scoped / full bytes', value: sb / fb, unit: 'ratio', target: { op: '<=', value: 0.05 } },
      {
        name: 'generate scoped (median)',
        value: median(tScoped),
        unit: 'ms',
        note: `${reps} runs, fresh encoder memo each`,
      },
      {
        name: 'generate full mesh (median)',
        value: median(tFull),
        unit: 'ms',
        note: `${reps} runs, fresh encoder memo each`,
      },
    ];
    return m;
  },
};
