import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicyFile } from '../../../xds-server/src/policy/file.js';
import { formatPolicyDocument, policyDocument } from '../../../xds-server/src/policy/document.js';
import type { ValidationResult } from '../../../xds-server/src/model/index.js';
import { normalizeRules, ruleKey } from '../../../xds-server/src/policy/rules.js';
import { emptyLatency, recordLatency } from '../../../xds-server/src/learn/latency.js';
import { apiPolicy, prng } from './fixtures.js';

/** 52 requests: 51 took 4 ms, one 100 ms; 2 failed */
function latency() {
  const h = emptyLatency();
  for (let i = 0; i < 51; i++) recordLatency(h, 4);
  recordLatency(h, 100);
  return h;
}
const evidence = () => ({
  firstSeen: 1_700_000_000_000,
  lastSeen: 1_700_000_060_000,
  count: 52,
  bytesSent: 1,
  bytesReceived: 2,
  exampleWorkloads: [],
  errors: 2,
  latency: latency(),
});

test('show prints the documented YAML', () => {
  const doc = policyDocument(apiPolicy, 'enforce', (side, r) =>
    side === 'ingress' && r.port === 9090 && r.protocol === 'http' ? evidence() : undefined,
  );
  assert.equal(
    formatPolicyDocument(doc),
    `apiVersion: nanoseg.io/v1alpha1
kind: Policy
service: shop/api
mode: enforce
ingress:
  - peer: {service: shop/web}
    protocol: http
    port: 9090
    evidence: {firstSeen: 2023-11-14T22:13:20.000Z, lastSeen: 2023-11-14T22:14:20.000Z, count: 52, errors: 2, errorRate: 0.0385, latency: {p50Ms: 3.61, p99Ms: 89.6}}
  - peer: {cidr: 192.0.2.0/24}
    protocol: tcp
    port: 9090
egress:
  - peer: {service: data/db}
    protocol: tcp
    port: 5432
  - peer: {cidr: 198.51.100.7/32}
    protocol: http
    port: 80
  - peer: {cidr: 203.0.113.10/32, sni: payments}
    protocol: tcp
    port: 443
`,
  );
});

test('round trip: show (YAML and JSON) → parse gives the same rules and mode', () => {
  for (const format of ['yaml', 'json'] as const) {
    const text = formatPolicyDocument(
      policyDocument(apiPolicy, 'monitor', () => evidence()),
      format,
    );
    const r = parsePolicyFile(text, `policy.${format}`);
    assert.ok(r.valid, JSON.stringify(!r.valid && r.errors));
    assert.equal(r.result.service, 'shop/api');
    assert.equal(r.result.mode, 'monitor');
    assert.deepEqual(r.result.ingress, normalizeRules(apiPolicy.ingress));
    assert.deepEqual(r.result.egress, normalizeRules(apiPolicy.egress));
  }
});

test('mode is optional on apply; empty or missing rule lists mean no rules', () => {
  const r = parsePolicyFile('apiVersion: nanoseg.io/v1alpha1\nkind: Policy\nservice: data/db\ningress:\n', 'p.yaml');
  assert.ok(r.valid);
  assert.deepEqual(r.result, { service: 'data/db', ingress: [], egress: [] });
});

test('addresses are canonical: IPv6 is compressed and lower-cased, SNI lower-cased', () => {
  const r = parsePolicyFile(
    `apiVersion: nanoseg.io/v1alpha1
kind: Policy
service: data/db
egress:
  - {peer: {cidr: "2001:DB8:0:0::0/64", sni: Payments.Example.COM}, protocol: tcp, port: 443}
`,
    'p.yaml',
  );
  assert.ok(r.valid, JSON.stringify(!r.valid && r.errors));
  assert.deepEqual(r.result.egress[0]!.peer, { cidr: '2001:db8::/64', sni: 'payments.example.com' });
});

function errorsOf(r: ValidationResult<unknown>): string[] {
  assert.equal(r.valid, false, 'expected errors');
  return r.valid ? [] : r.errors.map((e) => e.message);
}

const HEAD = 'apiVersion: nanoseg.io/v1alpha1\nkind: Policy\nservice: shop/api\n';

test('every kind of error names file:line:col and the field path; all errors at once', () => {
  const text = `${HEAD}ingress:
  - peer: {service: shop/web}
    protocol: http
    port: 70000
  - peer: {service: Shop_Web}
    protocol: ftp
    port: 80
  - peer: {cidr: 10.0.0.1/8}
    protocol: tcp
    port: 1
  - peer: {cidr: 10.0.0.1}
    protocol: tcp
    port: 2
  - peer: {service: shop/web, cidr: 10.0.0.0/8}
    protocol: tcp
    port: 3
  - peer: {service: shop/web, sni: x}
    protocol: tcp
    port: 4
  - peer: {}
    protocol: tcp
    port: 5
  - peer: {service: shop/web}
    protocol: http
    port: 9090
    colour: blue
  - peer: {cidr: 300.1.2.3/32}
    protocol: tcp
    port: 6
  - peer: {cidr: 10.0.0.0/33}
    protocol: tcp
    port: "7"
  - peer: {service: shop/web}
    port: 8
egress:
  - peer: {cidr: 203.0.113.10/32, sni: payments}
    protocol: tcp
    port: 443
  - peer: {cidr: 203.0.113.10/32, sni: payments}
    protocol: tcp
    port: 443
`;
  assert.deepEqual(errorsOf(parsePolicyFile(text, 'policy.yaml')), [
    'policy.yaml:7:11: ingress[0].port: 70000 is not a port (1-65535)',
    'policy.yaml:8:21: ingress[1].peer.service: "Shop_Web" is not a service name (namespace/name, lower case)',
    'policy.yaml:9:15: ingress[1].protocol: "ftp" is not a protocol (tcp|http|grpc|udp|icmp)',
    'policy.yaml:11:18: ingress[2].peer.cidr: "10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?)',
    'policy.yaml:14:18: ingress[3].peer.cidr: "10.0.0.1" is not a CIDR (write 10.0.0.1/32)',
    'policy.yaml:17:11: ingress[4].peer: exactly one of service or cidr is required',
    'policy.yaml:20:36: ingress[5].peer.sni: sni is only allowed with cidr',
    'policy.yaml:23:11: ingress[6].peer: exactly one of service or cidr is required',
    'policy.yaml:29:5: ingress[7].colour: unknown field (expected peer, protocol, port, paths, evidence)',
    'policy.yaml:30:18: ingress[8].peer.cidr: "300.1.2.3/32" is not a CIDR: "300.1.2.3" is not an IPv4 or IPv6 address',
    'policy.yaml:33:18: ingress[9].peer.cidr: "10.0.0.0/33" is not a CIDR: prefix length must be 0-32',
    'policy.yaml:35:11: ingress[9].port: "7" is not a port (1-65535)',
    'policy.yaml:36:5: ingress[10]: missing field protocol',
    'policy.yaml:42:5: egress[1]: duplicate rule: same peer, protocol and port as egress[0]',
  ]);
});

test('document-level errors: apiVersion, kind, service, mode, unknown and missing fields, shapes', () => {
  assert.deepEqual(
    errorsOf(
      parsePolicyFile(
        'apiVersion: v2\nkind: NetworkPolicy\nservice: api\nmode: strict\nspec: {}\ningress: {}\n',
        'p.yaml',
      ),
    ),
    [
      'p.yaml:5:1: spec: unknown field (expected apiVersion, kind, service, mode, l7, ingress, egress)',
      'p.yaml:1:13: apiVersion: "v2" is not supported (expected nanoseg.io/v1alpha1)',
      'p.yaml:2:7: kind: "NetworkPolicy" is not Policy',
      'p.yaml:3:10: service: "api" is not a service name (namespace/name, lower case)',
      'p.yaml:4:7: mode: "strict" is not a mode (learn|monitor|enforce)',
      'p.yaml:6:10: ingress: expected a list of rules',
    ],
  );
  assert.deepEqual(errorsOf(parsePolicyFile('kind: Policy\n', 'p.yaml')), [
    'p.yaml:1:1: missing field apiVersion',
    'p.yaml:1:1: missing field service',
  ]);
  assert.deepEqual(errorsOf(parsePolicyFile('', 'p.yaml')), ['p.yaml:1:1: empty document (expected a Policy)']);
  assert.deepEqual(errorsOf(parsePolicyFile('- a\n', 'p.yaml')), [
    'p.yaml:1:1: a policy must be a mapping (apiVersion, kind, service, ingress, egress)',
  ]);
  assert.deepEqual(
    errorsOf(parsePolicyFile(`${HEAD}egress: [1, {peer: shop/web, protocol: tcp, port: 1}]\n`, 'p.yaml')),
    [
      'p.yaml:4:10: egress[0]: a rule must be a mapping (peer, protocol, port)',
      'p.yaml:4:20: egress[1].peer: a peer must be a mapping: {service: namespace/name} or {cidr: ADDRESS/PREFIX, sni: NAME}',
    ],
  );
});

test('YAML syntax errors, duplicate keys and several documents are errors with positions', () => {
  const syntax = errorsOf(parsePolicyFile(`${HEAD}ingress: [\n`, 'p.yaml'));
  assert.equal(syntax.length >= 1, true);
  assert.match(syntax[0]!, /^p\.yaml:\d+:\d+: /);
  assert.deepEqual(errorsOf(parsePolicyFile(`${HEAD}service: data/db\n`, 'p.yaml')), [
    'p.yaml:4:1: Map keys must be unique',
  ]);
  assert.match(
    errorsOf(parsePolicyFile(`${HEAD}---\n${HEAD}`, 'p.yaml'))[0]!,
    /^p\.yaml:4:1: Source contains multiple documents/,
  );
});

test('JSON input is accepted, and its errors have positions too', () => {
  const ok = parsePolicyFile(
    '{"apiVersion":"nanoseg.io/v1alpha1","kind":"Policy","service":"a/b","ingress":[{"peer":{"service":"c/d"},"protocol":"grpc","port":50051}]}',
    'p.json',
  );
  assert.ok(ok.valid);
  assert.deepEqual(ok.result.ingress, [{ peer: { service: 'c/d' }, protocol: 'grpc', port: 50051 }]);
  assert.deepEqual(
    errorsOf(
      parsePolicyFile(
        '{"apiVersion":"nanoseg.io/v1alpha1","kind":"Policy","service":"a/b",\n "egress":[{"peer":{"cidr":"::1/128"},"protocol":"udp","port":0}]}',
        'p.json',
      ),
    ),
    ['p.json:2:63: egress[0].port: 0 is not a port (1-65535)'],
  );
});

test('evidence is accepted and ignored on apply; aliases are refused', () => {
  const r = parsePolicyFile(
    `${HEAD}ingress:\n  - {peer: {service: shop/web}, protocol: tcp, port: 1, evidence: {anything: [1, 2]}}\n`,
    'p.yaml',
  );
  assert.ok(r.valid);
  assert.deepEqual(
    errorsOf(
      parsePolicyFile(
        `${HEAD}ingress:\n  - {peer: &p {service: shop/web}, protocol: tcp, port: 1}\n  - {peer: *p, protocol: tcp, port: 2}\n`,
        'p.yaml',
      ),
    ),
    ['p.yaml:6:12: ingress[1].peer: aliases are not allowed in policy files'],
  );
});

test('property: random mutations of a valid file never throw and always give a ValidationResult', () => {
  const base = formatPolicyDocument(policyDocument(apiPolicy, 'enforce', () => evidence()));
  const json = formatPolicyDocument(policyDocument(apiPolicy, 'enforce'), 'json');
  const alphabet = [...': -{}[],#&*!|>\'"\n\t/.0123456789abcdefxyz%@`?', '\u0000', '\ud800', 'é'];
  const rand = prng(20261128);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  let valid = 0;
  for (let i = 0; i < 3000; i++) {
    let s = i % 3 === 0 ? json : base;
    const edits = 1 + Math.floor(rand() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rand() * (s.length + 1));
      switch (Math.floor(rand() * 5)) {
        case 0:
          s = s.slice(0, at) + pick(alphabet) + s.slice(at);
          break; // insert
        case 1:
          s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 8));
          break; // delete
        case 2:
          s = s.slice(0, at) + pick(alphabet) + s.slice(at + 1);
          break; // replace
        case 3: {
          // swap two lines
          const lines = s.split('\n');
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
    let r: ValidationResult<unknown>;
    assert.doesNotThrow(
      () => {
        r = parsePolicyFile(s, 'fuzz.yaml');
      },
      `input ${JSON.stringify(s)}`,
    );
    r = parsePolicyFile(s, 'fuzz.yaml');
    if (r.valid) {
      valid++;
      const p = r.result as { ingress: { port: number }[]; egress: { port: number }[] };
      for (const x of [...p.ingress, ...p.egress])
        assert.ok(Number.isInteger(x.port) && x.port >= 1 && x.port <= 65535);
      const keys = p.ingress.map((x) => ruleKey(x as never));
      assert.equal(new Set(keys).size, keys.length, 'no duplicate rules in a valid result');
    } else {
      assert.ok(r.errors.length > 0);
      for (const e of r.errors)
        assert.match(e.message, /^fuzz\.yaml:\d+:\d+: /, `error without position: ${e.message}`);
    }
  }
  assert.ok(valid > 0, 'some mutations stay valid (the generator is not only producing garbage)');
});

test('icmp rules have no port: shown without one, parsed without one, refused with one', () => {
  const doc = `apiVersion: nanoseg.io/v1alpha1
kind: Policy
service: shop/api
ingress:
  - {peer: {cidr: 203.0.113.10/32}, protocol: icmp}
egress:
  - {peer: {service: data/db}, protocol: udp, port: 53}
`;
  const r = parsePolicyFile(doc, 'p.yaml');
  assert.ok(r.valid, JSON.stringify(r));
  assert.deepEqual(r.result.ingress, [{ peer: { cidr: '203.0.113.10/32' }, protocol: 'icmp', port: 0 }]);
  const shown = formatPolicyDocument(
    policyDocument({ ...apiPolicy, ingress: r.result.ingress, egress: [] }, 'learn'),
    'yaml',
  );
  assert.match(shown, /protocol: icmp\n(?!\s+port)/);
  const bad = parsePolicyFile(doc.replace('protocol: icmp}', 'protocol: icmp, port: 7}'), 'p.yaml');
  assert.equal(bad.valid, false);
  assert.match(JSON.stringify(bad), /icmp has no port/);
  const noPort = parsePolicyFile(doc.replace('protocol: udp, port: 53', 'protocol: udp'), 'p.yaml');
  assert.equal(noPort.valid, false);
  assert.match(JSON.stringify(noPort), /missing field port/);
});
