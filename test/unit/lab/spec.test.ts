import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkLabSpec,
  formatValidationError,
  parseLabSpec,
  validateLabSpec,
} from '../../../xds-server/src/lab/index.js';
import type { ValidationError } from '../../../xds-server/src/lab/index.js';

const VALID = `apiVersion: nanoseg.io/v1alpha1
kind: Lab
name: shop
pods:
  - name: web-1
    service: shop/web
    address: 10.213.0.11
    run: "python3 -m http.server 8080"
    ports: [8080]
  - name: worker
    service: shop/worker
    run:
      - "sleep 1000"
      - "sleep 2000"
externals:
  - name: payments
    address: 203.0.113.10
    run: "python3 -m http.server 443"
  - name: db
    address: 192.0.2.5
`;

function errorsOf(text: string): readonly ValidationError[] {
  const r = parseLabSpec(text);
  assert.equal(r.valid, false, 'expected the file to be rejected');
  if (r.valid) throw new Error('unreachable');
  assert.equal('result' in r, false, 'nothing is accepted from an invalid file');
  return r.errors;
}

function formatted(text: string): string[] {
  return errorsOf(text).map((e) => formatValidationError(e, 'lab.yaml'));
}

test('a valid lab file parses with defaults filled in', () => {
  const r = parseLabSpec(VALID);
  assert.ok(r.valid, JSON.stringify(r));
  assert.deepEqual(r.result, {
    name: 'shop',
    subnet: '10.213.0.0/16',
    pods: [
      {
        name: 'web-1',
        service: 'shop/web',
        address: '10.213.0.11',
        run: ['python3 -m http.server 8080'],
        ports: [8080],
      },
      { name: 'worker', service: 'shop/worker', run: ['sleep 1000', 'sleep 2000'], ports: [] },
    ],
    externals: [
      { name: 'payments', address: '203.0.113.10', run: ['python3 -m http.server 443'] },
      { name: 'db', address: '192.0.2.5', run: [] },
    ],
  });
});

test('name defaults to "lab"', () => {
  const r = parseLabSpec('apiVersion: nanoseg.io/v1alpha1\nkind: Lab\npods: []\n');
  assert.ok(r.valid);
  assert.equal(r.result.name, 'lab');
  assert.deepEqual(r.result.externals, []);
});

test('pod address outside the subnet: path, line and column', () => {
  const text = VALID.replace('run:\n      - "sleep 1000"', 'address: 10.9.0.3\n    run:\n      - "sleep 1000"');
  assert.deepEqual(formatted(text), ['lab.yaml:12:14: pods[1].address: not an IPv4 address in 10.213.0.0/16']);
});

test('unknown fields point at the key', () => {
  assert.deepEqual(formatted(VALID.replace('    ports: [8080]', '    ports: [8080]\n    replicas: 3')), [
    'lab.yaml:10:5: pods[0].replicas: unknown field (allowed: name, service, address, address6, run, ports, user, privileged, capture, sockmap)',
  ]);
  assert.deepEqual(formatted(`color: red\n${VALID}`), [
    'lab.yaml:1:1: color: unknown field (allowed: apiVersion, kind, name, subnet, subnet6, dns, capture, sockmap, pods, externals)',
  ]);
});

test('duplicate names across pods and externals, duplicate addresses', () => {
  const text = VALID.replace('  - name: db\n    address: 192.0.2.5', '  - name: worker\n    address: 203.0.113.10');
  assert.deepEqual(formatted(text), [
    'lab.yaml:19:11: externals[1].name: duplicate name "worker" (also pods[1].name)',
    'lab.yaml:20:14: externals[1].address: duplicate address 203.0.113.10 (also externals[0].address)',
  ]);
});

test('bad service names', () => {
  assert.deepEqual(formatted(VALID.replace('service: shop/web', 'service: Shop/web')), [
    'lab.yaml:6:14: pods[0].service: not a service name: namespace/name, both lowercase DNS labels',
  ]);
  assert.deepEqual(formatted(VALID.replace('service: shop/worker', 'service: worker')), [
    'lab.yaml:11:14: pods[1].service: not a service name: namespace/name, both lowercase DNS labels',
  ]);
});

test('bad ports: out of range, reserved for Envoy, duplicate, not a number', () => {
  assert.deepEqual(formatted(VALID.replace('ports: [8080]', 'ports: [0, 15001, 8080, 8080, "x"]')), [
    'lab.yaml:9:13: pods[0].ports[0]: not a port number (an integer 1-65535)',
    'lab.yaml:9:16: pods[0].ports[1]: port 15001 is reserved for Envoy (15000, 15001, 15006)',
    'lab.yaml:9:29: pods[0].ports[3]: duplicate port 8080',
    'lab.yaml:9:35: pods[0].ports[4]: not a port number (an integer 1-65535)',
  ]);
});

test('bad names: not a DNS label, too long, reserved', () => {
  assert.deepEqual(formatted(VALID.replace('name: web-1', 'name: Web_1')), [
    'lab.yaml:5:11: pods[0].name: not a DNS label (lowercase letters, digits and "-", starting and ending alphanumeric)',
  ]);
  assert.deepEqual(formatted(VALID.replace('name: web-1', `name: ${'a'.repeat(33)}`)), [
    'lab.yaml:5:11: pods[0].name: longer than 32 characters',
  ]);
  assert.deepEqual(formatted(VALID.replace('name: payments', 'name: lab')), [
    'lab.yaml:16:11: externals[0].name: "lab" is reserved for the lab host namespace',
  ]);
});

test('external addresses: inside the pod subnet, loopback, multicast, 0.0.0.0, malformed', () => {
  const cases: [string, string][] = [
    ['10.213.4.4', 'must not be in the pod subnet 10.213.0.0/16'],
    ['127.0.0.5', 'must not be a loopback address'],
    ['239.1.1.1', 'must not be a multicast address'],
    ['0.0.0.0', 'must not be in 0.0.0.0/8'],
    ['203.0.113.300', 'not an IPv4 address'],
  ];
  for (const [address, message] of cases) {
    assert.deepEqual(formatted(VALID.replace('address: 203.0.113.10', `address: ${address}`)), [
      `lab.yaml:17:14: externals[0].address: ${message}`,
    ]);
  }
});

test('pod addresses reserved by the lab: gateway, network, VIP block', () => {
  assert.deepEqual(formatted(VALID.replace('address: 10.213.0.11', 'address: 10.213.0.1')), [
    'lab.yaml:7:14: pods[0].address: is reserved for the lab gateway (10.213.0.1)',
  ]);
  assert.deepEqual(formatted(VALID.replace('address: 10.213.0.11', 'address: 10.213.255.7')), [
    'lab.yaml:7:14: pods[0].address: is in 10.213.255.0/24, reserved for service VIPs',
  ]);
});

test('missing and wrongly typed fields, header checks', () => {
  const text = 'apiVersion: nanoseg.io/v2\nkind: Pod\nsubnet: 10.1.2.3/16\npods:\n  - name: a\n    run: []\n  - 5\n';
  assert.deepEqual(formatted(text), [
    'lab.yaml:1:13: apiVersion: must be nanoseg.io/v1alpha1',
    'lab.yaml:2:7: kind: must be Lab',
    'lab.yaml:3:9: subnet: not an IPv4 network in CIDR notation without host bits (e.g. 10.213.0.0/16)',
    'lab.yaml:5:5: pods[0].service: required (namespace/name)',
    'lab.yaml:6:10: pods[0].run: must not be an empty list',
    'lab.yaml:7:5: pods[1]: must be a mapping (name, service, run, ...)',
  ]);
  assert.deepEqual(formatted('kind: Lab\n'), [
    'lab.yaml:1:1: apiVersion: required (nanoseg.io/v1alpha1)',
    'lab.yaml:1:1: pods: required (a list of pods)',
  ]);
});

test('YAML syntax errors and duplicate keys carry positions', () => {
  const errs = errorsOf('apiVersion: nanoseg.io/v1alpha1\nkind: Lab\nkind: Lab\npods: []\n');
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.line, 3);
  assert.match(errs[0]!.message, /unique/);
  const bad = errorsOf('pods: [\n');
  assert.ok(bad.every((e) => e.line !== undefined));
});

test('validateLabSpec works on plain objects, without positions', () => {
  const r = validateLabSpec({
    apiVersion: 'nanoseg.io/v1alpha1',
    kind: 'Lab',
    pods: [{ name: 'a', service: 'x/y', run: 'true', ports: [70000] }],
  });
  assert.equal(r.valid, false);
  if (!r.valid)
    assert.deepEqual(r.errors, [{ path: 'pods[0].ports[0]', message: 'not a port number (an integer 1-65535)' }]);
});

test('property: mutated lab files never throw and never half-accept', () => {
  // Deterministic xorshift so failures reproduce.
  let seed = 0x2545f491;
  const rand = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const alphabet = [' ', '\n', ':', '-', '[', ']', '"', '0', '9', 'a', '.', '/', '#', '{', '\t', '15001'];
  for (let i = 0; i < 2000; i++) {
    const chars = [...VALID];
    for (let k = 0; k <= rand(4); k++) {
      const at = rand(chars.length);
      if (rand(2) === 0) chars.splice(at, 1);
      else chars.splice(at, 0, alphabet[rand(alphabet.length)]!);
    }
    const text = chars.join('');
    const r = parseLabSpec(text);
    if (r.valid) {
      assert.equal(checkLabSpec(r.result).valid, true, text);
    } else {
      assert.ok(r.errors.length > 0, text);
      for (const e of r.errors) assert.equal(typeof e.message, 'string');
    }
  }
});

test('capture: per lab and per pod, a bad value named with file:line', () => {
  const text = VALID.replace('name: shop\n', 'name: shop\ncapture: ebpf\n').replace(
    '    ports: [8080]',
    '    ports: [8080]\n    capture: nftables',
  );
  const r = parseLabSpec(text);
  assert.ok(r.valid);
  assert.equal(r.result.capture, 'ebpf');
  assert.equal(r.result.pods[0]!.capture, 'nftables');
  assert.equal(r.result.pods[1]!.capture, undefined);
  assert.deepEqual(checkLabSpec(r.result).valid, true);
  assert.deepEqual(formatted(VALID.replace('name: shop\n', 'name: shop\ncapture: bpf\n')), [
    'lab.yaml:4:10: capture: must be one of nftables, ebpf',
  ]);
  assert.deepEqual(formatted(VALID.replace('    ports: [8080]', '    ports: [8080]\n    capture: 3')), [
    'lab.yaml:10:14: pods[0].capture: must be one of nftables, ebpf',
  ]);
});

test('sockmap: per lab and per pod, only where the capture is ebpf', () => {
  const text = VALID.replace('name: shop\n', 'name: shop\ncapture: ebpf\nsockmap: true\n').replace(
    '    ports: [8080]',
    '    ports: [8080]\n    sockmap: false',
  );
  const r = parseLabSpec(text);
  assert.ok(r.valid, JSON.stringify(r));
  assert.equal(r.result.sockmap, true);
  assert.equal(r.result.pods[0]!.sockmap, false);
  assert.equal(r.result.pods[1]!.sockmap, undefined);
  assert.equal(checkLabSpec(r.result).valid, true);
  assert.deepEqual(formatted(VALID.replace('name: shop\n', 'name: shop\nsockmap: yes please\n')), [
    'lab.yaml:4:10: sockmap: must be true or false',
  ]);
  // the lab's capture is nftables (the default): a pod asking for the eBPF fast path is told what it needs
  assert.deepEqual(formatted(VALID.replace('    ports: [8080]', '    ports: [8080]\n    sockmap: true')), [
    'lab.yaml:10:14: pods[0].sockmap: only with capture: ebpf (the fast path is part of the eBPF capture)',
  ]);
  const own = VALID.replace('    ports: [8080]', '    ports: [8080]\n    capture: ebpf\n    sockmap: true');
  assert.equal(parseLabSpec(own).valid, true);
});
