// Kernel state of the lab through `ip` and `nft`: the lab namespace with its bridge, member namespaces, capture,
// hosts files, and tearing namespaces down. Nothing here touches the root network namespace.
import { mkdir, open, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { NAMESPACE_PREFIX } from './plan.js';
import type { LabState, MemberState } from './plan.js';
import { processAlive, run, runOk, sleep } from './sys.js';

const NETNS_ETC = '/etc/netns';
/** locally administered, unicast */
const BRIDGE_MAC = '02:6e:73:67:00:01';

function prefixLength(cidr: string): string {
  return cidr.split('/')[1]!;
}

/** Every named network namespace (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const out = await runOk(['ip', '-j', 'netns', 'list']);
  if (out.trim() === '') return [];
  return (JSON.parse(out) as { name: string }[]).map((n) => n.name);
}

/**
 * Every namespace the lab creates is first marked in `/run/nanoseg/lab/netns/<ns>` (tmpfs, like /run/netns, so
 * marks and namespaces vanish together at reboot). The mark is what lets `labDown` recognise what a crashed run left
 * behind without touching other `nsg-*` namespaces on a shared machine.
 */
export const NAMESPACE_MARKS = '/run/nanoseg/lab/netns';

async function markNamespace(namespace: string): Promise<void> {
  await mkdir(NAMESPACE_MARKS, { recursive: true, mode: 0o755 });
  await writeFile(`${NAMESPACE_MARKS}/${namespace}`, `${process.pid}\n`);
}

/**
 * The marks folder once no namespace is marked, and its parents up to /run while they are empty too (rmdir refuses
 * a folder that is not empty: a control plane's socket or another lab's mark keeps them), so `lab down` leaves
 * nothing of its own under /run/nanoseg.
 */
export async function removeEmptyMarkFolders(): Promise<void> {
  for (let d = NAMESPACE_MARKS; d !== '/run' && d !== '/'; d = dirname(d)) {
    try {
      await rmdir(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return;
    }
  }
}

/** Existing `nsg-*` namespaces; only those the lab marked unless `all`. */
export async function listLabNamespaces(all = false): Promise<string[]> {
  const named = (await listNamespaces()).filter((n) => n.startsWith(NAMESPACE_PREFIX));
  if (all) return named;
  const marks = new Set(await readdir(NAMESPACE_MARKS).catch(() => [] as string[]));
  return named.filter((n) => marks.has(n));
}

/**
 * The lab host namespace: a bridge carrying the gateway address (subnet prefix), forwarding on, no uplink and no
 * default route. Idempotent.
 */
export async function ensureLabNamespace(state: LabState): Promise<void> {
  const ns = state.labNamespace;
  if (!(await listNamespaces()).includes(ns)) {
    await markNamespace(ns);
    await runOk(['ip', 'netns', 'add', ns]);
  }
  await runOk(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  const hasBridge = (await run(['ip', '-n', ns, 'link', 'show', state.bridge])).code === 0;
  // A fixed MAC: by default a bridge takes the lowest MAC of its ports, so it would change as members come and go
  // and every pod's cached neighbour entry for the gateway would go stale.
  if (!hasBridge) {
    await runOk(['ip', '-n', ns, 'link', 'add', state.bridge, 'address', BRIDGE_MAC, 'type', 'bridge']);
    if (state.gateway6 !== undefined) await bridgeIpv6(ns, state.bridge);
  }
  await runOk([
    'ip',
    '-n',
    ns,
    'addr',
    'replace',
    `${state.gateway}/${prefixLength(state.subnet)}`,
    'dev',
    state.bridge,
  ]);
  if (state.subnet6 !== undefined && state.gateway6 !== undefined) {
    await runOk(
      ['ip', '-n', ns, 'addr', 'replace', `${state.gateway6}/${prefixLength(state.subnet6)}`].concat([
        'dev',
        state.bridge,
        'nodad',
      ]),
    );
    await runOk(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
  }
  await runOk(['ip', '-n', ns, 'link', 'set', state.bridge, 'up']);
  // Pod-to-pod traffic is routed back out of the bridge it came from; redirects would only be noise.
  await runOk([
    'ip',
    'netns',
    'exec',
    ns,
    'sysctl',
    '-qw',
    'net.ipv4.ip_forward=1',
    'net.ipv4.conf.all.send_redirects=0',
    `net.ipv4.conf.${state.bridge}.send_redirects=0`,
  ]);
}

/**
 * IPv6 on the bridge of a dual-stack lab, before it goes up: no DAD, no multicast snooping (members send no MLD
 * reports it could learn from). It keeps its link-local address: Linux solicits a neighbour for a forwarded packet
 * only from one. It sends no router advertisements (nothing in the lab runs a router daemon); the redirects it may
 * send for member-to-member traffic are ignored (members do not accept redirects).
 */
async function bridgeIpv6(ns: string, bridge: string): Promise<void> {
  await runOk(['ip', '-n', ns, 'link', 'set', 'dev', bridge, 'type', 'bridge', 'mcast_snooping', '0']);
  await runOk(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${bridge}.accept_dad=0`]);
}

/**
 * A member's eth0 in a dual-stack lab, before it goes up: no link-local address, no DAD (the address is usable at
 * once), no router solicitations, no router advertisements or redirects accepted: its only IPv6 address is
 * `address6`/128 and everything goes via the gateway.
 */
async function memberIpv6Sysctls(namespace: string): Promise<void> {
  await runOk(['ip', '-n', namespace, 'link', 'set', 'dev', 'eth0', 'addrgenmode', 'none']);
  await runOk([
    'ip',
    'netns',
    'exec',
    namespace,
    'sysctl',
    '-qw',
    'net.ipv6.conf.eth0.accept_dad=0',
    'net.ipv6.conf.eth0.accept_ra=0',
    'net.ipv6.conf.eth0.router_solicitations=0',
    'net.ipv6.conf.eth0.accept_redirects=0',
  ]);
}

/**
 * A member namespace: loopback up, `eth0` (the far end of a veth created inside the lab namespace) with the address
 * as /32, an on-link route to the gateway and a default route via it; the lab namespace routes the /32 to the bridge.
 */
export async function createMemberNetwork(state: LabState, m: MemberState): Promise<void> {
  const lab = state.labNamespace;
  await markNamespace(m.namespace);
  await runOk(['ip', 'netns', 'add', m.namespace]);
  await runOk(['ip', '-n', m.namespace, 'link', 'set', 'lo', 'up']);
  await runOk([
    'ip',
    '-n',
    lab,
    'link',
    'add',
    m.hostVeth,
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    m.namespace,
  ]);
  // a bridge port needs no address of its own: no IPv6 on it at all (nothing of its own on the wire)
  if (state.gateway6 !== undefined) {
    await runOk(['ip', 'netns', 'exec', lab, 'sysctl', '-qw', `net.ipv6.conf.${m.hostVeth}.disable_ipv6=1`]);
  }
  await runOk(['ip', '-n', lab, 'link', 'set', m.hostVeth, 'master', state.bridge]);
  await runOk(['ip', '-n', lab, 'link', 'set', m.hostVeth, 'up']);
  await runOk(['ip', '-n', m.namespace, 'addr', 'add', `${m.address}/32`, 'dev', 'eth0']);
  const gw6 = m.address6 !== undefined ? state.gateway6 : undefined;
  if (gw6 !== undefined) {
    await memberIpv6Sysctls(m.namespace);
    await runOk(['ip', '-n', m.namespace, '-6', 'addr', 'add', `${m.address6}/128`, 'dev', 'eth0', 'nodad']);
  } else if (state.gateway6 !== undefined) {
    // an IPv4-only member of a dual-stack lab: no IPv6 on its interface at all
    await runOk(['ip', 'netns', 'exec', m.namespace, 'sysctl', '-qw', 'net.ipv6.conf.eth0.disable_ipv6=1']);
  }
  await runOk(['ip', '-n', m.namespace, 'link', 'set', 'eth0', 'up']);
  await runOk(['ip', '-n', m.namespace, 'route', 'add', state.gateway, 'dev', 'eth0', 'scope', 'link']);
  await runOk(['ip', '-n', m.namespace, 'route', 'add', 'default', 'via', state.gateway, 'dev', 'eth0', 'onlink']);
  await runOk(['ip', '-n', lab, 'route', 'replace', `${m.address}/32`, 'dev', state.bridge]);
  if (gw6 !== undefined) {
    await runOk(['ip', '-n', m.namespace, '-6', 'route', 'add', gw6, 'dev', 'eth0']);
    await runOk(['ip', '-n', m.namespace, '-6', 'route', 'add', 'default', 'via', gw6, 'dev', 'eth0']);
    await runOk(['ip', '-n', lab, '-6', 'route', 'replace', `${m.address6}/128`, 'dev', state.bridge]);
  }
  // Pods' apps run as an unprivileged user: like Docker and containerd, let any uid bind ports below 1024 and send
  // ICMP echo (ping sockets) in the pod's own network namespace (both sysctls are per namespace; the host's stay).
  if (m.kind === 'pod') {
    await runOk(['ip', 'netns', 'exec', m.namespace, 'sysctl', '-qw', 'net.ipv4.ip_unprivileged_port_start=0']);
  }
  // ICMP echo through ping sockets for every member's processes (externals' too): no raw socket needed
  await runOk(['ip', 'netns', 'exec', m.namespace, 'sysctl', '-qw', 'net.ipv4.ping_group_range=0 2147483647']);
}

/**
 * Writes `/etc/netns/<ns>/<name>` (hosts, resolv.conf). A new file is written whole and renamed into place; an
 * existing one is rewritten in place, because `ip netns exec` bind-mounted that very file into the pod's running
 * sandbox, which a rename would leave on the old copy.
 */
export async function writeNetnsFile(namespace: string, name: 'hosts' | 'resolv.conf', text: string): Promise<void> {
  const dir = `${NETNS_ETC}/${namespace}`;
  const path = `${dir}/${name}`;
  try {
    const fh = await open(path, 'r+');
    try {
      await fh.write(text, 0);
      await fh.truncate(Buffer.byteLength(text));
    } finally {
      await fh.close();
    }
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = `${dir}/.${name}.${process.pid}`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, path);
}

/** Writes `/etc/netns/<ns>/hosts`. */
export function writeHosts(namespace: string, text: string): Promise<void> {
  return writeNetnsFile(namespace, 'hosts', text);
}

/** Pids of the processes whose network namespace is `namespace`. */
export async function namespacePids(namespace: string): Promise<number[]> {
  const r = await run(['ip', 'netns', 'pids', namespace]);
  if (r.code !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter((s) => s !== '')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

async function waitGone(namespace: string, ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = (await namespacePids(namespace)).filter(processAlive);
    if (left.length === 0 || Date.now() >= deadline) return left;
    await sleep(100);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** SIGTERM every process in the namespace, SIGKILL what is left after `graceMs`. Returns how many there were. */
export async function killNamespaceProcesses(namespace: string, graceMs = 2000): Promise<number> {
  const pids = await namespacePids(namespace);
  if (pids.length === 0) return 0;
  for (const pid of pids) signal(pid, 'SIGTERM');
  const left = await waitGone(namespace, graceMs);
  for (const pid of left) signal(pid, 'SIGKILL');
  const stubborn = await waitGone(namespace, 2000);
  if (stubborn.length > 0) throw new Error(`processes ${stubborn.join(', ')} in ${namespace} survived SIGKILL`);
  return pids.length;
}

/** Kills everything in the namespace, deletes it and its /etc/netns folder. Idempotent. */
export async function deleteNamespace(namespace: string): Promise<number> {
  if (!namespace.startsWith(NAMESPACE_PREFIX)) throw new Error(`refusing to delete namespace ${namespace}`);
  let killed = 0;
  if ((await listNamespaces()).includes(namespace)) {
    killed = await killNamespaceProcesses(namespace);
    await runOk(['ip', 'netns', 'del', namespace]);
  }
  await rm(`${NETNS_ETC}/${namespace}`, { recursive: true, force: true });
  await rm(`${NAMESPACE_MARKS}/${namespace}`, { force: true });
  return killed;
}

/** Removes a member: its namespace (taking the veth along) and its /32 route in the lab namespace. */
export async function deleteMember(state: LabState, m: MemberState): Promise<number> {
  const killed = await deleteNamespace(m.namespace);
  if ((await listNamespaces()).includes(state.labNamespace)) {
    await run(['ip', '-n', state.labNamespace, 'route', 'del', `${m.address}/32`, 'dev', state.bridge]);
    if (m.address6 !== undefined)
      await run(['ip', '-n', state.labNamespace, '-6', 'route', 'del', `${m.address6}/128`, 'dev', state.bridge]);
  }
  return killed;
}
