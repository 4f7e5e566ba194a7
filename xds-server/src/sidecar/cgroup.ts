// Where a pod's processes live in the cgroup2 hierarchy and where its eBPF pins live on bpffs. Pure.
//
//   <cgroup2 mount>/nanoseg/<pod namespace>/          the pod: sockops is attached here (sees app and sidecar)
//                                           app/      the pod's apps: connect, getpeername, bind guard
//                                           sidecar/  Envoy: getsockopt; excluded from capture by this cgroup
//   <bpffs>/<pod namespace>/                          maps and links of the pod (see ebpf-redirect/)
// The sidecar is told apart by its cgroup, which an unprivileged app cannot join (cgroup.procs is root's), never by
// uid or socket mark.

/** `nftables`: REDIRECT rules in the pod; `ebpf`: the ebpf-redirect programs on the pod's cgroups. */
export type CaptureModeName = 'nftables' | 'ebpf';
export const CAPTURE_MODES: readonly CaptureModeName[] = ['nftables', 'ebpf'];
/** the default capture (docs/capture.md has the figures behind it) */
export const DEFAULT_CAPTURE: CaptureModeName = 'nftables';

export const CGROUP2_MOUNT = '/sys/fs/cgroup/unified';
export const CGROUP_ROOT = 'nanoseg';
export const BPFFS_MOUNT = '/run/nanoseg/bpffs';

export interface PodCgroups {
  /** paths relative to the cgroup2 mount, as `socket cgroupv2` takes them */
  readonly pod: string;
  readonly app: string;
  readonly sidecar: string;
  /** the sidecar cgroup's level below the cgroup2 root (`socket cgroupv2 level N`) */
  readonly sidecarLevel: number;
}

/** The cgroups of the pod whose network namespace is `namespace` (under `root`, default `nanoseg`). */
export function podCgroups(namespace: string, root: string = CGROUP_ROOT): PodCgroups {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(namespace)) throw new Error(`not a cgroup name: ${namespace}`);
  const pod = `${root}/${namespace}`;
  return { pod, app: `${pod}/app`, sidecar: `${pod}/sidecar`, sidecarLevel: pod.split('/').length + 1 };
}

/** The pod's folder on bpffs. */
export function podPinDir(namespace: string, bpffs: string = BPFFS_MOUNT): string {
  return `${bpffs}/${namespace}`;
}
