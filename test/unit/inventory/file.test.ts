import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatInventoryFileErrors, parseInventoryFile } from '../../../xds-server/src/inventory/index.js';
import type { ValidationResult } from '../../../xds-server/src/model/validation.js';
import type { Inventory } from '../../../xds-server/src/model/index.js';
import { prng } from '../../support/prng.js';

const VALID_FILE = `apiVersion: nanoseg.io/v1alpha1
kind: Inventory
workloads:
  - name: db-vm-1
    service: data/db
    addresses: [192.0.2.5, "2001:db8::5"]
    ports: [5432]
  - name: db-vm-2
    service: data/db
    addresses:
      - 192.0.2.6
externals:
  - name: payments
    address: 203.0.113.10
vips:
  - service: data/db
    address: 192.0.2.100
`;

function errorsOf(text: string): string[] {
  const r = parseInventoryFile(text, 'inv.yaml');
  assert.equal(r.valid, false, 'expected the file to be refused');
  return r.valid ? [] : r.errors.map((e) => e.message);
}

const HEAD = 'apiVersion: nanoseg.io/v1alpha1\nkind: Inventory\n';

test('a valid file gives its inventory', () => {
  const r = parseInventoryFile(VALID_FILE, 'inv.yaml');
  assert.deepEqual(r, {
    valid: true,
    result: {
      workloads: [
        { name: 'db-vm-1', service: 'data/db', addresses: ['192.0.2.5', '2001:db8::5'], ports: [5432] },
        { name: 'db-vm-2', service: 'data/db', addresses: ['192.0.2.6'], ports: [] },
      ],
      externals: [{ name: 'payments', address: '203.0.113.10' }],
      vips: [{ service: 'data/db', address: '192.0.2.100' }],
    },
  });
});

test('JSON is a valid inventory file too', () => {
  const json = JSON.stringify({
    apiVersion: 'nanoseg.io/v1alpha1',
    kind: 'Inventory',
    workloads: [{ name: 'vm', service: 'a/b', addresses: ['10.0.0.1'] }],
  });
  assert.equal(parseInventoryFile(json, 'inv.json').valid, true);
  assert.deepEqual(errorsOf(json.replace('"10.0.0.1"', '"10.0.0.x"')), [
    'inv.yaml:1:111: workloads[0].addresses[0]: expected an IP address, got "10.0.0.x"',
  ]);
});

test('a file with only apiVersion and kind is an empty inventory', () => {
  assert.deepEqual(parseInventoryFile(HEAD, 'inv.yaml'), {
    valid: true,
    result: { workloads: [], externals: [], vips: [] },
  });
});

test('every error names the file, line and column of the node its path names', () => {
  const text = `apiVersion: nanoseg.io/v1alpha1
kind: Inventory
workloads:
  - name: db-1
    service: data/db
    addresses: [192.0.2.5, 300.1.1.1]
    ports: [5432, 0]
    zone: a
  - name: db-1
    service: Data
  - name:
    service: data/db
    addresses:
externals:
  - {name: pay, address: 192.0.2.5}
vips: nope
`;
  assert.deepEqual(errorsOf(text), [
    'inv.yaml:6:28: workloads[0].addresses[1]: expected an IP address, got "300.1.1.1"',
    'inv.yaml:7:19: workloads[0].ports[1]: expected a port 1-65535, got 0',
    'inv.yaml:8:5: workloads[0].zone: unknown field (allowed: name, service, addresses, ports, interface)',
    'inv.yaml:9:5: workloads[1].addresses: required: a list of IP addresses',
    'inv.yaml:9:11: workloads[1].name: duplicate name "db-1" (also workloads[0].name)',
    'inv.yaml:10:14: workloads[1].service: expected a service name namespace/name (lowercase DNS labels), got "Data"',
    'inv.yaml:11:10: workloads[2].name: expected a non-empty string, got nothing (null)',
    'inv.yaml:13:15: workloads[2].addresses: expected a list of IP addresses, got nothing (null)',
    'inv.yaml:15:26: externals[0].address: duplicate address 192.0.2.5 (also workloads[0].addresses[0])',
    'inv.yaml:16:7: vips: expected a list of VIPs, got "nope"',
  ]);
});

test('errors carry path, line and column as fields too', () => {
  const r = parseInventoryFile(`${HEAD}vips:\n  - service: a/b\n    address: 10.0.0\n`, 'inv.yaml');
  assert.deepEqual(!r.valid && r.errors, [
    {
      path: 'vips[0].address',
      line: 5,
      col: 14,
      message: 'inv.yaml:5:14: vips[0].address: expected an IP address, got "10.0.0"',
    },
  ]);
  assert.equal(
    !r.valid && formatInventoryFileErrors(r.errors),
    'inv.yaml:5:14: vips[0].address: expected an IP address, got "10.0.0"',
  );
});

const FILE_ERRORS: readonly (readonly [string, string, readonly string[]])[] = [
  ['empty file', '', ['inv.yaml:1:1: empty file (expected apiVersion: nanoseg.io/v1alpha1, kind: Inventory, ...)']],
  [
    'only a comment',
    '# nothing yet\n',
    ['inv.yaml:1:1: empty file (expected apiVersion: nanoseg.io/v1alpha1, kind: Inventory, ...)'],
  ],
  [
    'a list at the top',
    '- a\n- b\n',
    ['inv.yaml:1:1: expected a mapping with apiVersion, kind, workloads, externals, vips, got a list'],
  ],
  [
    'missing apiVersion and kind (at the top mapping)',
    'workloads: []\n',
    ['inv.yaml:1:1: apiVersion: required: nanoseg.io/v1alpha1', 'inv.yaml:1:1: kind: required: Inventory'],
  ],
  [
    'wrong apiVersion and kind',
    'apiVersion: v1\nkind: Lab\n',
    [
      'inv.yaml:1:13: apiVersion: expected nanoseg.io/v1alpha1, got "v1"',
      'inv.yaml:2:7: kind: expected Inventory, got "Lab"',
    ],
  ],
  [
    'unknown top-level field, at its key',
    `${HEAD}  \nhosts: []\n`,
    ['inv.yaml:4:1: hosts: unknown field (allowed: apiVersion, kind, workloads, externals, vips)'],
  ],
  [
    'YAML syntax error',
    `${HEAD}workloads: [\n`,
    ['inv.yaml:4:1: Flow sequence in block collection must be sufficiently indented and end with a ]'],
  ],
  ['duplicate key', `${HEAD}vips: []\nvips: []\n`, ['inv.yaml:4:1: Map keys must be unique']],
  ['several documents', `${HEAD}---\n${HEAD}`, ['inv.yaml:3:1: more than one document (an inventory file holds one)']],
  [
    'an alias',
    `${HEAD}workloads:\n  - name: a\n    service: a/b\n    addresses: &a [10.0.0.1]\n  - name: b\n    service: a/b\n    addresses: *a\n`,
    ['inv.yaml:9:16: workloads[1].addresses: aliases are not allowed in inventory files'],
  ],
  ['a key that is a list', `${HEAD}? [a, b]\n: c\n`, ['inv.yaml:3:3: keys must be field names']],
  ['an unknown tag', `${HEAD}vips: !hosts []\n`, ['inv.yaml:3:7: Unresolved tag: !hosts']],
  [
    'a binary value',
    `${HEAD}externals: [{name: x, address: !!binary aGVsbG8=}]\n`,
    ['inv.yaml:3:41: externals[0].address: expected an IP address, got binary data'],
  ],
  [
    'a merge key is just an unknown field',
    `${HEAD}<<: {vips: []}\n`,
    ['inv.yaml:3:1: <<: unknown field (allowed: apiVersion, kind, workloads, externals, vips)'],
  ],
  [
    'a missing field points at the mapping that should hold it',
    `${HEAD}externals:\n  - name: db\n`,
    ['inv.yaml:4:5: externals[0].address: required: an IP address'],
  ],
  [
    'a port written as a string',
    `${HEAD}workloads:\n  - {name: a, service: a/b, addresses: [10.0.0.1], ports: ["80"]}\n`,
    ['inv.yaml:4:60: workloads[0].ports[0]: expected a port 1-65535, got "80"'],
  ],
  [
    'a number too large for a port',
    `${HEAD}workloads:\n  - {name: a, service: a/b, addresses: [10.0.0.1], ports: [1e400]}\n`,
    ['inv.yaml:4:60: workloads[0].ports[0]: expected a port 1-65535, got Infinity'],
  ],
];

for (const [name, text, expected] of FILE_ERRORS) {
  test(`refused file: ${name}`, () => {
    assert.deepEqual(errorsOf(text), expected);
  });
}

test('ports in other YAML number forms are numbers', () => {
  const r = parseInventoryFile(
    `${HEAD}workloads:\n  - {name: a, service: a/b, addresses: [10.0.0.1], ports: [0x50, 0o17, 443]}\n`,
    'inv.yaml',
  );
  assert.deepEqual(r.valid && r.result.workloads[0]!.ports, [80, 15, 443]);
});

test('a file named in the errors is the name given, whatever it is', () => {
  const r = parseInventoryFile('kind: x', '/etc/nanoseg/hosts.yaml');
  assert.deepEqual(!r.valid && r.errors.map((e) => e.message), [
    '/etc/nanoseg/hosts.yaml:1:1: apiVersion: required: nanoseg.io/v1alpha1',
    '/etc/nanoseg/hosts.yaml:1:7: kind: expected Inventory, got "x"',
  ]);
});

test('property: random mutations of a valid file never throw and always give a result or positioned errors', () => {
  const parsed = parseInventoryFile(VALID_FILE, 'x');
  assert.ok(parsed.valid);
  const json = JSON.stringify({ apiVersion: 'nanoseg.io/v1alpha1', kind: 'Inventory', ...parsed.result }, null, 2);
  const alphabet = [...': -{}[],#&*!|>\'"\n\t/.0123456789abcdefxyz%@`?<~', '\u0000', '\ud800', 'é', '::', '!!binary '];
  const rand = prng(20261201);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  let valid = 0;
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    for (let i = 0; i < 3000; i++) {
      let s = i % 3 === 0 ? json : VALID_FILE;
      const edits = 1 + Math.floor(rand() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rand() * (s.length + 1));
        switch (Math.floor(rand() * 5)) {
          case 0:
            s = s.slice(0, at) + pick(alphabet) + s.slice(at); // insert
            break;
          case 1:
            s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 8)); // delete
            break;
          case 2:
            s = s.slice(0, at) + pick(alphabet) + s.slice(at + 1); // replace
            break;
          case 3: {
            const lines = s.split('\n'); // swap two lines
            const a = Math.floor(rand() * lines.length);
            const b = Math.floor(rand() * lines.length);
            [lines[a], lines[b]] = [lines[b]!, lines[a]!];
            s = lines.join('\n');
            break;
          }
          default:
            s = s.slice(0, at) + s.slice(Math.floor(rand() * s.length)); // splice
        }
      }
      let r: ValidationResult<Inventory> | undefined;
      assert.doesNotThrow(
        () => {
          r = parseInventoryFile(s, 'fuzz.yaml');
        },
        `input ${JSON.stringify(s)}`,
      );
      if (r!.valid) {
        valid++;
        const inv = r!.result;
        const names = inv.workloads.map((w) => w.name);
        assert.equal(new Set(names).size, names.length, 'no duplicate workload names in a valid result');
        const addresses = [
          ...inv.workloads.flatMap((w) => w.addresses),
          ...inv.externals.map((e) => e.address),
          ...inv.vips.map((v) => v.address),
        ];
        assert.equal(new Set(addresses).size, addresses.length, 'no address claimed twice in a valid result');
        for (const w of inv.workloads)
          for (const p of w.ports) assert.ok(Number.isInteger(p) && p >= 1 && p <= 65535, `port ${p}`);
      } else {
        assert.ok(r!.errors.length > 0);
        for (const e of r!.errors) {
          assert.match(e.message, /^fuzz\.yaml:\d+:\d+: /, `error without position: ${e.message}`);
          assert.ok(e.line! >= 1 && e.col! >= 1, `position in fields: ${JSON.stringify(e)}`);
        }
      }
    }
  } finally {
    process.off('warning', onWarning);
  }
  assert.ok(valid > 0, 'some mutations stay valid (the generator is not only producing garbage)');
  assert.deepEqual(warnings, [], 'parsing prints nothing (no process warnings from the yaml package)');
});
