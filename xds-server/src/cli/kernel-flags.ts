// `serve --kernel-node` / `--node-agents`: where the kernel rules go on Kubernetes nodes (this process on its own
// node, or a node agent on each node), checked before anything starts. The rules filter the pods' bridged frames in the inet hooks, which they reach only with br_netfilter's
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
  readonly nodeAgents?: boolean;
  /** NAMESPACE/SERVICEACCOUNT of the node agents */
  readonly nodeAgentAccount: string;
  /** the authenticated TLS listener is on (node agents connect to it) */
  readonly xdsTls: boolean;
  readonly kernelLogGroup: number;
  /** as `--sidecar-xds-address` parses it: an IPv6 address without its brackets */
  readonly sidecarXdsAddress: { readonly host: string; readonly port: number };
  /** where the pods' frames to the control plane go once any Service DNAT is done (default: sidecarXdsAddress) */
  readonly kernelControlPlane?: { readonly host: string; readonly port: number };
}

/** Where the kernel point goes, from the flags; undefined: nowhere. Throws a CliError naming the flag. */
export function kernelHosting(o: KernelFlags, read: (path: string, enc: 'utf8') => string): KernelHosting | undefined {
  if (o.kernelNode && o.kernelNetns !== undefined)
    throw new CliError('--kernel-node and --kernel-netns: one or the other (a node, or the lab)', 2);
  if (o.nodeAgents && (o.kernelNode || o.kernelNetns !== undefined))
    throw new CliError('--node-agents and --kernel-node/--kernel-netns: one place applies the kernel rules', 2);
  if (o.kernelNetns !== undefined) return { netns: o.kernelNetns, logGroup: o.kernelLogGroup };
  if (!o.kernelNode && !o.nodeAgents) return undefined;
  const flag = o.nodeAgents ? '--node-agents' : '--kernel-node';
  if (!o.kubernetes) throw new CliError(`${flag} needs --kubernetes (the lab uses --kernel-netns nsg-lab)`, 2);
  const { host, port } = o.kernelControlPlane ?? o.sidecarXdsAddress;
  if (!parseIp(host)) {
    const given = o.kernelControlPlane ? '--kernel-control-plane' : '--sidecar-xds-address';
    throw new CliError(
      `${flag}: ${given} ${host}:${port} must be an IP address (every pod's kernel rules let it reach the control ` +
        "plane there; behind a Service name give the control plane pod's own address: --kernel-control-plane)",
      2,
    );
  }
  const node = { controlPlane: [{ address: host, port }] };
  if (o.nodeAgents) {
    if (!o.xdsTls) throw new CliError('--node-agents needs the authenticated listener (--xds-tls-address)', 2);
    const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(o.nodeAgentAccount);
    if (!m) throw new CliError(`--node-agent-account: "${o.nodeAgentAccount}" is not NAMESPACE/SERVICEACCOUNT`, 2);
    return { logGroup: o.kernelLogGroup, node, agents: { namespace: m[1]!, serviceAccount: m[3]! } };
  }
  const bridge = bridgeNetfilter(read);
  if (bridge) throw new CliError(`--kernel-node: ${bridge}`, 2);
  return { logGroup: o.kernelLogGroup, node };
}

/** Why the node's bridged frames would not reach the kernel rules, or undefined when they do. */
export function bridgeNetfilter(read: (path: string, enc: 'utf8') => string): string | undefined {
  let value: string;
  try {
    value = read(BRIDGE_NF_SYSCTL, 'utf8').trim();
  } catch {
    value = 'missing (br_netfilter not loaded)';
  }
  if (value === '1') return undefined;
  return (
    `net.bridge.bridge-nf-call-iptables is ${value}, must be 1: without it the pods' bridged traffic never ` +
    'reaches the kernel rules (modprobe br_netfilter; sysctl net.bridge.bridge-nf-call-iptables=1)'
  );
}
