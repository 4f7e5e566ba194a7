import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostVethName, hostsFile, labInventory, namespaceName, planLab } from '../../../xds-server/src/lab/index.js';
import type { LabPodSpec, LabSpec, LabState } from '../../../xds-server/src/lab/index.js';

const OPTS = { xdsSocket: '/run/nanoseg/xds.sock', now: '2026-01-01T00:00:00.000Z' };

function pod(name: string, service: string, extra: Partial<LabPodSpec> = {}): LabPodSpec {
  return { name, service, run: [`run-${name}`], ports: [], ...extra };
}

function lab(pods: LabPodSpec[], extra: Partial<LabSpec> = {}): LabSpec {
  return {
    name: 'shop',
    subnet: '10.213.0.0/16',
    pods,
    externals: [{ name: 'payments', address: '203.0.113.10', run: [] }],
    ...extra,
  };
}

/** What labUp would record after a successful apply of `plan.desired`. */
function running(state: LabState): LabState {
  return {
    ...state,
    pods: state.pods.map((p, i) => ({ ...p, phase: 'running', envoyPid: 1000 + i, appPids: [2000 + i] })),
    externals: state.externals.map((e) => ({ ...e, phase: 'running' })),
  };
}

test('first apply: addresses after the gateway, explicit ones respected, VIPs from the last /24', () => {
  const plan = planLab(
    lab([
      pod('web-1', 'shop/web', { ports: [8080] }),
      pod('web-2', 'shop/web', { address: '10.213.0.2', ports: [8080] }),
      pod('worker', 'shop/worker'),
      pod('db', 'shop/db', { ports: [5432] }),
    ]),
    undefined,
    OPTS,
  );
  const d = plan.desired;
  assert.deepEqual(
    d.pods.map((p) => [p.name, p.address]),
    [
      ['web-1', '10.213.0.3'],
      ['web-2', '10.213.0.2'],
      ['worker', '10.213.0.4'],
      ['db', '10.213.0.5'],
    ],
  );
  assert.deepEqual(d.vips, [
    { service: 'shop/web', address: '10.213.255.1' },
    { service: 'shop/db', address: '10.213.255.2' },
  ]);
  assert.equal(d.gateway, '10.213.0.1');
  assert.equal(d.vipBlock, '10.213.255.0/24');
  assert.equal(d.labNamespace, 'nsg-lab');
  assert.deepEqual(plan.add, ['web-1', 'web-2', 'worker', 'db', 'payments']);
  assert.deepEqual([plan.remove, plan.recreate, plan.keep, plan.resetLab], [[], [], [], false]);
  assert.ok(d.pods.every((p) => p.phase === 'planned' && p.capture && p.appPids.length === 0));
});

test('the VIP block is the last /24 of a custom subnet', () => {
  const plan = planLab(lab([pod('a', 'x/a', { ports: [80] })], { subnet: '172.30.0.0/20' }), undefined, OPTS);
  assert.equal(plan.desired.vipBlock, '172.30.15.0/24');
  assert.deepEqual(plan.desired.vips, [{ service: 'x/a', address: '172.30.15.1' }]);
  assert.equal(plan.desired.pods[0]!.address, '172.30.0.2');
});

test('re-apply keeps assigned addresses and VIPs even when earlier pods go away', () => {
  const first = running(
    planLab(lab([pod('a', 'x/a', { ports: [80] }), pod('b', 'x/b', { ports: [80] }), pod('c', 'x/c')]), undefined, OPTS)
      .desired,
  );
  const plan = planLab(lab([pod('b', 'x/b', { ports: [80] }), pod('c', 'x/c'), pod('d', 'x/d')]), first, OPTS);
  assert.deepEqual(
    plan.desired.pods.map((p) => [p.name, p.address]),
    [
      ['b', '10.213.0.3'],
      ['c', '10.213.0.4'],
      ['d', '10.213.0.2'],
    ],
  );
  assert.deepEqual(plan.desired.vips, [{ service: 'x/b', address: '10.213.255.2' }]);
  assert.deepEqual(plan.add, ['d']);
  assert.deepEqual(plan.remove, ['a']);
  assert.deepEqual(plan.keep, ['b', 'c', 'payments']);
  assert.deepEqual(plan.recreate, []);
  // Kept members carry their runtime record.
  const b = plan.desired.pods.find((p) => p.name === 'b')!;
  assert.equal(b.envoyPid, 1001);
  assert.equal(b.phase, 'running');
});

test('an explicit address claimed by another pod moves the auto-assigned one, which is recreated', () => {
  const first = running(planLab(lab([pod('a', 'x/a'), pod('b', 'x/b')]), undefined, OPTS).desired);
  const plan = planLab(lab([pod('a', 'x/a'), pod('b', 'x/b', { address: '10.213.0.2' })]), first, OPTS);
  assert.deepEqual(
    plan.desired.pods.map((p) => [p.name, p.address]),
    [
      ['a', '10.213.0.3'],
      ['b', '10.213.0.2'],
    ],
  );
  assert.deepEqual(plan.recreate, ['a', 'b']);
  assert.equal(plan.reasons['a'], 'address 10.213.0.2 → 10.213.0.3');
});

test('what forces a recreate, and what does not', () => {
  const first = running(planLab(lab([pod('a', 'x/a', { ports: [80] })]), undefined, OPTS).desired);
  const cases: [LabSpec, string | undefined][] = [
    [lab([pod('a', 'x/a', { ports: [80, 81] })]), undefined],
    [lab([pod('a', 'x/b', { ports: [80] })]), 'service x/a → x/b'],
    [lab([pod('a', 'x/a', { ports: [80], run: ['other'] })]), 'run changed'],
    [lab([pod('a', 'x/a', { ports: [80] })], { name: 'other' }), 'lab name changed'],
    // sockmap belongs to the eBPF capture: on an nftables pod it changes nothing
    [lab([pod('a', 'x/a', { ports: [80] })], { sockmap: true }), undefined],
  ];
  for (const [spec, why] of cases) {
    const plan = planLab(spec, first, OPTS);
    assert.equal(plan.reasons['a'], why, JSON.stringify(spec.pods[0]));
    assert.deepEqual(plan.recreate, why === undefined ? [] : ['a']);
  }
  assert.equal(
    planLab(lab([pod('a', 'x/a', { ports: [80] })]), first, { ...OPTS, capture: false }).reasons['a'],
    'capture on → off',
  );
  assert.equal(
    planLab(lab([pod('a', 'x/a', { ports: [80] })]), first, { ...OPTS, xdsSocket: '/tmp/x' }).reasons['a'],
    'xDS socket changed',
  );
  const ebpf = running(planLab(lab([pod('a', 'x/a', { capture: 'ebpf' })]), undefined, OPTS).desired);
  assert.equal(ebpf.pods[0]!.sockmap, undefined, 'not said: the default at install');
  const on = planLab(lab([pod('a', 'x/a', { capture: 'ebpf' })], { sockmap: true }), ebpf, OPTS);
  assert.equal(on.reasons['a'], 'sockmap default → true');
  assert.equal(on.desired.pods[0]!.sockmap, true);
  const podOff = planLab(lab([pod('a', 'x/a', { capture: 'ebpf', sockmap: false })], { sockmap: true }), ebpf, OPTS);
  assert.equal(podOff.desired.pods[0]!.sockmap, false, "the pod's own field wins");
  const externalMoved = planLab(
    { ...lab([pod('a', 'x/a', { ports: [80] })]), externals: [{ name: 'payments', address: '203.0.113.11', run: [] }] },
    first,
    OPTS,
  );
  assert.deepEqual(externalMoved.recreate, ['payments']);
  // Ports changed in place: the kept record has the new ports.
  assert.deepEqual(planLab(cases[0]![0], first, OPTS).desired.pods[0]!.ports, [80, 81]);
});

test('a member that never reached "running" is recreated', () => {
  const first = planLab(lab([pod('a', 'x/a')]), undefined, OPTS).desired;
  const crashed: LabState = { ...running(first), pods: [{ ...first.pods[0]!, phase: 'envoy', envoyPid: 5 }] };
  const plan = planLab(lab([pod('a', 'x/a')]), crashed, OPTS);
  assert.deepEqual(plan.recreate, ['a']);
  assert.equal(plan.reasons['a'], 'previous apply stopped at phase "envoy"');
});

test('a subnet change resets the whole lab', () => {
  const first = running(planLab(lab([pod('a', 'x/a')]), undefined, OPTS).desired);
  const plan = planLab(lab([pod('a', 'x/a')], { subnet: '10.50.0.0/16' }), first, OPTS);
  assert.equal(plan.resetLab, true);
  assert.deepEqual(plan.remove, ['a', 'payments']);
  assert.deepEqual(plan.add, ['a', 'payments']);
  assert.equal(plan.desired.pods[0]!.address, '10.50.0.2');
});

test('namespace and veth names fit in 15 characters and are deterministic', () => {
  assert.equal(namespaceName('web-1'), 'nsg-web-1');
  assert.equal(namespaceName('abcdefghijk'), 'nsg-abcdefghijk');
  const long = namespaceName('a-very-long-pod-name-of-32-chars');
  assert.equal(long.length, 15);
  assert.match(long, /^nsg-a-ver-[0-9a-f]{5}$/);
  assert.equal(namespaceName('a-very-long-pod-name-of-32-chars'), long);
  assert.notEqual(namespaceName('a-very-long-pod-name-of-32-chart'), long);
  assert.equal(hostVethName(long).length, 14);
  assert.equal(hostVethName('nsg-web-1'), 'vh-web-1');
  const plan = planLab(lab([pod('a-very-long-pod-name-of-32-chars', 'x/a'), pod('web-1', 'x/w')]), undefined, OPTS);
  for (const m of [...plan.desired.pods, ...plan.desired.externals]) {
    assert.ok(m.namespace.length <= 15 && m.hostVeth.length <= 15, m.namespace);
    assert.ok(m.namespace.startsWith('nsg-'));
  }
});

test('hosts file names pods, services (VIP or first pod) and externals', () => {
  const d = planLab(
    lab([
      pod('web-1', 'shop/web', { ports: [8080] }),
      pod('web-2', 'shop/web', { ports: [8080] }),
      pod('job', 'batch/job'),
    ]),
    undefined,
    OPTS,
  ).desired;
  assert.equal(
    hostsFile(d),
    [
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      '',
      '# nanoseg lab "shop"',
      '10.213.0.2\tweb-1',
      '10.213.0.3\tweb-2',
      '10.213.0.4\tjob',
      '10.213.255.1\tweb.shop',
      '10.213.0.4\tjob.batch',
      '203.0.113.10\tpayments',
      '',
    ].join('\n'),
  );
});

test('labInventory turns a state into inventory facts', () => {
  const d = planLab(lab([pod('web-1', 'shop/web', { ports: [8080] })]), undefined, OPTS).desired;
  assert.deepEqual(labInventory(d), {
    workloads: [
      { name: 'web-1', service: 'shop/web', addresses: ['10.213.0.2'], ports: [8080], interface: 'vh-web-1' },
    ],
    externals: [{ name: 'payments', address: '203.0.113.10', interface: 'vh-payments' }],
    vips: [{ service: 'shop/web', address: '10.213.255.1' }],
  });
});
