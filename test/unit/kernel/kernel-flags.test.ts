// `serve --kernel-node` / `--kernel-netns`: where the kernel point goes, and every way the flags can be wrong,
// refused before anything starts with the flag named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BRIDGE_NF_SYSCTL, kernelHosting, type KernelFlags } from '../../../xds-server/src/cli/kernel-flags.js';

const BASE: KernelFlags = {
  kubernetes: true,
  kernelNode: true,
  kernelLogGroup: 15,
  sidecarXdsAddress: { host: '10.244.0.1', port: 15012 },
};
const sysctl = (value: string | undefined) => (path: string) => {
  assert.equal(path, BRIDGE_NF_SYSCTL);
  if (value === undefined) throw new Error('ENOENT');
  return `${value}\n`;
};

test('kernel flags: a node gets the inet rules in its own namespace, the control plane allowed to every pod', () => {
  assert.deepEqual(kernelHosting(BASE, sysctl('1')), {
    logGroup: 15,
    node: { controlPlane: [{ address: '10.244.0.1', port: 15012 }] },
  });
  assert.deepEqual(kernelHosting({ ...BASE, sidecarXdsAddress: { host: 'fd00::1', port: 15012 } }, sysctl('1'))?.node, {
    controlPlane: [{ address: 'fd00::1', port: 15012 }],
  });
  assert.deepEqual(
    kernelHosting({ ...BASE, kubernetes: false, kernelNode: false, kernelNetns: 'nsg-lab' }, sysctl('0')),
    {
      netns: 'nsg-lab',
      logGroup: 15,
    },
  );
  assert.equal(kernelHosting({ ...BASE, kernelNode: false }, sysctl(undefined)), undefined);
});

test('kernel flags: refused with the flag named — no Kubernetes, both places, a DNS name, br_netfilter off or absent', () => {
  const refused = (o: KernelFlags, read: (p: string) => string, re: RegExp) =>
    assert.throws(() => kernelHosting(o, read), re);
  refused({ ...BASE, kubernetes: false }, sysctl('1'), /--kernel-node needs --kubernetes/);
  refused({ ...BASE, kernelNetns: 'nsg-lab' }, sysctl('1'), /--kernel-node and --kernel-netns: one or the other/);
  refused(
    { ...BASE, sidecarXdsAddress: { host: 'nanoseg-control-plane.nanoseg-system.svc', port: 15012 } },
    sysctl('1'),
    /--sidecar-xds-address nanoseg-control-plane\.nanoseg-system\.svc:15012 must be an IP address/,
  );
  refused(BASE, sysctl('0'), /net\.bridge\.bridge-nf-call-iptables is 0, must be 1/);
  refused(BASE, sysctl(undefined), /bridge-nf-call-iptables is missing \(br_netfilter not loaded\)/);
});
