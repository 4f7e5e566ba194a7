// The lab's optional resolver (`dns: true`), pure: Debian's dnsmasq in a member of its own (`dns`) that answers
// every lab name (pods, services by VIP, externals) from the lab's hosts file; pods' resolv.conf points at it.

/** A pod's resolv.conf with a resolver (none is written without one: pods then use the host's). */
export function resolvConf(dnsAddress: string): string {
  return `# nanoseg lab resolver\nnameserver ${dnsAddress}\noptions timeout:1 attempts:2\n`;
}

/**
 * The resolver member's command: dnsmasq in the foreground, no upstream and no config file, answering from the
 * files in its namespace's /etc/netns folder (the lab's hosts file, re-read when it changes), on its own address.
 */
export function dnsmasqCommand(namespace: string, address: string): string {
  return [
    'exec dnsmasq',
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    `--hostsdir=/etc/netns/${namespace}`,
    `--listen-address=${address}`,
    '--bind-interfaces',
    '--domain-needed',
    '--pid-file=',
    '--user=nobody',
    '--group=nogroup',
    '--log-facility=-',
  ].join(' ');
}
