// A dual-stack lab file (`subnet6`, `address6`): validation with positions, canonical text, the planner's IPv6
// addresses (assigned like IPv4's, kept across re-applies), the state and the inventory the lab pushes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkLabSpec,
  formatValidationError,
  labInventory,
  parseLabSpec,
  planLab,
} from '../../../xds-server/src/lab/index.js';
import type { LabSpec, LabState } from '../../../xds-server/src/lab/index.js';
import { assignAddresses6, parseCidr6 } from '../../../xds-server/src/lab/ipv6.js';

const OPTS = { xdsSocket: '/run/nanoseg/xds.sock', now: '2026-01-01T00:00:00.000Z' };

const DUAL = `apiVersion: nanoseg.io/v1alpha1
kind: Lab
subnet6: FD6E:7367:0::/64
pods:
  - name: web-1
    service: shop/web
    address6: fd6e:7367:0::B
    run: "sleep 1"
  - name: api-1
    service: shop/api
    run: "sleep 1"
externals:
  - name: payments
    address: 203.0.113.10
    address6: 2001:DB8::10
`;

function parsed(text: string): LabSpec {
  const r = parseLabSpec(text);
  assert.ok(r.valid, JSON.stringify(r));
  return r.result;
}

function problems(text: string): string[] {
  const r = parseLabSpec(text);
  assert.equal(r.valid, false, 'expected the file to be rejected');
  return r.valid ? [] : r.errors.map((e) => formatValidationError(e, 'lab.yaml'));
}

const withPods = (top: string, pod: string, ext = '') =>
  `apiVersion: nanoseg.io/v1alpha1\nkind: Lab\n${top}pods:\n  - name: a\n    service: x/a\n    run: "sleep 1"\n${pod}${ext}`;

test('a dual-stack lab file parses, every IPv6 address in canonical text', () => {
  const spec = parsed(DUAL);
  assert.equal(spec.subnet6, 'fd6e:7367::/64');
  assert.equal(spec.pods[0]!.address6, 'fd6e:7367::b');
  assert.equal(spec.pods[1]!.address6, undefined, 'assigned by the planner');
  assert.equal(spec.externals[0]!.address6, '2001:db8::10');
  // the normalised spec re-validates as written (the lab's own check before it applies anything)
  const again = checkLabSpec(spec);
  assert.ok(again.valid, JSON.stringify(again));
  assert.deepEqual(again.result, spec);
});

test('an IPv4-only lab file is unchanged: no subnet6, no address6', () => {
  const spec = parsed(withPods('', ''));
  assert.equal('subnet6' in spec, false);
  assert.equal('address6' in spec.pods[0]!, false);
});

test('bad subnet6 and address6 values are refused with FILE:LINE:COL and the field', () => {
  assert.deepEqual(problems(withPods('subnet6: fd00::1/64\n', '')), [
    'lab.yaml:3:10: subnet6: not an IPv6 network in CIDR notation without host bits (e.g. fd6e:7367::/64)',
  ]);
  assert.deepEqual(problems(withPods('subnet6: 10.0.0.0/8\n', '')), [
    'lab.yaml:3:10: subnet6: not an IPv6 network in CIDR notation without host bits (e.g. fd6e:7367::/64)',
  ]);
  assert.deepEqual(problems(withPods('subnet6: fd00::/48\n', '')), [
    'lab.yaml:3:10: subnet6: prefix length must be between /64 and /120',
  ]);
  assert.deepEqual(problems(withPods('', '    address6: fd00::5\n')), [
    "lab.yaml:7:15: pods[0].address6: an IPv6 address needs a dual-stack lab: set subnet6 at the top (the bridge's network)",
  ]);
  const top = 'subnet6: fd00::/64\n';
  assert.deepEqual(problems(withPods(top, '    address6: fd01::5\n')), [
    'lab.yaml:8:15: pods[0].address6: not an IPv6 address in fd00::/64',
  ]);
  assert.deepEqual(problems(withPods(top, '    address6: fd00::1\n')), [
    'lab.yaml:8:15: pods[0].address6: is reserved for the lab gateway (fd00::1)',
  ]);
  assert.deepEqual(problems(withPods(top, '    address6: 10.213.0.5\n')), [
    'lab.yaml:8:15: pods[0].address6: not an IPv6 address',
  ]);
  const ext = (a: string) => `externals:\n  - name: e\n    address: 203.0.113.9\n    address6: ${a}\n`;
  assert.deepEqual(problems(withPods(top, '', ext('fd00::9'))), [
    'lab.yaml:11:15: externals[0].address6: must not be in the pod subnet6 fd00::/64',
  ]);
  assert.match(problems(withPods(top, '', ext('fe80::9')))[0]!, /externals\[0\]\.address6: must not be a link-local/);
  assert.match(problems(withPods(top, '', ext('"::ffff:203.0.113.9"')))[0]!, /IPv4-mapped/);
  assert.match(problems(withPods(top, '', ext('ff02::1')))[0]!, /multicast/);
  assert.match(problems(withPods(top, '', ext('::1')))[0]!, /loopback/);
});

test('a duplicate IPv6 address is refused, also written two ways', () => {
  const text = withPods(
    'subnet6: fd00::/64\n',
    '    address6: fd00::5\n',
    '  - name: b\n    service: x/b\n    run: "sleep 1"\n    address6: "FD00:0::5"\n',
  );
  assert.deepEqual(problems(text), [
    'lab.yaml:12:15: pods[1].address6: duplicate address fd00::5 (also pods[0].address6)',
  ]);
});

test('plan: explicit IPv6 addresses as written, the others assigned after the gateway, the resolver too', () => {
  const spec = { ...parsed(DUAL), dns: true };
  const { desired } = planLab(spec, undefined, OPTS);
  assert.equal(desired.subnet6, 'fd6e:7367::/64');
  assert.equal(desired.gateway6, 'fd6e:7367::1');
  const at = (name: string) => [...desired.pods, ...desired.externals].find((m) => m.name === name)!.address6;
  assert.equal(at('web-1'), 'fd6e:7367::b');
  assert.equal(at('api-1'), 'fd6e:7367::2');
  assert.equal(at('dns'), 'fd6e:7367::3');
  assert.equal(at('payments'), '2001:db8::10');
});

test('plan: re-apply keeps assigned IPv6 addresses; a changed address6 recreates; a changed subnet6 resets', () => {
  const running = (s: LabState): LabState => ({
    ...s,
    pods: s.pods.map((p) => ({ ...p, phase: 'running' })),
    externals: s.externals.map((e) => ({ ...e, phase: 'running' })),
  });
  const spec = parsed(DUAL);
  const first = running(planLab(spec, undefined, OPTS).desired);
  // a new pod before api-1 does not move api-1's address
  const more: LabSpec = {
    ...spec,
    pods: [{ name: 'new-1', service: 'x/new', run: ['sleep 1'], ports: [] }, ...spec.pods],
  };
  const again = planLab(more, first, OPTS);
  assert.equal(again.desired.pods.find((p) => p.name === 'api-1')!.address6, 'fd6e:7367::2');
  assert.equal(again.desired.pods.find((p) => p.name === 'new-1')!.address6, 'fd6e:7367::3');
  assert.deepEqual(again.recreate, []);

  const moved = planLab(
    { ...spec, pods: spec.pods.map((p) => (p.name === 'web-1' ? { ...p, address6: 'fd6e:7367::c' } : p)) },
    first,
    OPTS,
  );
  assert.deepEqual(moved.recreate, ['web-1']);
  assert.equal(moved.reasons['web-1'], 'address6 fd6e:7367::b → fd6e:7367::c');

  assert.equal(planLab({ ...spec, subnet6: 'fd6e:7368::/64', pods: [] }, first, OPTS).resetLab, true);
  const { subnet6: _drop, ...v4only } = spec;
  assert.equal(planLab({ ...v4only, pods: [], externals: [] }, first, OPTS).resetLab, true);
});

test('the lab inventory lists both addresses of a dual-stack pod, and one external entry per address', () => {
  const { desired } = planLab(parsed(DUAL), undefined, OPTS);
  const inv = labInventory(desired);
  assert.deepEqual(inv.workloads.find((w) => w.name === 'web-1')!.addresses, ['10.213.0.2', 'fd6e:7367::b']);
  assert.deepEqual(
    inv.externals.map((e) => [e.name, e.address, e.interface]),
    [
      ['payments', '203.0.113.10', 'vh-payments'],
      ['payments', '2001:db8::10', 'vh-payments'],
    ],
  );
});

test('assignAddresses6: a full subnet is an error, not a wrap-around', () => {
  const tiny = parseCidr6('fd00::/126')!; // network, gateway, ::2, ::3
  const ok = assignAddresses6(tiny, [
    { name: 'a', auto: true },
    { name: 'b', auto: true },
  ]);
  assert.deepEqual([...ok.values()], ['fd00::2', 'fd00::3']);
  assert.throws(
    () =>
      assignAddresses6(
        tiny,
        ['a', 'b', 'c'].map((name) => ({ name, auto: true })),
      ),
    /no free IPv6 address left in fd00::\/126/,
  );
});
