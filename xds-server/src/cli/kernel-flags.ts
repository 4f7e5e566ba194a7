// `serve --kernel-node`: where the kernel point goes on a Kubernetes node, checked before anything starts. The
// rules filter the pods' bridged frames in the inet hooks, which they reach only with br_netfilter's
// `net.bridge.bridge-nf-call-iptables=1` (kubeadm's own prerequisite): without it the rules would be in place and
// see nothing, so that is refused, never left to fail open.
import type { KernelHosting } from '../controlplane/core.js';
import { parseIp } from '../policy/ip.js';
import { CliError } from './client.js';

export const BRIDGE_NF_SYSCTL = '/proc/sys/net/bridge/bridge-nf-call-iptables';

export interface KernelFlags {
  readonly kubernetes: boolean;
  readonly kernelNetns?: string;
  readonly kernelNode?: boolean;
  readonly kernelLogGroup: number;
  /** as `--sidecar-xds-address` parses it: an IPv6 address without its brackets */
  readonly sidecarXdsAddress: { readonly host: string; readonly port: number };
}

/** Where the kernel point goes, from the flags; undefined: nowhere. Throws a CliError naming the flag. */
export function kernelHosting(o: KernelFlags, read: (path: string, enc: 'utf8') => string): KernelHosting | undefined {
  if (o.kernelNode && o.kernelNetns !== undefined)
    throw new CliError('--kernel-node and --kernel-netns: one or the other (a node, or the lab)', 2);
  if (o.kernelNetns !== undefined) return { netns: o.kernelNetns, logGroup: o.kernelLogGroup };
  if (!o.kernelNode) return undefined;
  if (!o.kubernetes) throw new CliError('--kernel-node needs --kubernetes (the lab uses --kernel-netns nsg-lab)', 2);
  const { host, port } = o.sidecarXdsAddress;
  if (!parseIp(host)) {
    throw new CliError(
      `--kernel-node: --sidecar-xds-address ${host}:${port} must be an IP address (every pod's kernel rules let it ` +
        'reach the control plane there)',
      2,
    );
  }
  let value: string;
  try {
    value = read(BRIDGE_NF_SYSCTL, 'utf8').trim();
  } catch {
    value = 'missing (br_netfilter not loaded)';
  }
  if (value !== '1') {
    throw new CliError(
      `--kernel-node: net.bridge.bridge-nf-call-iptables is ${value}, must be 1: without it the pods' bridged ` +
        'traffic never reaches the kernel rules (modprobe br_netfilter; sysctl net.bridge.bridge-nf-call-iptables=1)',
      2,
    );
  }
  return { logGroup: o.kernelLogGroup, node: { controlPlane: [{ address: host, port }] } };
}
