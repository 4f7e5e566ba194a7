// Reading the lab: what state.json lists with each process's liveness, running a command inside a member, and the
// lab as an inventory source for the control plane.
import type { Inventory } from '../model/types.js';
import { labMembers, type LabState, type MemberState, type PodState } from './plan.js';
import type { CaptureModeName } from '../sidecar/cgroup.js';
import { DEFAULT_SOCKMAP } from '../../../ebpf-redirect/src/index.js';
import { readLabState } from './state.js';
import { processAlive, runInherited } from './sys.js';
import type { LabDirOptions } from './lab.js';
import { DEFAULT_POD_USER, formatPodUser, podExecArgv, type PodUser } from './sandbox.js';
import { sandboxInit } from './pods.js';
import { appCommand } from './capture.js';

export interface ProcessStatus {
  readonly pid: number;
  readonly alive: boolean;
}

export interface LabMemberStatus {
  readonly kind: 'pod' | 'external';
  readonly name: string;
  readonly service?: string;
  readonly address: string;
  /** dual-stack lab: the member's IPv6 address */
  readonly address6?: string;
  readonly namespace: string;
  readonly phase: MemberState['phase'];
  readonly envoy?: ProcessStatus;
  /** pods: who the apps run as (`1000:1000`, `root (privileged)`) */
  readonly user?: string;
  /** pods: the capture in force (nftables when eBPF was asked for but is unavailable), and in ebpf mode the fast path */
  readonly capture?: { readonly mode: CaptureModeName; readonly sockmap?: boolean };
  readonly apps: readonly ProcessStatus[];
}

export interface LabListing {
  readonly name: string;
  readonly pods: readonly LabMemberStatus[];
  readonly externals: readonly LabMemberStatus[];
}

function captureOf(p: PodState): NonNullable<LabMemberStatus['capture']> {
  const mode = p.captureActive ?? 'nftables';
  return mode === 'ebpf' ? { mode, sockmap: p.sockmap ?? DEFAULT_SOCKMAP } : { mode };
}

/** What the state lists, with liveness of each recorded process. Empty when there is no lab. */
export async function labList(opts: LabDirOptions): Promise<LabListing> {
  const state = await readLabState(opts.labDir);
  if (state === undefined) return { name: '', pods: [], externals: [] };
  const status = (pid: number): ProcessStatus => ({ pid, alive: processAlive(pid) });
  const member = (m: MemberState): LabMemberStatus => ({
    kind: m.kind,
    name: m.name,
    address: m.address,
    ...(m.address6 !== undefined ? { address6: m.address6 } : {}),
    namespace: m.namespace,
    phase: m.phase,
    ...(m.kind === 'pod' ? { service: m.service, user: formatPodUser(m.user ?? DEFAULT_POD_USER) } : {}),
    ...(m.kind === 'pod' && m.envoyPid !== undefined ? { envoy: status(m.envoyPid) } : {}),
    ...(m.kind === 'pod' && m.captureActive !== undefined ? { capture: captureOf(m) } : {}),
    apps: m.appPids.map(status),
  });
  return { name: state.name, pods: state.pods.map(member), externals: state.externals.map(member) };
}

export interface LabExecOptions {
  /** run as this user instead of the pod's own: `ROOT_POD_USER` for `--user root` */
  readonly user?: PodUser;
}

/**
 * Runs `argv` with inherited stdio inside a pod, like `kubectl exec`: in the pod's network, PID and mount namespaces,
 * as the pod's user (or `opts.user`, where root gets the pod capability set, never more). An external is a host:
 * its commands run as root in its network namespace. Resolves with the exit code.
 */
export async function labExec(
  opts: LabDirOptions,
  pod: string,
  argv: readonly string[],
  exec: LabExecOptions = {},
): Promise<number> {
  const state = await readLabState(opts.labDir);
  const members = state !== undefined ? labMembers(state) : [];
  const m = members.find((x) => x.name === pod);
  if (m === undefined) {
    const known = members.map((x) => x.name);
    throw new Error(`unknown pod "${pod}"; known: ${known.length > 0 ? known.join(', ') : '(no lab is up)'}`);
  }
  if (argv.length === 0) throw new Error('labExec: no command given');
  if (m.kind === 'external') {
    if (exec.user !== undefined && !exec.user.privileged)
      throw new Error(`"${pod}" is an external (a host, not a container): its commands run as root`);
    return runInherited(['ip', 'netns', 'exec', m.namespace, ...argv]);
  }
  const init = m.sandboxPid !== undefined ? sandboxInit(m.sandboxPid) : undefined;
  if (init === undefined) throw new Error(`pod "${pod}" has no running sandbox (phase ${m.phase}): re-run lab up`);
  // in the app cgroup like the pod's apps: the eBPF capture and the bind guard apply to it too
  return runInherited(appCommand(m, podExecArgv(init, exec.user ?? m.user ?? DEFAULT_POD_USER, argv)));
}

/** The lab as an inventory source. */
export function labInventory(state: LabState): Inventory {
  return {
    workloads: state.pods.map((p) => ({
      name: p.name,
      service: p.service,
      addresses: p.address6 !== undefined ? [p.address, p.address6] : [p.address],
      ports: [...p.ports],
      interface: p.hostVeth,
    })),
    // a dual-stack external is one entry per address (the inventory's externals are exact addresses)
    externals: state.externals.flatMap((e) =>
      [e.address, ...(e.address6 !== undefined ? [e.address6] : [])].map((address) => ({
        name: e.name,
        address,
        interface: e.hostVeth,
      })),
    ),
    vips: state.vips.map((v) => ({ service: v.service, address: v.address })),
  };
}
