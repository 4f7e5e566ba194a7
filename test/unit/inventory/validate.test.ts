import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  INVENTORY_FILE_SCHEMA,
  INVENTORY_SCHEMA,
  checkInventory,
  closedSchema,
  validateInventory,
  type StructuralSchema,
} from '../../../xds-server/src/inventory/index.js';

const VALID = {
  workloads: [{ name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [8080] }],
  externals: [{ name: 'payments', address: '203.0.113.10' }],
  vips: [{ service: 'shop/web', address: '10.213.255.1' }],
};

function errorsOf(v: unknown): string[] {
  const r = validateInventory(v);
  assert.equal(r.valid, false, `expected ${JSON.stringify(v)} to be refused`);
  return r.valid ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

test('a valid inventory passes and keeps its fields', () => {
  const r = validateInventory(VALID);
  assert.equal(r.valid, true);
  assert.equal(r.valid && r.result.workloads[0]!.ports[0], 8080);
  assert.deepEqual(r.valid && r.result, VALID);
});

test('every list is optional and ports default to none', () => {
  assert.deepEqual(validateInventory({}), { valid: true, result: { workloads: [], externals: [], vips: [] } });
  const r = validateInventory({ workloads: [{ name: 'vm', service: 'data/db', addresses: ['192.0.2.5'] }] });
  assert.deepEqual(r.valid && r.result.workloads[0]!.ports, []);
});

test('the result is a fresh value: changing the input afterwards does not change it', () => {
  const input = structuredClone(VALID);
  const r = validateInventory(input);
  input.workloads[0]!.addresses.push('10.213.0.99');
  input.workloads[0]!.ports.push(9);
  assert.deepEqual(r.valid && r.result.workloads[0], VALID.workloads[0]);
});

test('addresses come back in canonical text (IPv6 lower case, compressed)', () => {
  const r = validateInventory({
    workloads: [{ name: 'v6', service: 'shop/web', addresses: ['2001:DB8:0:0::1'] }],
    vips: [{ service: 'shop/web', address: 'FD00::0:10' }],
  });
  assert.equal(r.valid, true);
  assert.deepEqual(r.valid && r.result.workloads[0]!.addresses, ['2001:db8::1']);
  assert.equal(r.valid && r.result.vips[0]!.address, 'fd00::10');
});

test('a VIP whose service has no workloads is fine (they may come from another source)', () => {
  assert.equal(validateInventory({ vips: [{ service: 'shop/api', address: '10.213.255.2' }] }).valid, true);
});

test('every problem is reported with the path of the field', () => {
  const r = validateInventory({
    workloads: [{ name: '', service: 'Shop', addresses: ['300.1.1.1'], ports: [0], extra: 1 }],
    externals: 'no',
    vips: [{ service: 'shop/web', address: 'x' }],
    bogus: true,
  });
  assert.equal(r.valid, false);
  const paths = !r.valid ? r.errors.map((e) => e.path).sort() : [];
  assert.deepEqual(paths, [
    'bogus',
    'externals',
    'vips[0].address',
    'workloads[0].addresses[0]',
    'workloads[0].extra',
    'workloads[0].name',
    'workloads[0].ports[0]',
    'workloads[0].service',
  ]);
  assert.equal(validateInventory(null).valid, false);
  assert.equal(validateInventory([]).valid, false);
});

const w = (extra: Record<string, unknown>): Record<string, unknown> => ({
  name: 'web-1',
  service: 'shop/web',
  addresses: ['10.213.0.11'],
  ...extra,
});

const BAD: readonly (readonly [string, unknown, readonly string[]])[] = [
  ['null', null, [': expected a mapping with workloads, externals, vips, got nothing (null)']],
  ['a list', [], [': expected a mapping with workloads, externals, vips, got a list']],
  ['a string', 'x', [': expected a mapping with workloads, externals, vips, got "x"']],
  ['unknown top-level field', { bogus: 1 }, ['bogus: unknown field (allowed: workloads, externals, vips)']],
  [
    'apiVersion is not part of the API body',
    { apiVersion: 'nanoseg.io/v1alpha1' },
    ['apiVersion: unknown field (allowed: workloads, externals, vips)'],
  ],
  ['workloads not a list', { workloads: { a: 1 } }, ['workloads: expected a list of workloads, got a mapping']],
  ['externals not a list', { externals: 'no' }, ['externals: expected a list of externals, got "no"']],
  ['vips not a list', { vips: 3 }, ['vips: expected a list of VIPs, got 3']],
  [
    'workload not a mapping',
    { workloads: ['web'] },
    ['workloads[0]: expected a mapping with name, service, addresses, ports, interface, got "web"'],
  ],
  [
    'workload missing fields',
    { workloads: [{}] },
    [
      'workloads[0].name: required: a non-empty string',
      'workloads[0].service: required: a service name namespace/name (lowercase DNS labels)',
      'workloads[0].addresses: required: a list of IP addresses',
    ],
  ],
  [
    'workload unknown field',
    { workloads: [w({ labels: {} })] },
    ['workloads[0].labels: unknown field (allowed: name, service, addresses, ports, interface)'],
  ],
  ['empty name', { workloads: [w({ name: '' })] }, ['workloads[0].name: expected a non-empty string, got ""']],
  ['name not a string', { workloads: [w({ name: 7 })] }, ['workloads[0].name: expected a non-empty string, got 7']],
  [
    'service not namespace/name',
    { workloads: [w({ service: 'web' })] },
    ['workloads[0].service: expected a service name namespace/name (lowercase DNS labels), got "web"'],
  ],
  [
    'service in upper case',
    { workloads: [w({ service: 'Shop/Web' })] },
    ['workloads[0].service: expected a service name namespace/name (lowercase DNS labels), got "Shop/Web"'],
  ],
  [
    'addresses not a list',
    { workloads: [w({ addresses: '10.0.0.1' })] },
    ['workloads[0].addresses: expected a list of IP addresses, got "10.0.0.1"'],
  ],
  [
    'addresses empty',
    { workloads: [w({ addresses: [] })] },
    ['workloads[0].addresses: expected at least one IP address'],
  ],
  [
    'address not an IP',
    { workloads: [w({ addresses: ['10.0.0.256', 'db.local', 7] })] },
    [
      'workloads[0].addresses[0]: expected an IP address, got "10.0.0.256"',
      'workloads[0].addresses[1]: expected an IP address, got "db.local"',
      'workloads[0].addresses[2]: expected an IP address, got 7',
    ],
  ],
  [
    'address with a prefix length',
    { workloads: [w({ addresses: ['10.0.0.0/24'] })] },
    ['workloads[0].addresses[0]: expected an IP address, got "10.0.0.0/24" (one address, without a prefix length)'],
  ],
  [
    'IPv4-mapped IPv6 address',
    { workloads: [w({ addresses: ['::ffff:10.0.0.1'] })] },
    ['workloads[0].addresses[0]: "::ffff:10.0.0.1" is an IPv4-mapped IPv6 address: write 10.0.0.1'],
  ],
  ['ports not a list', { workloads: [w({ ports: 80 })] }, ['workloads[0].ports: expected a list of ports, got 80']],
  [
    'ports out of range or not integers',
    { workloads: [w({ ports: [0, 65536, 1.5, '80', null] })] },
    [
      'workloads[0].ports[0]: expected a port 1-65535, got 0',
      'workloads[0].ports[1]: expected a port 1-65535, got 65536',
      'workloads[0].ports[2]: expected a port 1-65535, got 1.5',
      'workloads[0].ports[3]: expected a port 1-65535, got "80"',
      'workloads[0].ports[4]: expected a port 1-65535, got nothing (null)',
    ],
  ],
  ['duplicate port', { workloads: [w({ ports: [80, 443, 80] })] }, ['workloads[0].ports[2]: duplicate port 80']],
  [
    'duplicate port in a long list',
    { workloads: [w({ ports: [...Array.from({ length: 20 }, (_, i) => 1000 + i), 1005] })] },
    ['workloads[0].ports[20]: duplicate port 1005'],
  ],
  [
    'duplicate workload name',
    { workloads: [w({}), w({ addresses: ['10.0.0.2'] })] },
    ['workloads[1].name: duplicate name "web-1" (also workloads[0].name)'],
  ],
  [
    'address claimed by two workloads',
    { workloads: [w({}), w({ name: 'web-2' })] },
    ['workloads[1].addresses[0]: duplicate address 10.213.0.11 (also workloads[0].addresses[0])'],
  ],
  [
    'address claimed twice by one workload',
    { workloads: [w({ addresses: ['10.0.0.1', '10.0.0.1'] })] },
    ['workloads[0].addresses[1]: duplicate address 10.0.0.1 (also workloads[0].addresses[0])'],
  ],
  [
    'the same IPv6 address written two ways',
    { workloads: [w({ addresses: ['2001:db8::1'] })], externals: [{ name: 'x', address: '2001:DB8:0::1' }] },
    ['externals[0].address: duplicate address 2001:db8::1 (also workloads[0].addresses[0])'],
  ],
  [
    'a VIP on a workload address',
    { workloads: [w({})], vips: [{ service: 'shop/web', address: '10.213.0.11' }] },
    ['vips[0].address: duplicate address 10.213.0.11 (also workloads[0].addresses[0])'],
  ],
  [
    'external not a mapping',
    { externals: [['a']] },
    ['externals[0]: expected a mapping with name, address, interface, got a list'],
  ],
  [
    'external missing and unknown fields',
    { externals: [{ host: 'db' }] },
    [
      'externals[0].host: unknown field (allowed: name, address, interface)',
      'externals[0].name: required: a non-empty string',
      'externals[0].address: required: an IP address',
    ],
  ],
  [
    'external address not an IP',
    { externals: [{ name: 'db', address: '' }] },
    ['externals[0].address: expected an IP address, got ""'],
  ],
  [
    'vip bad service and address',
    { vips: [{ service: 'shop', address: '10.0.0' }] },
    [
      'vips[0].service: expected a service name namespace/name (lowercase DNS labels), got "shop"',
      'vips[0].address: expected an IP address, got "10.0.0"',
    ],
  ],
  [
    'a long value is cut in the message',
    { workloads: [w({ name: 'x', service: 'y'.repeat(100) })] },
    [`workloads[0].service: expected a service name namespace/name (lowercase DNS labels), got "${'y'.repeat(55)}…"`],
  ],
];

for (const [name, doc, expected] of BAD) {
  test(`refused: ${name}`, () => {
    assert.deepEqual(errorsOf(doc), expected);
  });
}

test('errors come in document order, however the checks found them', () => {
  const errors = errorsOf({
    vips: [{ service: 'shop/web', address: '10.0.0.1' }],
    workloads: [{ name: 'a', service: 'shop/web', addresses: ['10.0.0.1'], zone: 'x' }],
    bogus: 1,
  });
  assert.deepEqual(errors, [
    'workloads[0].addresses[0]: duplicate address 10.0.0.1 (also vips[0].address)',
    'workloads[0].zone: unknown field (allowed: name, service, addresses, ports, interface)',
    'bogus: unknown field (allowed: workloads, externals, vips)',
  ]);
});

test('the file form needs apiVersion and kind; the document form refuses them', () => {
  const msgs = (v: unknown) => checkInventory(v, 'file').problems.map((p) => `${p.segments.join('.')}: ${p.message}`);
  assert.deepEqual(msgs({}), ['apiVersion: required: nanoseg.io/v1alpha1', 'kind: required: Inventory']);
  assert.deepEqual(msgs({ apiVersion: 'v1', kind: 'Lab' }), [
    'apiVersion: expected nanoseg.io/v1alpha1, got "v1"',
    'kind: expected Inventory, got "Lab"',
  ]);
  const ok = checkInventory({ apiVersion: 'nanoseg.io/v1alpha1', kind: 'Inventory', ...VALID }, 'file');
  assert.deepEqual(ok, { inventory: VALID, problems: [] });
  assert.equal(
    checkInventory({ apiVersion: 'nanoseg.io/v1alpha1', kind: 'Inventory' }, 'document').inventory,
    undefined,
  );
});

test('unknown fields are reported at the key (file parsers point there), everything else at the value', () => {
  const { problems } = checkInventory({ workloads: [w({ extra: 1, name: '' })] }, 'document');
  assert.deepEqual(
    problems.map((p) => [p.segments, p.atKey]),
    [
      [['workloads', 0, 'name'], false],
      [['workloads', 0, 'extra'], true],
    ],
  );
});

// The schemas become a CRD's openAPIV3Schema: the apiserver refuses a non-structural schema.
function structuralProblems(s: StructuralSchema, at: string): string[] {
  const out: string[] = [];
  const node = s as unknown as Record<string, unknown>;
  if (typeof node['type'] !== 'string') out.push(`${at}: no type`);
  for (const k of ['$ref', '$schema', '$id', 'definitions', '$defs', 'const', 'oneOf', 'anyOf', 'allOf', 'not'])
    if (k in node) out.push(`${at}: ${k} is not for CRDs`);
  if ('additionalProperties' in node && 'properties' in node)
    out.push(`${at}: additionalProperties next to properties`);
  if (node['uniqueItems'] === true) out.push(`${at}: uniqueItems`);
  if (s.properties !== undefined && s.type !== 'object') out.push(`${at}: properties on a ${s.type}`);
  if (s.items !== undefined && s.type !== 'array') out.push(`${at}: items on a ${s.type}`);
  if (s.type === 'array' && s.items === undefined) out.push(`${at}: a list without items`);
  for (const r of s.required ?? [])
    if (!(r in (s.properties ?? {}))) out.push(`${at}: required ${r} is not a property`);
  for (const [k, v] of Object.entries(s.properties ?? {})) out.push(...structuralProblems(v, `${at}.${k}`));
  if (s.items !== undefined) out.push(...structuralProblems(s.items, `${at}[]`));
  return out;
}

test('the schemas are structural (usable as a CRD openAPIV3Schema) and JSON-serialisable', () => {
  for (const s of [INVENTORY_SCHEMA, INVENTORY_FILE_SCHEMA]) {
    assert.deepEqual(structuralProblems(s, '$'), []);
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  }
  assert.equal(
    new RegExp(INVENTORY_SCHEMA.properties!['vips']!.items!.properties!['service']!.pattern!).test('a/b'),
    true,
  );
});

test('closedSchema closes every object that lists its properties, and leaves the schema itself alone', () => {
  const closed = closedSchema(INVENTORY_FILE_SCHEMA) as Record<string, unknown>;
  assert.equal(closed['additionalProperties'], false);
  const workloads = (closed['properties'] as Record<string, Record<string, unknown>>)['workloads']!;
  assert.equal((workloads['items'] as Record<string, unknown>)['additionalProperties'], false);
  assert.equal('additionalProperties' in INVENTORY_FILE_SCHEMA, false);
});

test('validation never throws, whatever the input', () => {
  const odd: unknown[] = [
    undefined,
    0,
    NaN,
    Symbol('s'),
    () => 1,
    new Date(0),
    new Map(),
    Object.create(null),
    JSON.parse('{"__proto__": {"workloads": 1}}'),
    { workloads: [null, undefined, [], { name: { toString: 1 } }] },
    { workloads: [w({ ports: [Infinity, -0, 1e400] })] },
    {
      vips: [
        { service: 'a/b', address: '::' },
        { service: 'a/b', address: '0:0::0' },
      ],
    },
  ];
  for (const v of odd) assert.doesNotThrow(() => validateInventory(v));
  assert.equal(validateInventory(Object.create(null)).valid, true);
  assert.deepEqual(errorsOf(JSON.parse('{"__proto__": {"workloads": 1}}')), [
    '__proto__: unknown field (allowed: workloads, externals, vips)',
  ]);
  assert.deepEqual(
    errorsOf({
      vips: [
        { service: 'a/b', address: '::' },
        { service: 'a/b', address: '0:0::0' },
      ],
    }),
    ['vips[1].address: duplicate address :: (also vips[0].address)'],
  );
});

test('a value that throws when read comes back as an error, not an exception', () => {
  const hostile = {
    get workloads(): never {
      throw new Error('boom');
    },
  };
  assert.deepEqual(validateInventory(hostile), {
    valid: false,
    errors: [{ path: '', message: 'internal error while validating: Error: boom' }],
  });
});
