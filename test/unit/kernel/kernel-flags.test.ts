// `serve --kernel-node` / `--kernel-netns` / `--node-agents`: where the kernel point goes, and every way the flags can be wrong,
// refused before anything starts with the flag named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BRIDGE_NF_SYSCTL, kernelHosting, type KernelFlags } from '../../../xds-server/src/cli/kernel-flags.js';

const BASE: KernelFlags = {
  kubernetes: true,
  kernelNode: true,
  kernelLogGroup: 15,
  sidecarXdsAddress: { host: '10.244.0.1', port: 15012 },
  nodeAgentAccount: 'nanoseg-system/nanoseg-node-agent',
  xdsTls: true,
};
const AGENTS: KernelFlags = { ...BASE, kernelNode: false, nodeAgents: true };
const noSysctl = () => assert.fail('the control plane of node agents does not read its own sysctl');
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

test('kernel flags: --node-agents: the same node rules, applied by the agents of one service account', () => {
  assert.deepEqual(kernelHosting(AGENTS, noSysctl), {
    logGroup: 15,
    node: { controlPlane: [{ address: '10.244.0.1', port: 15012 }] },
    agents: { namespace: 'nanoseg-system', serviceAccount: 'nanoseg-node-agent' },
  });
  const refused = (o: KernelFlags, re: RegExp) => assert.throws(() => kernelHosting(o, noSysctl), re);
  refused({ ...AGENTS, kernelNode: true }, /--node-agents and --kernel-node\/--kernel-netns: one place/);
  refused({ ...AGENTS, kubernetes: false }, /--node-agents needs --kubernetes/);
  refused({ ...AGENTS, xdsTls: false }, /--node-agents needs the authenticated listener \(--xds-tls-address\)/);
  refused({ ...AGENTS, nodeAgentAccount: 'nanoseg-node-agent' }, /--node-agent-account: "nanoseg-node-agent" is not/);
  const behindService = { ...AGENTS, sidecarXdsAddress: { host: 'cp.svc', port: 15012 } };
  refused(behindService, /--node-agents: --sidecar-xds-address cp\.svc:15012 must be an IP .*--kernel-control-plane/);
  refused({ ...behindService, kernelControlPlane: { host: 'cp', port: 1 } }, /--kernel-control-plane cp:1 must be/);
  assert.deepEqual(
    kernelHosting({ ...behindService, kernelControlPlane: { host: '10.0.0.7', port: 15012 } }, noSysctl)?.node,
    { controlPlane: [{ address: '10.0.0.7', port: 15012 }] },
    "behind a Service: the control plane pod's own address",
  );
});
