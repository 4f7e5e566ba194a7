// The capture of one pod behind one interface: `nftables` (REDIRECT rules in the pod, sidecar excluded by its
// cgroup) or `ebpf` (the ebpf-redirect programs for outbound; nftables keeps inbound, see docs/capture.md). Both
// install the bind guard on the app cgroup. Kernel state only: the per-pod cgroups, pins on our bpffs, nft tables.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureRuleset } from '../../xds-server/src/sidecar/capture.js';
import { BPFFS_MOUNT, CGROUP2_MOUNT, CGROUP_ROOT, podCgroups, podPinDir } from '../../xds-server/src/sidecar/cgroup.js';
import type { CaptureModeName } from '../../xds-server/src/sidecar/cgroup.js';
import { run, runOk, sleep } from '../../xds-server/src/lab/sys.js';

/** Whether the sk_msg fast path is on by default in ebpf mode (docs/capture.md has the figures). */
export const DEFAULT_SOCKMAP = false;

export interface CapturePod {
  /** the pod's network namespace; also names its cgroups and pin folder */
  readonly namespace: string;
  readonly address: string;
  /** the pod's IPv6 address (dual-stack): native IPv6 is redirected to the sidecar at it; absent: not redirected */
  readonly address6?: string;
}

export interface CaptureMode {
  readonly name: CaptureModeName;
  /** idempotent: installs or atomically replaces the pod's capture (the pod's cgroups must exist) */
  install(pod: CapturePod): Promise<void>;
  /** idempotent */
  remove(pod: CapturePod): Promise<void>;
}

export interface CaptureRoots {
  /** cgroup2 mount (default /sys/fs/cgroup/unified) */
  readonly cgroup2?: string;
  /** our folder below it (default nanoseg; tests use their own) */
  readonly cgroupRoot?: string;
  /** our bpffs (default /run/nanoseg/bpffs) */
  readonly bpffs?: string;
}

function roots(r: CaptureRoots = {}): Required<CaptureRoots> {
  return {
    cgroup2: r.cgroup2 ?? CGROUP2_MOUNT,
    cgroupRoot: r.cgroupRoot ?? CGROUP_ROOT,
    bpffs: r.bpffs ?? BPFFS_MOUNT,
  };
}

function findBuildDir(): string {
  if (process.env['NANOSEG_EBPF_BUILD'] !== undefined) return process.env['NANOSEG_EBPF_BUILD'];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'ebpf-redirect', 'Makefile'))) return join(dir, 'ebpf-redirect', 'build');
    dir = dirname(dir);
  }
  return join(process.cwd(), 'ebpf-redirect', 'build');
}

/** ebpf-redirect/build: the compiled objects and the nsg-bpf loader (scripts/setup.sh builds them). */
export const EBPF_BUILD_DIR = findBuildDir();
const LOADER = join(EBPF_BUILD_DIR, 'nsg-bpf');

/** Absolute cgroup folders of a pod. */
export function podCgroupDirs(namespace: string, r?: CaptureRoots): { pod: string; app: string; sidecar: string } {
  const { cgroup2, cgroupRoot } = roots(r);
  const cg = podCgroups(namespace, cgroupRoot);
  return { pod: join(cgroup2, cg.pod), app: join(cgroup2, cg.app), sidecar: join(cgroup2, cg.sidecar) };
}

/** argv that runs `argv` inside the cgroup folder `dir` (it joins first, then execs: every socket is made there). */
export function inCgroup(dir: string, argv: readonly string[]): string[] {
  return ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, ...argv];
}

async function mountedAt(path: string, fstype: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((l) => {
    const f = l.split(' ');
    return f[1] === path && f[2] === fstype;
  });
}

/** What this machine lacks for the eBPF capture, in one sentence; undefined when nothing is missing. */
export async function ebpfMissing(r?: CaptureRoots): Promise<string | undefined> {
  const { cgroup2 } = roots(r);
  const missing: string[] = [];
  if (!existsSync('/sys/kernel/btf/vmlinux')) missing.push('kernel BTF (/sys/kernel/btf/vmlinux)');
  if (!(await mountedAt(cgroup2, 'cgroup2'))) missing.push(`a cgroup2 mount at ${cgroup2}`);
  if (!existsSync(LOADER)) missing.push(`the built programs (${EBPF_BUILD_DIR}: run scripts/setup.sh)`);
  else {
    const p = await run([LOADER, 'probe']);
    if (p.code !== 0)
      missing.push(
        ...p.stderr
          .trim()
          .split('\n')
          .map((l) => l.replace(/^missing: /, '')),
      );
  }
  return missing.length > 0 ? `eBPF capture unavailable, missing: ${missing.join('; ')}` : undefined;
}

/** Mounts our bpffs when it is not mounted yet. */
export async function ensureBpffs(r?: CaptureRoots): Promise<void> {
  const { bpffs } = roots(r);
  await mkdir(bpffs, { recursive: true, mode: 0o700 });
  if (!(await mountedAt(bpffs, 'bpf'))) await runOk(['mount', '-t', 'bpf', '-o', 'mode=0700', 'bpf', bpffs]);
}

/** Creates the pod's cgroups (idempotent). */
export async function ensurePodCgroups(namespace: string, r?: CaptureRoots): Promise<void> {
  const d = podCgroupDirs(namespace, r);
  await mkdir(d.app, { recursive: true });
  await mkdir(d.sidecar, { recursive: true });
}

/** Unpins the pod's programs and maps and removes its cgroups (after its processes are gone). Idempotent. */
export async function removePodKernelState(namespace: string, r?: CaptureRoots): Promise<void> {
  const { bpffs } = roots(r);
  await rm(podPinDir(namespace, bpffs), { recursive: true, force: true });
  const d = podCgroupDirs(namespace, r);
  for (const dir of [d.app, d.sidecar, d.pod]) {
    for (let i = 0; ; i++) {
      try {
        await rmdir(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || i >= 20) throw new Error(`cannot remove cgroup ${dir}: ${code}`);
        await sleep(100); // a killed process leaves its cgroup a moment later
      }
    }
  }
}

/** Per-pod kernel state left behind by a crash: namespaces under our cgroup root or bpffs matching `prefix`. */
export async function leftoverPods(prefix: string, r?: CaptureRoots): Promise<string[]> {
  const { cgroup2, cgroupRoot, bpffs } = roots(r);
  const names = [
    ...(await readdir(join(cgroup2, cgroupRoot)).catch(() => [] as string[])),
    ...(await readdir(bpffs).catch(() => [] as string[])),
  ];
  return [...new Set(names.filter((n) => n.startsWith(prefix)))];
}

/**
 * Releases what all pods share once none is left: our cgroup folder and our bpffs (unmounted, its folder removed).
 * Leaves both alone while any pod's cgroup or pin folder remains. Idempotent.
 */
export async function releaseSharedKernelState(r?: CaptureRoots): Promise<void> {
  const { cgroup2, cgroupRoot, bpffs } = roots(r);
  const cgroupDir = join(cgroup2, cgroupRoot);
  const pods = await readdir(cgroupDir, { withFileTypes: true }).catch(() => []);
  if (pods.some((e) => e.isDirectory())) return;
  if (await mountedAt(bpffs, 'bpf')) {
    // pods pin in folders of their own; the kernel's preloaded iterators (maps.debug, progs.debug) are files
    if ((await readdir(bpffs, { withFileTypes: true })).some((e) => e.isDirectory())) return;
    await runOk(['umount', bpffs]);
  }
  await rmdir(bpffs).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
  await rmdir(cgroupDir).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
}

async function applyNft(namespace: string, ruleset: string): Promise<void> {
  // nft resolves `socket cgroupv2` paths below /sys/fs/cgroup; inside `ip netns exec` that is a fresh sysfs, so
  // mount cgroup2 there in a private mount namespace just for this nft run.
  const script = 'mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec nft -f -';
  await runOk(['ip', 'netns', 'exec', namespace, 'unshare', '-m', 'sh', '-c', script], { input: ruleset });
}

async function attachPrograms(pod: CapturePod, mode: 'ebpf' | 'guard', sockmap: boolean, r?: CaptureRoots) {
  await ensureBpffs(r);
  const d = podCgroupDirs(pod.namespace, r);
  const argv = [LOADER, 'attach', '--objdir', EBPF_BUILD_DIR, '--pin', podPinDir(pod.namespace, roots(r).bpffs)];
  argv.push('--mode', mode, '--app-cgroup', d.app, '--sidecar-cgroup', d.sidecar, '--pod-cgroup', d.pod);
  argv.push('--pod-ip4', pod.address, ...(pod.address6 !== undefined ? ['--pod-ip6', pod.address6] : []));
  if (sockmap) argv.push('--sockmap');
  const res = await run(argv);
  if (res.code !== 0) throw new Error(`ebpf-redirect (${mode}) for ${pod.namespace}: ${res.stderr.trim()}`);
}

export interface CaptureModeOptions extends CaptureRoots {
  /** ebpf: the sk_msg fast path (default DEFAULT_SOCKMAP) */
  readonly sockmap?: boolean;
  /** nftables: install the bind guard too (default true; false only where eBPF is unavailable) */
  readonly bindGuard?: boolean;
}

function nftRuleset(namespace: string, outbound: boolean, r?: CaptureRoots): string {
  const cg = podCgroups(namespace, roots(r).cgroupRoot);
  return captureRuleset({ sidecarCgroup: { path: cg.sidecar, level: cg.sidecarLevel }, outbound });
}

export function nftablesCapture(opts: CaptureModeOptions = {}): CaptureMode {
  return {
    name: 'nftables',
    async install(pod) {
      await applyNft(pod.namespace, nftRuleset(pod.namespace, true, opts));
      if (opts.bindGuard ?? true) await attachPrograms(pod, 'guard', false, opts);
    },
    async remove(pod) {
      await run(['ip', 'netns', 'exec', pod.namespace, 'nft', 'delete', 'table', 'inet', 'nanoseg']);
      await rm(podPinDir(pod.namespace, roots(opts).bpffs), { recursive: true, force: true });
    },
  };
}

export function ebpfCapture(opts: CaptureModeOptions = {}): CaptureMode {
  return {
    name: 'ebpf',
    async install(pod) {
      // programs first: from here on the app's outbound goes to the sidecar; then the ruleset without its output
      // chain (one nft transaction replaces a previous nftables capture).
      await attachPrograms(pod, 'ebpf', opts.sockmap ?? DEFAULT_SOCKMAP, opts);
      await applyNft(pod.namespace, nftRuleset(pod.namespace, false, opts));
    },
    async remove(pod) {
      await run(['ip', 'netns', 'exec', pod.namespace, 'nft', 'delete', 'table', 'inet', 'nanoseg']);
      await rm(podPinDir(pod.namespace, roots(opts).bpffs), { recursive: true, force: true });
    },
  };
}
