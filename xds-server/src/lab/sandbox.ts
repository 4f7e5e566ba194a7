// A lab pod's apps run like a container's: a PID and a mount namespace of their own (held by a small "pause"
// process, as a Kubernetes pod's are), a read-only view of the host's files in which the control plane's sockets and
// the lab's state are hidden, a private /tmp, and a user (default 1000:1000) or, for `privileged: true`, uid 0 with a
// container runtime's default capabilities plus NET_ADMIN. Envoy is not in the sandbox: it keeps its xDS socket.
// Pure: this file only builds command lines; lab.ts and list.ts run them.
import { dirname, normalize } from 'node:path';

/** Who a pod's apps run as. */
export interface PodUser {
  readonly uid: number;
  readonly gid: number;
  /** uid 0 with `POD_CAPABILITIES` (only with uid 0) */
  readonly privileged: boolean;
}

export const DEFAULT_POD_USER: PodUser = { uid: 1000, gid: 1000, privileged: false };
export const ROOT_POD_USER: PodUser = { uid: 0, gid: 0, privileged: true };

/**
 * What a privileged pod (and `lab exec --user root`) gets: the default capability set of Docker/containerd
 * (moby's `oci/caps/defaults.go`) plus NET_ADMIN; never SYS_ADMIN, SYS_PTRACE, SYS_MODULE, BPF, ... Both the effective
 * and the bounding set are exactly this, and no_new_privs is set, so nothing executed later can widen them.
 */
export const POD_CAPABILITIES: readonly string[] = [
  'chown',
  'dac_override',
  'fsetid',
  'fowner',
  'mknod',
  'net_raw',
  'setgid',
  'setuid',
  'setfcap',
  'setpcap',
  'net_bind_service',
  'sys_chroot',
  'kill',
  'audit_write',
  'net_admin',
];

/** Capability numbers (linux/capability.h) of `POD_CAPABILITIES`, for reading /proc/PID/status. */
const CAP_NUMBERS: Readonly<Record<string, number>> = {
  chown: 0,
  dac_override: 1,
  fowner: 3,
  fsetid: 4,
  kill: 5,
  setgid: 6,
  setuid: 7,
  setpcap: 8,
  net_bind_service: 10,
  net_admin: 12,
  net_raw: 13,
  sys_chroot: 18,
  mknod: 27,
  audit_write: 29,
  setfcap: 31,
};

/** The capability mask of `POD_CAPABILITIES` as /proc/PID/status prints it (`CapEff:\t00000000a80c35fb`). */
export function podCapabilityMask(): string {
  let mask = 0n;
  for (const c of POD_CAPABILITIES) mask |= 1n << BigInt(CAP_NUMBERS[c]!);
  return mask.toString(16).padStart(16, '0');
}

/** Marks the pause process once the sandbox is set up (its last argument; see `sandboxArgv`). */
export const SANDBOX_READY_ARG = 'nsg-pod-ready';

/** Always hidden in a pod: the control plane's default runtime folder (API socket) and state folder. */
export const ALWAYS_HIDDEN: readonly string[] = ['/run/nanoseg', '/var/lib/nanoseg'];

/**
 * What a pod must not see: every folder holding a control plane socket or lab state. A socket directly in a system
 * folder (`/run/api.sock`, `/tmp/x.sock`) is masked by itself rather than hiding the whole folder. Paths under /tmp
 * are listed too: /tmp is private in every pod, but a folder kept visible there (the project, in a CI clone) may
 * hold them.
 */
export function hiddenPaths(sockets: readonly string[], folders: readonly string[]): string[] {
  const out = new Set<string>(ALWAYS_HIDDEN);
  for (const s of sockets) {
    const dir = dirname(normalize(s));
    out.add(dir.split('/').filter((x) => x !== '').length >= 2 ? dir : normalize(s));
  }
  for (const f of folders) out.add(normalize(f));
  out.delete('/');
  out.delete('/tmp');
  return [...out].sort();
}

/**
 * The working directory an app gets: `wanted` unless it is hidden (or under /tmp, which is private, outside the kept
 * folders), else `/`.
 */
export function podWorkDir(
  wanted: string | undefined,
  hidden: readonly string[],
  keep: readonly string[] = [],
): string {
  if (wanted === undefined) return '/';
  const w = normalize(wanted).replace(/(.)\/+$/, '$1');
  const under = (p: string): boolean => w === p || w.startsWith(`${p}/`);
  return hidden.some(under) || (under('/tmp') && !keep.some(under)) ? '/' : w;
}

// Run as root inside the new mount namespace, before anything of the pod runs. Arguments: the paths to hide, then
// `--keep` and the folders under /tmp that stay visible (the project's own folder when it lives there).
// 1. every mount read-only (keeping its other flags), so that even a privileged app cannot write the host's files;
// 2. a private /tmp, into which each kept folder is bound again (read-only), reached through a descriptor opened
//    before the new /tmp covered it (`--no-canonicalize`: mount would otherwise resolve it to the new, empty path);
// 3. an empty read-only tmpfs over each hidden folder, /dev/null over a hidden file;
// then become the pod's init: reap children, pass TERM on to everything in the pod, wait.
const SETUP = `set -eu
while read -r _ _ _ _ mp opts _; do
  mp=$(printf '%b' "$mp")
  case ",$opts," in *,ro,*) continue ;; esac
  keep=
  for f in nosuid nodev noexec; do case ",$opts," in *,$f,*) keep="$keep,$f" ;; esac; done
  mount -o "remount,bind,ro$keep" "$mp"
done </proc/self/mountinfo
kept=; n=3; after=
for p in "$@"; do
  if [ -n "$after" ] && [ -d "$p" ] && [ "$n" -le 9 ]; then eval "exec $n<\"\$p\""; kept="$kept $n:$p"; n=$((n+1)); fi
  [ "$p" = --keep ] && after=1
done
mount -t tmpfs -o nosuid,nodev,mode=1777,size=64m nsg-tmp /tmp
for k in $kept; do
  fd=\${k%%:*}; p=\${k#*:}
  mkdir -p "$p"; mount --no-canonicalize --bind "/proc/self/fd/$fd" "$p"; mount -o remount,bind,ro "$p"; eval "exec $fd<&-"
done
for p in "$@"; do
  [ "$p" = --keep ] && break
  if [ -d "$p" ]; then mount -t tmpfs -o ro,nosuid,nodev,noexec,size=4k,mode=755 nsg-hidden "$p"
  elif [ -e "$p" ]; then mount --bind /dev/null "$p"; fi
done
exec sh -c 'trap "kill -TERM -1 2>/dev/null; exit 0" TERM INT HUP; while :; do sleep 3600 & wait $!; done' ${SANDBOX_READY_ARG}`;

/**
 * The pause process of a pod: `unshare` makes the PID and mount namespaces (inside the pod's network namespace, where
 * `ip netns exec` already bind-mounted /etc/netns/NS/hosts and resolv.conf), SETUP hides what the pod must not see,
 * and it then waits as PID 1 of the pod. Its pid (of `unshare`) is the pod's sandbox; the pid of its child is what
 * apps and `lab exec` enter (`nsenter --target`).
 */
export function sandboxArgv(namespace: string, hidden: readonly string[], keep: readonly string[] = []): string[] {
  return [
    'ip',
    'netns',
    'exec',
    namespace,
    'unshare',
    '--mount',
    '--propagation',
    'private',
    '--pid',
    '--fork',
    '--kill-child',
    '--mount-proc',
    '--',
    'sh',
    '-c',
    SETUP,
    'nsg-pod-setup',
    ...hidden,
    '--keep',
    ...keep.filter((k) => !/\s/.test(k)),
  ];
}

/** `setpriv` arguments that turn root into `user` (no supplementary groups, bounded capabilities, no_new_privs). */
export function setprivArgv(user: PodUser): string[] {
  const caps = user.privileged ? `-all,${POD_CAPABILITIES.map((c) => `+${c}`).join(',')}` : '-all';
  return [
    'setpriv',
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    `--bounding-set=${caps}`,
    '--no-new-privs',
    '--',
  ];
}

/**
 * The PATH of every command in a pod (a container image's usual one): the caller's may name folders the pod's user
 * cannot search (root's home), where exec fails with EACCES instead of going on. Other variables are inherited.
 */
export const POD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** nsenter into a pod's sandbox (network, PID and mount namespaces of its pause process `initPid`). */
function enter(initPid: number, workDir: string): string[] {
  return ['nsenter', `--target=${initPid}`, '--net', '--pid', '--mount', `--wd=${workDir}`, '--'];
}

/**
 * The command line of one app of a pod: `sh -c CMD` as the pod's user inside the pod's sandbox. The one place a
 * pod's app command is built (a cgroup or other wrapper goes here).
 */
export function podAppArgv(initPid: number, user: PodUser, workDir: string, cmd: string): string[] {
  return [...enter(initPid, workDir), ...setprivArgv(user), 'env', `PATH=${POD_PATH}`, 'sh', '-c', cmd];
}

/** `lab exec` into a pod: `argv` as `user` (the pod's, or `ROOT_POD_USER`) inside the pod's sandbox. */
export function podExecArgv(initPid: number, user: PodUser, argv: readonly string[]): string[] {
  return [...enter(initPid, '/'), ...setprivArgv(user), 'env', `PATH=${POD_PATH}`, ...argv];
}

/** `UID[:GID]` → a user (GID defaults to UID), or an error message. Pure; used by the lab file parser. */
export function parsePodUser(v: unknown): PodUser | string {
  const text = typeof v === 'number' ? String(v) : v;
  if (typeof text !== 'string') return 'must be UID or "UID:GID" (numbers)';
  const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(text.trim());
  if (m === null) return 'must be UID or "UID:GID" (numbers, e.g. "1000:1000")';
  const uid = Number(m[1]);
  const gid = m[2] !== undefined ? Number(m[2]) : uid;
  if (uid < 1 || uid > 65534 || gid < 0 || gid > 65534)
    return uid === 0 ? 'uid 0 is not a user: use "privileged: true" for root' : 'ids must be between 1 and 65534';
  return { uid, gid, privileged: false };
}

export function formatPodUser(u: PodUser): string {
  return u.privileged ? 'root (privileged)' : `${u.uid}:${u.gid}`;
}
