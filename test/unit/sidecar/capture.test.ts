import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureRuleset } from '../../../xds-server/src/sidecar/index.js';
import { podCgroups, podPinDir } from '../../../xds-server/src/sidecar/cgroup.js';

test('capture ruleset: one inet table, replaced atomically, Istio ports', () => {
  assert.equal(
    captureRuleset(),
    `table inet nanoseg
delete table inet nanoseg
table inet nanoseg {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iif "lo" return
    tcp dport { 15000, 15001, 15006 } return
    meta l4proto tcp redirect to :15006
  }
  chain output {
    type nat hook output priority -100; policy accept;
    meta skuid 1337 return
    ip daddr 127.0.0.0/8 return
    ip6 daddr ::1 return
    meta l4proto tcp redirect to :15001
  }
}
`,
  );
});

test('capture ruleset: the Envoy uid is exempt before any redirect', () => {
  const text = captureRuleset({ envoyUid: 4242, outboundPort: 16001, inboundPort: 16006, adminPort: 16000 });
  const output = text.slice(text.indexOf('chain output'));
  assert.ok(output.indexOf('meta skuid 4242 return') < output.indexOf('redirect to :16001'));
  assert.match(text, /tcp dport \{ 16000, 16001, 16006 \} return/);
  assert.match(text, /redirect to :16006/);
});

test('capture ruleset: the sidecar is excluded by its cgroup; ebpf mode keeps only the inbound chain', () => {
  const cg = podCgroups('nsg-p-web');
  assert.deepEqual(cg, {
    pod: 'nanoseg/nsg-p-web',
    app: 'nanoseg/nsg-p-web/app',
    sidecar: 'nanoseg/nsg-p-web/sidecar',
    sidecarLevel: 3,
  });
  const text = captureRuleset({ sidecarCgroup: { path: cg.sidecar, level: cg.sidecarLevel } });
  assert.match(text, /\n {4}socket cgroupv2 level 3 "nanoseg\/nsg-p-web\/sidecar" return\n/);
  assert.doesNotMatch(text, /skuid/);
  const inboundOnly = captureRuleset({ sidecarCgroup: { path: cg.sidecar, level: 3 }, outbound: false });
  assert.doesNotMatch(inboundOnly, /chain output/);
  assert.match(inboundOnly, /redirect to :15006/);
  assert.throws(() => podCgroups('../etc'), /not a cgroup name/);
  assert.equal(podPinDir('nsg-p-web'), '/run/nanoseg/bpffs/nsg-p-web');
});

test('capture ruleset: exclusions return before the redirect, none written when none are given', () => {
  const text = captureRuleset({
    excludeInboundPorts: [9187, 15021, 9187],
    excludeOutboundPorts: [25],
    excludeOutboundCidrs: ['10.96.0.0/12', 'fd00::/8', '169.254.169.254/32'],
  });
  const pre = text.slice(text.indexOf('chain prerouting'), text.indexOf('chain output'));
  const out = text.slice(text.indexOf('chain output'));
  assert.ok(
    pre.indexOf('tcp dport { 9187, 15021 } return') < pre.indexOf('redirect to :15006'),
    'deduplicated, sorted',
  );
  assert.ok(out.indexOf('ip daddr { 10.96.0.0/12, 169.254.169.254/32 } return') < out.indexOf('redirect'));
  assert.ok(out.indexOf('ip6 daddr fd00::/8 return') < out.indexOf('redirect'));
  assert.ok(out.indexOf('tcp dport 25 return') < out.indexOf('redirect'));
  assert.ok(out.indexOf('meta skuid 1337 return') < out.indexOf('ip daddr {'), 'Envoy exempt first');
  assert.equal(captureRuleset({ excludeInboundPorts: [], excludeOutboundCidrs: [] }), captureRuleset());
});
