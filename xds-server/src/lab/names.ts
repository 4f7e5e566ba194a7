// Names in the lab, pure: the hosts files every member sees (`/etc/netns/<ns>/hosts`).
import type { LabState, PodState } from './plan.js';

/**
 * The hosts file every lab namespace sees (`ip netns exec` bind-mounts `/etc/netns/<ns>/hosts`): pod names,
 * services as `name.namespace` (→ VIP, else the first pod), and externals.
 */
export function hostsFile(state: LabState): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    '',
    `# nanoseg lab "${state.name}"`,
  ];
  for (const p of state.pods) lines.push(`${p.address}\t${p.name}`);
  const services: string[] = [];
  for (const p of state.pods) if (!services.includes(p.service)) services.push(p.service);
  for (const s of services) {
    const [ns, name] = s.split('/') as [string, string];
    const vip = state.vips.find((v) => v.service === s)?.address;
    const target = vip ?? state.pods.find((p) => p.service === s)!.address;
    lines.push(`${target}\t${name}.${ns}`);
  }
  for (const e of state.externals) lines.push(`${e.address}\t${e.name}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The hosts file a pod sees: with a resolver only localhost and the pod itself, so that every other lab name is a
 * DNS lookup (as in a cluster); without one the lab's whole hosts file.
 */
export function podHostsFile(state: LabState, pod: PodState): string {
  if (state.dnsAddress === undefined) return hostsFile(state);
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${pod.address}\t${pod.name}`,
    `# nanoseg lab "${state.name}": other names come from the lab's resolver at ${state.dnsAddress}`,
    '',
  ].join('\n');
}
