// The lab planner: (spec, previous state) → desired state + what to add, remove and recreate. Pure.
import { createHash } from 'node:crypto';
import { DNS_MEMBER, type LabSpec } from './spec.js';
import { ALWAYS_HIDDEN, DEFAULT_POD_USER, type PodUser } from './sandbox.js';
import { dnsmasqCommand } from './dns.js';
import { DEFAULT_CAPTURE, type CaptureModeName } from '../sidecar/cgroup.js';
import { cidrContains, formatCidr, intToIp, ipToInt, labAddressPlan, parseCidr } from './ipv4.js';
import { assignAddresses6, bigToIp6, formatCidr6, gateway6, parseCidr6 } from './ipv6.js';

export const LAB_NAMESPACE = 'nsg-lab';
export const LAB_BRIDGE = 'nsg-br0';
export const NAMESPACE_PREFIX = 'nsg-';
/** Linux interface names (and, by our convention, namespace names) are at most 15 characters. */
export const MAX_IFNAME = 15;
export const STATE_VERSION = 1;

/**
 * How far a member got while being created. A crash leaves the phase reached in state.json, so `labDown` (and the
 * next `labUp`, which recreates anything not `running`) knows what exists.
 */
export type MemberPhase = 'planned' | 'network' | 'capture' | 'envoy' | 'sandbox' | 'running';

interface MemberBase {
  readonly name: string;
  readonly address: string;
  /** the member's IPv6 address (dual-stack lab), canonical text */
  readonly address6?: string;
  /** network namespace (`nsg-…`, at most 15 characters) */
  readonly namespace: string;
  /** the bridge-side veth, inside the lab namespace; the other end is `eth0` in `namespace` */
  readonly hostVeth: string;
  readonly run: readonly string[];
  readonly phase: MemberPhase;
  readonly appPids: readonly number[];
}

export interface PodState extends MemberBase {
  readonly kind: 'pod';
  readonly service: string;
  readonly ports: readonly number[];
  /** whether the nftables capture table is installed */
  readonly capture: boolean;
  /** how capture is done (absent in state files from before capture modes: nftables) */
  readonly captureMode?: CaptureModeName;
  /** the capture mode in force (nftables when eBPF was asked for but is unavailable) */
  readonly captureActive?: CaptureModeName;
  /** ebpf capture: the sk_msg fast path as the lab file asks (absent: the lab's default, DEFAULT_SOCKMAP) */
  readonly sockmap?: boolean;
  readonly envoyPid?: number;
  /** who the apps run as (and `lab exec` without `--user`) */
  readonly user: PodUser;
  /** the pod's pause process (`unshare`, in the host's PID namespace): its child holds the PID and mount namespaces */
  readonly sandboxPid?: number;
}

export interface ExternalState extends MemberBase {
  readonly kind: 'external';
}

export type MemberState = PodState | ExternalState;

export interface LabVip {
  readonly service: string;
  readonly address: string;
}

/** Contents of `<labDir>/state.json`. */
export interface LabState {
  readonly version: typeof STATE_VERSION;
  readonly name: string;
  readonly subnet: string;
  /** gateway address on the bridge in the lab namespace; pods route everything via it */
  readonly gateway: string;
  /** dual-stack: the pods' IPv6 subnet and the bridge's IPv6 gateway address in it (network+1) */
  readonly subnet6?: string;
  readonly gateway6?: string;
  /** the block service VIPs come from (last /24 of the subnet) */
  readonly vipBlock: string;
  readonly labNamespace: string;
  readonly bridge: string;
  readonly xdsSocket: string;
  readonly pods: readonly PodState[];
  readonly externals: readonly ExternalState[];
  readonly vips: readonly LabVip[];
  /** what pods' apps cannot see: folders (or files) hidden in every pod's mount namespace */
  readonly hidden: readonly string[];
  /** the lab's resolver (`dns: true`): pods' resolv.conf points here, and their hosts file has no lab names */
  readonly dnsAddress?: string;
  /** ISO time of the last write */
  readonly updatedAt: string;
}

export interface PlanOptions {
  readonly xdsSocket: string;
  /** install the nftables capture in pod namespaces (default true) */
  readonly capture?: boolean;
  /** hidden in pods (see `hiddenPaths`; default `ALWAYS_HIDDEN`) */
  readonly hidden?: readonly string[];
  /** ISO timestamp to stamp the desired state with (injected for determinism) */
  readonly now?: string;
}

export interface LabPlan {
  readonly desired: LabState;
  /** member names, in spec order */
  readonly add: readonly string[];
  readonly remove: readonly string[];
  readonly recreate: readonly string[];
  readonly keep: readonly string[];
  /** why each member in `recreate` must be recreated */
  readonly reasons: Readonly<Record<string, string>>;
  /** the lab namespace itself must be rebuilt (subnet changed): tear everything down first */
  readonly resetLab: boolean;
}

function shortHash(s: string, len: number): string {
  return createHash('sha256').update(s).digest('hex').slice(0, len);
}

/** `nsg-<name>` when it fits in 15 characters, else `nsg-<first 5>-<5 hex of sha256>` (salted on collision). */
export function namespaceName(member: string, salt = 0): string {
  const plain = `${NAMESPACE_PREFIX}${member}`;
  if (salt === 0 && plain.length <= MAX_IFNAME) return plain;
  const head = member.slice(0, 5);
  return `${NAMESPACE_PREFIX}${head}-${shortHash(salt === 0 ? member : `${member}#${salt}`, 5)}`;
}

/** Bridge-side veth for a member namespace: `vh-` + the namespace name without `nsg-` (≤ 14 characters). */
export function hostVethName(namespace: string): string {
  return `vh-${namespace.slice(NAMESPACE_PREFIX.length)}`;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The pod's sk_msg fast path as the lab file asks: the pod's `sockmap`, else the lab's (ebpf pods only). */
function sockmapOf(p: LabSpec['pods'][number], spec: LabSpec): boolean | undefined {
  return (p.capture ?? spec.capture ?? DEFAULT_CAPTURE) === 'ebpf' ? (p.sockmap ?? spec.sockmap) : undefined;
}

/** Why `prev` cannot be kept as `next`, or undefined when it can (ports only affect VIPs and hosts files). */
function recreateReason(
  prev: MemberState,
  next: MemberState,
  prevLab: LabState,
  nextLab: LabState,
): string | undefined {
  if (prev.kind !== next.kind) return `changed from ${prev.kind} to ${next.kind}`;
  if (prev.address !== next.address) return `address ${prev.address} → ${next.address}`;
  if (prev.address6 !== next.address6) return `address6 ${prev.address6 ?? '(none)'} → ${next.address6 ?? '(none)'}`;
  if (!sameList(prev.run, next.run)) return 'run changed';
  if (prev.phase !== 'running') return `previous apply stopped at phase "${prev.phase}"`;
  if (prev.kind === 'pod' && next.kind === 'pod') {
    if (prev.service !== next.service) return `service ${prev.service} → ${next.service}`;
    if (prev.capture !== next.capture) return `capture ${prev.capture ? 'on' : 'off'} → ${next.capture ? 'on' : 'off'}`;
    const [pu, nu] = [prev.user ?? DEFAULT_POD_USER, next.user];
    if (pu.uid !== nu.uid || pu.gid !== nu.gid || pu.privileged !== nu.privileged) return 'user changed';
    if (!sameList(prevLab.hidden ?? [], nextLab.hidden)) return 'hidden paths changed';
    if (prevLab.dnsAddress !== nextLab.dnsAddress) return 'lab resolver changed';
    const [pm, nm] = [prev.captureMode ?? 'nftables', next.captureMode ?? 'nftables'];
    if (pm !== nm) return `capture ${pm} → ${nm}`;
    if (prev.sockmap !== next.sockmap) return `sockmap ${prev.sockmap ?? 'default'} → ${next.sockmap ?? 'default'}`;
    if (prevLab.xdsSocket !== nextLab.xdsSocket) return 'xDS socket changed';
    if (prevLab.name !== nextLab.name) return 'lab name changed';
  }
  return undefined;
}

/**
 * Plans the lab. Addresses: explicit ones as written; otherwise a member keeps its previous address when it is still
 * free and valid, else gets the lowest free one after the gateway. VIPs: one per service whose pods declare ports,
 * kept across applies, from the last /24 of the subnet. `spec` must be valid (see `validateLabSpec`).
 */
export function planLab(spec: LabSpec, previous: LabState | undefined, opts: PlanOptions): LabPlan {
  const subnet = parseCidr(spec.subnet);
  if (subnet === undefined) throw new Error(`planLab: invalid subnet ${spec.subnet}`);
  const addr = labAddressPlan(subnet);
  const subnet6 = spec.subnet6 !== undefined ? parseCidr6(spec.subnet6) : undefined;
  if (spec.subnet6 !== undefined && subnet6 === undefined) throw new Error(`planLab: invalid subnet6 ${spec.subnet6}`);
  // the bridge's networks change with either subnet: rebuild the lab
  const resetLab = previous !== undefined && (previous.subnet !== spec.subnet || previous.subnet6 !== spec.subnet6);
  const prev = resetLab ? undefined : previous;
  const prevMembers = new Map<string, MemberState>();
  for (const m of [...(prev?.pods ?? []), ...(prev?.externals ?? [])]) prevMembers.set(m.name, m);

  // Addresses.
  const taken = new Set<number>();
  for (const p of spec.pods) if (p.address !== undefined) taken.add(ipToInt(p.address));
  for (const e of spec.externals) taken.add(ipToInt(e.address));
  const podAddress = new Map<string, string>();
  const usable = (n: number): boolean =>
    cidrContains(subnet, n) && n > addr.gateway && !cidrContains(addr.vipBlock, n) && !taken.has(n);
  for (const p of spec.pods) {
    if (p.address !== undefined) podAddress.set(p.name, p.address);
    else {
      const old = prevMembers.get(p.name);
      if (old?.kind === 'pod' && usable(ipToInt(old.address))) {
        podAddress.set(p.name, old.address);
        taken.add(ipToInt(old.address));
      }
    }
  }
  // The resolver is addressed like a pod without an address, after the pods (so it never shifts theirs).
  const dnsMember = spec.dns === true ? [{ name: DNS_MEMBER }] : [];
  for (const d of dnsMember) {
    const old = prevMembers.get(d.name);
    if (old?.kind === 'external' && usable(ipToInt(old.address))) {
      podAddress.set(d.name, old.address);
      taken.add(ipToInt(old.address));
    }
  }
  let cursor = addr.gateway + 1;
  for (const p of [...spec.pods, ...dnsMember]) {
    if (podAddress.has(p.name)) continue;
    while (!usable(cursor)) {
      cursor++;
      if (cursor >= addr.vipBlock.network) throw new Error(`planLab: no free address left in ${spec.subnet}`);
    }
    podAddress.set(p.name, intToIp(cursor));
    taken.add(cursor);
  }

  // IPv6 (dual-stack lab): pods and the resolver are addressed like IPv4's, externals only as written
  const prev6 = (name: string) => prevMembers.get(name)?.address6;
  const address6Of =
    subnet6 === undefined
      ? new Map<string, string>()
      : assignAddresses6(subnet6, [
          ...spec.pods.map((p) => ({ name: p.name, explicit: p.address6, auto: true, previous: prev6(p.name) })),
          ...spec.externals.map((e) => ({ name: e.name, explicit: e.address6, auto: false })),
          ...dnsMember.map((d) => ({ name: d.name, auto: true, previous: prev6(d.name) })),
        ]);

  // Namespaces: keep the previous name of a member; otherwise derive it, salting on collision.
  const usedNs = new Set<string>([LAB_NAMESPACE]);
  const nsOf = new Map<string, string>();
  const allNames = [
    ...spec.pods.map((p) => p.name),
    ...spec.externals.map((e) => e.name),
    ...dnsMember.map((d) => d.name),
  ];
  for (const n of allNames) {
    const old = prevMembers.get(n)?.namespace;
    if (old !== undefined && !usedNs.has(old)) {
      nsOf.set(n, old);
      usedNs.add(old);
    }
  }
  for (const n of allNames) {
    if (nsOf.has(n)) continue;
    let salt = 0;
    let ns = namespaceName(n, salt);
    while (usedNs.has(ns)) ns = namespaceName(n, ++salt);
    nsOf.set(n, ns);
    usedNs.add(ns);
  }

  // VIPs.
  const vipServices: string[] = [];
  for (const p of spec.pods) if (p.ports.length > 0 && !vipServices.includes(p.service)) vipServices.push(p.service);
  const vipTaken = new Set<number>();
  const vipOf = new Map<string, string>();
  const vipUsable = (n: number): boolean =>
    cidrContains(addr.vipBlock, n) &&
    n !== addr.vipBlock.network &&
    n !== addr.vipBlock.network + 255 &&
    !vipTaken.has(n);
  for (const v of prev?.vips ?? []) {
    if (vipServices.includes(v.service) && vipUsable(ipToInt(v.address))) {
      vipOf.set(v.service, v.address);
      vipTaken.add(ipToInt(v.address));
    }
  }
  let vipCursor = addr.vipBlock.network + 1;
  for (const s of vipServices) {
    if (vipOf.has(s)) continue;
    while (!vipUsable(vipCursor)) {
      vipCursor++;
      if (vipCursor >= addr.vipBlock.network + 255) throw new Error('planLab: no free service VIP left');
    }
    vipOf.set(s, intToIp(vipCursor));
    vipTaken.add(vipCursor);
  }

  const capture = opts.capture ?? true;
  const freshPods: PodState[] = spec.pods.map((p) => {
    const namespace = nsOf.get(p.name)!;
    const sockmap = sockmapOf(p, spec);
    return {
      kind: 'pod',
      name: p.name,
      service: p.service,
      address: podAddress.get(p.name)!,
      ...withAddress6(address6Of.get(p.name)),
      ports: [...p.ports],
      run: [...p.run],
      namespace,
      hostVeth: hostVethName(namespace),
      capture,
      user: p.user ?? DEFAULT_POD_USER,
      captureMode: p.capture ?? spec.capture ?? DEFAULT_CAPTURE,
      ...(sockmap !== undefined && { sockmap }),
      phase: 'planned',
      appPids: [],
    };
  });
  const freshExternals: ExternalState[] = spec.externals.map((e) => {
    const namespace = nsOf.get(e.name)!;
    return {
      kind: 'external',
      name: e.name,
      address: e.address,
      ...withAddress6(e.address6),
      run: [...e.run],
      namespace,
      hostVeth: hostVethName(namespace),
      phase: 'planned',
      appPids: [],
    };
  });
  for (const d of dnsMember) {
    const namespace = nsOf.get(d.name)!;
    const address = podAddress.get(d.name)!;
    freshExternals.push({
      kind: 'external',
      name: d.name,
      address,
      ...withAddress6(address6Of.get(d.name)),
      run: [dnsmasqCommand(namespace, address)],
      namespace,
      hostVeth: hostVethName(namespace),
      phase: 'planned',
      appPids: [],
    });
  }

  const base: Omit<LabState, 'pods' | 'externals'> = {
    version: STATE_VERSION,
    name: spec.name,
    subnet: formatCidr(subnet),
    gateway: intToIp(addr.gateway),
    ...(subnet6 !== undefined ? { subnet6: formatCidr6(subnet6), gateway6: bigToIp6(gateway6(subnet6)) } : {}),
    vipBlock: formatCidr(addr.vipBlock),
    labNamespace: LAB_NAMESPACE,
    bridge: LAB_BRIDGE,
    xdsSocket: opts.xdsSocket,
    vips: vipServices.map((service) => ({ service, address: vipOf.get(service)! })),
    hidden: [...(opts.hidden ?? ALWAYS_HIDDEN)],
    ...(dnsMember.length > 0 ? { dnsAddress: podAddress.get(DNS_MEMBER)! } : {}),
    updatedAt: opts.now ?? new Date().toISOString(),
  };
  const draft: LabState = { ...base, pods: freshPods, externals: freshExternals };

  const add: string[] = [];
  const recreate: string[] = [];
  const keep: string[] = [];
  const reasons: Record<string, string> = {};
  // A kept member carries its runtime fields (phase, pids) over; ports may change in place.
  const settle = <M extends MemberState>(m: M): M => {
    const old = prevMembers.get(m.name);
    if (old === undefined || prev === undefined) {
      add.push(m.name);
      return m;
    }
    const why = recreateReason(old, m, prev, draft);
    if (why !== undefined) {
      recreate.push(m.name);
      reasons[m.name] = why;
      return m;
    }
    keep.push(m.name);
    return {
      ...old,
      ...m,
      phase: old.phase,
      appPids: old.appPids,
      ...(old.kind === 'pod' && old.envoyPid !== undefined ? { envoyPid: old.envoyPid } : {}),
      ...(old.kind === 'pod' && old.sandboxPid !== undefined ? { sandboxPid: old.sandboxPid } : {}),
    };
  };
  const pods = freshPods.map(settle);
  const externals = freshExternals.map(settle);
  const wanted = new Set(allNames);
  const remove = [...prevMembers.keys()].filter((n) => !wanted.has(n));
  // Everything of a reset lab goes: the previous members are removed and the new ones added.
  const removeAll = resetLab ? [...(previous?.pods ?? []), ...(previous?.externals ?? [])].map((m) => m.name) : remove;
  return { desired: { ...base, pods, externals }, add, remove: removeAll, recreate, keep, reasons, resetLab };
}

function withAddress6(a: string | undefined): { address6?: string } {
  return a !== undefined ? { address6: a } : {};
}

/** All members of a state, pods first. */
export function labMembers(state: LabState): MemberState[] {
  return [...state.pods, ...state.externals];
}
