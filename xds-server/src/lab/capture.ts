// The lab's side of capture: picks the pod's capture mode (falling back to nftables, loudly, when the kernel lacks
// what eBPF capture needs) and keeps per-pod kernel state (cgroups, pins) in step with the pod's life.
import {
  ebpfCapture,
  ebpfMissing,
  ensurePodCgroups,
  inCgroup,
  leftoverPods,
  nftablesCapture,
  podCgroupDirs,
  releaseSharedKernelState,
  removePodKernelState,
} from '../../../ebpf-redirect/src/index.js';
import type { CaptureModeName } from '../sidecar/cgroup.js';
import { NAMESPACE_PREFIX } from './plan.js';
import type { PodState } from './plan.js';
import type { Logger } from '../util/logger.js';

let missingOnce: Promise<string | undefined> | undefined;

/** Installs the pod's capture; returns the mode actually in force. */
export async function installPodCapture(pod: PodState, logger: Logger, sockmap?: boolean): Promise<CaptureModeName> {
  await ensurePodCgroups(pod.namespace);
  const target = {
    namespace: pod.namespace,
    address: pod.address,
    ...(pod.address6 !== undefined ? { address6: pod.address6 } : {}),
  };
  missingOnce ??= ebpfMissing();
  const missing = await missingOnce;
  if ((pod.captureMode ?? 'nftables') === 'ebpf') {
    if (missing === undefined) {
      await ebpfCapture(sockmap !== undefined ? { sockmap } : {}).install(target);
      return 'ebpf';
    }
    logger.error({ pod: pod.name, missing }, `${missing}; pod ${pod.name} uses the nftables capture instead`);
  }
  if (missing !== undefined) {
    logger.error({ pod: pod.name, missing }, `${missing}; pod ${pod.name} has no bind guard on ports 15000-15006`);
  }
  await nftablesCapture({ bindGuard: missing === undefined }).install(target);
  return 'nftables';
}

/** Creates the pod's cgroups (also without capture: its processes always run in them). */
export function ensurePodCgroupsFor(pod: PodState): Promise<void> {
  return ensurePodCgroups(pod.namespace);
}

/** argv of the pod's Envoy, started inside the pod's sidecar cgroup. */
export function sidecarCommand(pod: PodState, argv: readonly string[]): string[] {
  return inCgroup(podCgroupDirs(pod.namespace).sidecar, argv);
}

/** argv of one of the pod's apps, started inside the pod's app cgroup. */
export function appCommand(pod: PodState, argv: readonly string[]): string[] {
  return inCgroup(podCgroupDirs(pod.namespace).app, argv);
}

/**
 * Removes the per-pod kernel state of these namespaces; with `leftovers` (lab down) also that of any `nsg-*` pod a
 * crash left behind, then the cgroup folder and bpffs all pods share once nothing else uses them.
 */
export async function removePodsKernelState(namespaces: readonly string[], leftovers: boolean): Promise<void> {
  const all = new Set(namespaces);
  if (leftovers) for (const n of await leftoverPods(NAMESPACE_PREFIX)) all.add(n);
  for (const n of all) await removePodKernelState(n);
  if (leftovers) await releaseSharedKernelState();
}
