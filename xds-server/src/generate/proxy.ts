// Pure generation of one sidecar's Envoy resources (LDS, RDS, CDS, EDS) from the inventory.
// No I/O: input in, encoded resources out. The serving layer never builds config itself.
//
// Layout of a sidecar (Istio-compatible ports):
//   (both listeners also listen on [::] when the service's workloads have IPv6 addresses)
//   outbound listener 0.0.0.0:15001  app's outgoing TCP, redirected by the pod's capture rules
//     - per service VIP and port: HTTP chain (HCM → RDS outbound|PORT||SVC) and TCP chain (tcp_proxy), both to
//       the EDS cluster outbound|PORT||SVC, which balances over the service's replicas
//     - HTTP to any other address: HCM → RDS outbound|passthrough → ORIGINAL_DST cluster
//     - everything else: tcp_proxy → ORIGINAL_DST cluster `passthrough`
//   inbound listener 0.0.0.0:15006   connections to the pod, redirected by the capture rules
//     - HTTP: HCM → RDS inbound → ORIGINAL_DST cluster `inbound-passthrough`; other TCP: tcp_proxy to it
// Every chain logs each connection/request to the control plane over gRPC ALS, log name "outbound"/"inbound".
//
// Policy (monitor/enforce) arrives as RBAC filters over ECDS (generate/rbac.ts): every chain starts with an RBAC
// filter whose config is a separate resource, so policy and mode changes never touch listeners (no drains).
// TCP chains start with the network RBAC filter; HTTP chains (both listeners) carry the HTTP RBAC filter first
// in the HCM instead, with the same tree. The network filter would be silent on an HTTP chain: its shadow result
// is connection metadata, which HTTP access-log entries do not carry (monitor would report nothing), and its
// denial closes the connection before the HCM logs a request (enforce would block without an alert).
// Chain layout that depends on policy, and only where unavoidable:
//   - outbound, per allowed non-VIP destination address and port: a chain to `passthrough`; in learn mode these
//     come from the learned egress so long-lived connections already sit on their own chain when enforcement
//     starts;
//   - outbound default chain: `passthrough` in learn/monitor, the `blackhole` cluster in enforce (no connection
//     to an unlisted destination is ever attempted), logged as "outbound-deny";
//   - inbound, per server port (declared by the service, or named by an ingress rule): a chain to the app; its name carries a generation number,
//     bumped when ingress rules on that port are revoked while enforced: Envoy then drains that port's old chain,
//     closing the connections the policy no longer allows within its drain time (other ports are untouched);
//   - inbound default chain (ports without rules): the app in learn/monitor, the blackhole in enforce, so the app
//     never even accepts a connection on a port nobody may use ("inbound-deny").
// Config scoping (decided by the caller, `scope`): a converged service in enforce mode gets only the VIP services of
// its egress policy; monitor keeps the whole mesh so that off-segment traffic still passes and is reported.
import type { Mode, ServiceName, ServicePolicy, Workload } from '../model/index.js';
import { isServicePeer } from '../model/index.js';
import { identities, type IdentityIndex } from '../inventory/identity.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';
import type { Identities } from '../policy/principals.js';
import { builderFor } from './listeners.js';
import {
  DEFAULT_SETTINGS,
  INBOUND_PASSTHROUGH,
  PASSTHROUGH,
  RBAC_INBOUND,
  RBAC_INBOUND_HTTP,
  RBAC_OUTBOUND,
  RBAC_OUTBOUND_HTTP,
  serviceClusterName,
  type GenerateSettings,
  type VipService,
} from './names.js';
import { inboundHttpRbac, inboundNetworkRbac, outboundHttpRbac, outboundNetworkRbac } from './rbac.js';
import type { GeneratedResource } from './resource.js';

/** Whose sidecars are generated: the service (every replica gets the same resources). */
export interface ProxyIdentity {
  readonly service: ServiceName;
}

/** the whole mesh's VIP services per identity index: every unscoped sidecar of one inventory shares them */
const meshVips = new WeakMap<IdentityIndex, readonly VipService[]>();

/** The VIP services in `scope` (all when undefined), sorted by service; workloads are grouped in one pass. */
function vipServices(ids: IdentityIndex, scope: ReadonlySet<ServiceName> | undefined): readonly VipService[] {
  if (scope) return scopedVipServices(ids, scope);
  let all = meshVips.get(ids);
  if (!all) meshVips.set(ids, (all = scopedVipServices(ids, undefined)));
  return all;
}

function scopedVipServices(ids: IdentityIndex, scope: ReadonlySet<ServiceName> | undefined): VipService[] {
  const vips = ids.inventory.vips.filter((v) => !scope || scope.has(v.service));
  if (vips.length === 0) return [];
  const byService = new Map<ServiceName, Workload[]>(vips.map((v) => [v.service, []]));
  for (const [svc, list] of byService) list.push(...ids.workloadsOf(svc));
  const out: VipService[] = [];
  for (const v of vips.sort((a, b) => a.service.localeCompare(b.service))) {
    const ws = byService.get(v.service)!;
    const ports = [...new Set(ws.flatMap((w) => w.ports))].sort((a, b) => a - b);
    if (ports.length === 0) continue;
    // a VIP balances over the replicas' addresses of its own family (an IPv4 VIP stays IPv4 end to end)
    const family = v.address.includes(':');
    out.push({
      service: v.service,
      vip: v.address,
      ports,
      // only replicas that take new connections (a Kubernetes pod Ready and not terminating), as kube-proxy does
      addresses: [
        ...new Set(
          ws.filter((w) => w.serving !== false).flatMap((w) => w.addresses.filter((a) => a.includes(':') === family)),
        ),
      ].sort(),
    });
  }
  return out;
}

/** What one sidecar's config is generated from. */
export interface ProxyInput {
  readonly identity: ProxyIdentity;
  /** who is who: the identity index (an inventory is indexed once) */
  readonly inventory: Identities;
  readonly mode: Mode;
  /**
   * The rules: in monitor/enforce the service's policy in force; in learn mode its learned edges (they only shape
   * chains there, nothing is evaluated).
   */
  readonly policy: ServicePolicy;
  /** configure only these services' VIPs (undefined: the whole mesh) */
  readonly scope?: ReadonlySet<ServiceName>;
  /** per server port, the inbound chain generation (see the header); absent = 0 */
  readonly inboundGenerations?: Readonly<Record<number, number>>;
  /** L7 enforcement: the inbound HTTP RBAC checks the ingress rules' method + path templates */
  readonly l7?: boolean;
}

export function emptyPolicy(service: ServiceName): ServicePolicy {
  return { service, ingress: [], egress: [], origin: 'learned', updatedAt: 0 };
}

/** Generates every resource one sidecar needs. Deterministic: the same input gives byte-identical output. */
export function generateProxy(input: ProxyInput, s: GenerateSettings = DEFAULT_SETTINGS): GeneratedResource[] {
  const ids = identities(input.inventory);
  const inv = ids.inventory;
  const services = vipServices(ids, input.scope);
  const compiled = compilePolicy(input.policy, ids);
  const out: GeneratedResource[] = [];
  const b = builderFor(s);

  out.push(b.originalDstCluster(PASSTHROUGH), b.originalDstCluster(INBOUND_PASSTHROUGH), b.blackholeCluster());
  for (const v of services) {
    for (const port of v.ports) {
      const name = serviceClusterName(v.service, port);
      out.push(b.edsCluster(name), b.endpoints(name, v.addresses, port), b.routeTo(name, name));
    }
  }
  const enforce = input.mode === 'enforce';
  const direct = directDestinations(compiled, new Set(inv.vips.map((v) => v.address)));
  // the passthrough HTTP route is used by direct chains, and by the catch-all HTTP chain outside enforce mode
  if (direct.length > 0 || !enforce) out.push(b.routeTo('outbound|passthrough', PASSTHROUGH));
  // the ports the service declares plus those its ingress rules name: a stable set, so rule changes rarely touch it
  const declared = ids.workloadsOf(input.identity.service).flatMap((w) => w.ports);
  const ports = [...new Set([...declared, ...compiled.inbound.map((p) => p.port)])].sort((a, b) => a - b);
  if (ports.length > 0 || !enforce) out.push(b.routeTo('inbound', INBOUND_PASSTHROUGH));
  out.push(
    inboundNetworkRbac(compiled, input.mode, RBAC_INBOUND),
    inboundHttpRbac(compiled, input.mode, RBAC_INBOUND_HTTP, input.l7 === true),
    outboundNetworkRbac(compiled, input.mode, RBAC_OUTBOUND),
    outboundHttpRbac(compiled, input.mode, RBAC_OUTBOUND_HTTP),
  );
  // dual-stack workloads: the capture listeners listen on [::] too
  const ipv6 = ids.workloadsOf(input.identity.service).some((w) => w.addresses.some((a) => a.includes(':')));
  out.push(
    b.outboundListener(services, direct, enforce, ipv6),
    b.inboundListener(ports, input.inboundGenerations ?? {}, enforce, ipv6),
  );
  return out;
}

/** Allowed destinations that are not VIPs (workload addresses, externals): one chain per address and port. */
function directDestinations(compiled: CompiledPolicy, vips: ReadonlySet<string>): { cidr: string; port: number }[] {
  const seen = new Map<string, { cidr: string; port: number }>();
  for (const d of compiled.outbound) {
    // udp and icmp rules are the kernel's: Envoy has no chain for them (an icmp rule has no port at all)
    if (!d.rule.points.includes('sidecar')) continue;
    for (const cidr of d.cidrs) {
      const ip = cidr.split('/')[0]!;
      if (vips.has(ip)) continue;
      seen.set(`${cidr}|${d.port}`, { cidr, port: d.port });
    }
  }
  return [...seen.values()].sort((a, b) => a.port - b.port || (a.cidr < b.cidr ? -1 : a.cidr > b.cidr ? 1 : 0));
}

/** The egress peers' services, for config scoping. */
export function egressServices(policy: ServicePolicy): Set<ServiceName> {
  return new Set(policy.egress.flatMap((r) => (isServicePeer(r.peer) ? [r.peer.service] : [])));
}
