import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T } from '../../../xds-server/src/generate/envoy-types.js';
import {
  denyAllRbac,
  inboundHttpRbac,
  inboundMatcher,
  inboundNetworkRbac,
  outboundHttpRbac,
  outboundMatcher,
  outboundNetworkRbac,
  rbacFilterRef,
} from '../../../xds-server/src/generate/rbac.js';
import type { GeneratedResource } from '../../../xds-server/src/generate/resource.js';
import type { Matcher } from '../../../proto/gen/xds/type/matcher/v3/matcher.js';
import { compilePolicy } from '../../../xds-server/src/policy/compile.js';
import type { Inventory, Mode, ServicePolicy, Workload } from '../../../xds-server/src/model/index.js';
import { apiPolicy, inventory, renderResource, rule } from './fixtures.js';
import { assertGolden } from '../../support/golden.js';
import { templateRegex, templatesRegex } from '../../../xds-server/src/generate/rbac-l7.js';

const MODES: readonly Mode[] = ['learn', 'monitor', 'enforce'];
const api = compilePolicy(apiPolicy, inventory);

function networkRbac(g: GeneratedResource) {
  const ext = T.extension.codec.decode(g.body);
  assert.equal(ext.name, g.name);
  assert.equal(ext.typedConfig?.typeUrl, T.networkRbac.url);
  return T.networkRbac.codec.decode(ext.typedConfig!.value);
}

function httpRbac(g: GeneratedResource) {
  const ext = T.extension.codec.decode(g.body);
  assert.equal(ext.typedConfig?.typeUrl, T.httpRbac.url);
  return T.httpRbac.codec.decode(ext.typedConfig!.value);
}

test('modes: learn = no rules, monitor = shadow only, enforce = rules and the same shadow', () => {
  for (const make of [inboundNetworkRbac, outboundNetworkRbac]) {
    const learn = networkRbac(make(api, 'learn', 'x'));
    assert.equal(learn.matcher, undefined);
    assert.equal(learn.shadowMatcher, undefined);
    assert.equal(learn.rules, undefined);
    assert.equal(learn.shadowRules, undefined);
    const monitor = networkRbac(make(api, 'monitor', 'x'));
    assert.equal(monitor.matcher, undefined);
    assert.ok(monitor.shadowMatcher);
    const enforce = networkRbac(make(api, 'enforce', 'x'));
    assert.ok(enforce.matcher);
    assert.deepEqual(enforce.shadowMatcher, enforce.matcher);
    assert.deepEqual(enforce.matcher, monitor.shadowMatcher);
    assert.ok(enforce.statPrefix.length > 0);
  }
  for (const [http, network] of [
    [inboundHttpRbac, inboundNetworkRbac],
    [outboundHttpRbac, outboundNetworkRbac],
  ] as const) {
    const enforce = httpRbac(http(api, 'enforce', 'x'));
    assert.deepEqual(enforce.matcher, enforce.shadowMatcher);
    // the HTTP filter of a side evaluates the same tree as its network filter
    assert.deepEqual(enforce.matcher, networkRbac(network(api, 'enforce', 'x')).matcher);
    const monitor = httpRbac(http(api, 'monitor', 'x'));
    assert.equal(monitor.matcher, undefined);
    assert.deepEqual(monitor.shadowMatcher, enforce.matcher);
    const learn = httpRbac(http(api, 'learn', 'x'));
    assert.equal(learn.matcher, undefined);
    assert.equal(learn.shadowMatcher, undefined);
  }
});

test("resources are ECDS TypedExtensionConfigs with the caller's name, deterministic", () => {
  const a = inboundNetworkRbac(api, 'enforce', 'inbound-rbac');
  assert.deepEqual([a.kind, a.typeUrl, a.name], ['extension', T.extension.url, 'inbound-rbac']);
  const shuffled = compilePolicy(
    { ...apiPolicy, ingress: [...apiPolicy.ingress].reverse(), egress: [...apiPolicy.egress].reverse() },
    inventory,
  );
  assert.deepEqual(inboundNetworkRbac(shuffled, 'enforce', 'inbound-rbac').body, a.body);
  assert.deepEqual(outboundNetworkRbac(shuffled, 'enforce', 'o').body, outboundNetworkRbac(api, 'enforce', 'o').body);
  assert.deepEqual(outboundHttpRbac(shuffled, 'enforce', 'o').body, outboundHttpRbac(api, 'enforce', 'o').body);
});

test('the listener reference subscribes to the ECDS resource by filter name', () => {
  assert.deepEqual(rbacFilterRef('network', 'inbound-rbac'), {
    name: 'inbound-rbac',
    configDiscovery: { configSource: { ads: {}, resourceApiVersion: 2 }, typeUrls: [T.networkRbac.url] },
  });
  assert.deepEqual(rbacFilterRef('http', 'h').configDiscovery.typeUrls, [T.httpRbac.url]);
});

/** Walks a matcher the way Envoy does, for the inputs given; returns the action name (or undefined). */
function evaluate(
  m: Matcher,
  inputs: { port: number; sourceIp?: string; destIp?: string; sni?: string },
): string | undefined {
  const t = m.matcherTree;
  const onMatch = (o: Matcher['onNoMatch']): string | undefined =>
    o?.action ? o.action.name : o?.matcher ? evaluate(o.matcher, inputs) : undefined;
  if (t) {
    const url = t.input!.typedConfig!.typeUrl;
    if (t.exactMatchMap) {
      const key =
        url === T.destinationPortInput.url
          ? String(inputs.port)
          : url === T.serverNameInput.url
            ? inputs.sni
            : undefined;
      const hit = key === undefined ? undefined : t.exactMatchMap.map[key];
      const r = hit ? onMatch(hit) : undefined;
      if (r !== undefined) return r;
    } else if (t.customMatch) {
      const ip = url === T.sourceIpInput.url ? inputs.sourceIp : inputs.destIp;
      const trie = T.ipMatcher.codec.decode(t.customMatch.typedConfig!.value);
      const hits = trie.rangeMatchers
        .flatMap((rm) =>
          rm.ranges
            .filter((r) => ip !== undefined && inRange(ip, r.addressPrefix, r.prefixLen ?? 0))
            .map((r) => ({ rm, len: r.prefixLen ?? 0 })),
        )
        .sort((a, b) => b.len - a.len);
      for (const h of hits) {
        const r = onMatch(h.rm.onMatch);
        if (r !== undefined) return r;
      }
    }
  }
  return onMatch(m.onNoMatch);
}

function inRange(ip: string, prefix: string, len: number): boolean {
  if (ip.includes(':') || prefix.includes(':'))
    return ip.includes(':') && prefix.includes(':') && (len === 128 ? ip === prefix : prefix.endsWith('::'));
  const n = (s: string) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);
  const size = 2 ** (32 - len);
  return Math.floor(n(ip) / size) === Math.floor(n(prefix) / size);
}

test('inbound matcher: port → source trie → the rule; otherwise ingress|no-rule', () => {
  const m = inboundMatcher(api);
  assert.equal(evaluate(m, { port: 9090, sourceIp: '10.213.0.11' }), 'ingress|shop/web|http/9090');
  assert.equal(evaluate(m, { port: 9090, sourceIp: '192.0.2.77' }), 'ingress|192.0.2.0/24|tcp/9090');
  assert.equal(evaluate(m, { port: 9090, sourceIp: '10.213.0.21' }), 'ingress|no-rule');
  assert.equal(evaluate(m, { port: 9091, sourceIp: '10.213.0.11' }), 'ingress|no-rule');
});

test('outbound matcher: port → destination trie → (SNI for tcp rules) → the rule; otherwise egress|no-rule', () => {
  const m = outboundMatcher(api);
  assert.equal(evaluate(m, { port: 5432, destIp: '10.213.0.252' }), 'egress|data/db|tcp/5432');
  assert.equal(evaluate(m, { port: 5432, destIp: '10.213.0.31' }), 'egress|data/db|tcp/5432');
  assert.equal(
    evaluate(m, { port: 443, destIp: '203.0.113.10', sni: 'payments' }),
    'egress|203.0.113.10/32#payments|tcp/443',
  );
  assert.equal(evaluate(m, { port: 443, destIp: '203.0.113.10', sni: 'other' }), 'egress|no-rule');
  assert.equal(evaluate(m, { port: 443, destIp: '203.0.113.10' }), 'egress|no-rule');
  assert.equal(evaluate(m, { port: 80, destIp: '198.51.100.7', sni: 'x' }), 'egress|198.51.100.7/32|http/80');
  assert.equal(evaluate(m, { port: 5432, destIp: '10.213.0.21' }), 'egress|no-rule');
});

test('a wider rule without SNI still allows what a narrower SNI rule does not (ranges are not exclusive)', () => {
  const p: ServicePolicy = {
    ...apiPolicy,
    egress: [
      rule({ cidr: '203.0.113.10/32', sni: 'payments' }, 'tcp', 443),
      rule({ cidr: '203.0.113.0/24' }, 'tcp', 443),
    ],
  };
  const m = outboundMatcher(compilePolicy(p, inventory));
  assert.equal(
    evaluate(m, { port: 443, destIp: '203.0.113.10', sni: 'payments' }),
    'egress|203.0.113.10/32#payments|tcp/443',
  );
  assert.equal(evaluate(m, { port: 443, destIp: '203.0.113.10', sni: 'other' }), 'egress|203.0.113.0/24|tcp/443');
});

test("udp and icmp rules are not part of the TCP listeners' RBAC; nothing allowed = deny-all", () => {
  const p: ServicePolicy = {
    ...apiPolicy,
    ingress: [rule({ service: 'shop/web' }, 'udp', 53), rule({ service: 'shop/web' }, 'icmp', 0)],
    egress: [rule({ cidr: '192.0.2.53/32' }, 'udp', 53), rule({ cidr: '192.0.2.53/32' }, 'icmp', 0)],
  };
  const c = compilePolicy(p, inventory);
  assert.deepEqual(inboundMatcher(c).matcherTree, undefined);
  assert.equal(inboundMatcher(c).onNoMatch?.action?.name, 'ingress|no-rule');
  assert.equal(outboundMatcher(c).onNoMatch?.action?.name, 'egress|no-rule');
  assert.deepEqual(networkRbac(denyAllRbac('network', 'egress', 'enforce', 'd')).matcher, outboundMatcher(c));
});

test('scale: 10,000 allowed addresses are one trie per port, grouped per rule (not 10,000 principals)', () => {
  const many: Workload[] = Array.from({ length: 10_000 }, (_, i) => ({
    name: `gen-${i}`,
    service: 'load/gen',
    addresses: [`10.${100 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`],
    ports: [],
  }));
  const inv: Inventory = { ...inventory, workloads: [...inventory.workloads, ...many] };
  const p: ServicePolicy = {
    ...apiPolicy,
    ingress: [...apiPolicy.ingress, rule({ service: 'load/gen' }, 'tcp', 9090)],
  };
  const small = inboundMatcher(compilePolicy(apiPolicy, inv));
  const big = inboundMatcher(compilePolicy(p, inv));
  const tries = (m: Matcher) =>
    Object.values(m.matcherTree!.exactMatchMap!.map).map((o) =>
      T.ipMatcher.codec.decode(o.matcher!.matcherTree!.customMatch!.typedConfig!.value),
    );
  assert.equal(tries(big).length, tries(small).length, 'one trie per port either way');
  assert.deepEqual(
    tries(big)[0]!.rangeMatchers.map((r) => r.ranges.length),
    [10_000, 2, 1],
  );
  assert.equal(evaluate(big, { port: 9090, sourceIp: '10.100.39.15' }), 'ingress|load/gen|tcp/9090');
  // enforce carries the tree twice (matcher + shadow_matcher): ~20 bytes per address per copy
  const bytes = inboundNetworkRbac(compilePolicy(p, inv), 'enforce', 'x').body.length;
  assert.ok(bytes < 10_000 * 2 * 25, `about ${Math.round(bytes / 10_000)} bytes per address`);
});

test('golden: representative policies in every mode', () => {
  for (const mode of MODES) {
    assertGolden(
      `policy/shop-api-${mode}.json`,
      [
        inboundNetworkRbac(api, mode, 'inbound-rbac'),
        inboundHttpRbac(api, mode, 'inbound-http-rbac'),
        outboundNetworkRbac(api, mode, 'outbound-rbac'),
        outboundHttpRbac(api, mode, 'outbound-http-rbac'),
      ].map(renderResource),
    );
  }
  assertGolden(
    'policy/deny-all-enforce.json',
    [
      denyAllRbac('network', 'ingress', 'enforce', 'inbound-rbac'),
      denyAllRbac('http', 'ingress', 'enforce', 'inbound-http-rbac'),
      denyAllRbac('network', 'egress', 'enforce', 'outbound-rbac'),
      denyAllRbac('http', 'egress', 'enforce', 'outbound-http-rbac'),
    ].map(renderResource),
  );
});

test('golden: L7 inbound HTTP RBAC (rules with paths match method + path; no paths = any path)', () => {
  const l7Policy: ServicePolicy = {
    ...apiPolicy,
    ingress: apiPolicy.ingress.map((r, i) =>
      i === 0 && (r.protocol === 'http' || r.protocol === 'grpc')
        ? {
            ...r,
            paths: [
              { method: 'POST', path: '/items' },
              { method: 'GET', path: '/items/{id}' },
              { method: '*', path: '/static/*' },
            ],
          }
        : r,
    ),
  };
  assert.ok(
    l7Policy.ingress.some((r) => r.paths !== undefined),
    'the fixture has an http ingress rule first',
  );
  const compiled = compilePolicy(l7Policy, inventory);
  assertGolden('policy/shop-api-l7-enforce.json', [
    renderResource(inboundHttpRbac(compiled, 'enforce', 'inbound-http-rbac', true)),
  ]);
  // without L7 the same policy's paths are not evaluated
  assert.deepEqual(
    renderResource(inboundHttpRbac(compiled, 'enforce', 'x', false)),
    renderResource(inboundHttpRbac(api, 'enforce', 'x', false)),
  );
});

test('template regexes: {id} is one segment, PREFIX/* covers the prefix, the query string is allowed', () => {
  const cases: [string, string[], string[]][] = [
    ['/items/{id}', ['/items/42', '/items/42?x=1'], ['/items', '/items/', '/items/4/2', '/itemsX/4']],
    ['/static/*', ['/static', '/static/a/b', '/static?x'], ['/staticx', '/stati']],
    ['/*', ['/', '/a/b', ''], []],
    ['/', ['/', '/?q'], ['/a']],
    ['/a.b/(x)', ['/a.b/(x)'], ['/aXb/(x)', '/a.b/x']],
  ];
  for (const [tpl, yes, no] of cases) {
    const re = new RegExp(templateRegex(tpl));
    for (const p of yes) assert.ok(re.test(p), `${tpl} matches ${p}`);
    for (const p of no) assert.ok(!re.test(p), `${tpl} does not match ${p}`);
  }
});

test('one regex for many templates matches exactly what one of them matches', () => {
  const templates = ['/items', '/items/{id}', '/items/{id}/tags', '/static/*', '/a.b/(x)', '/'];
  const paths = [
    '/items',
    '/items?x',
    '/items/4',
    '/items/4/tags',
    '/items/4/tags/5',
    '/static',
    '/static/a/b',
    '/staticx',
    '/a.b/(x)',
    '/aXb/(x)',
    '/',
    '/?q',
    '/other',
    '',
    '/items/',
  ];
  const all = new RegExp(templatesRegex(templates));
  for (const p of paths) {
    const one = templates.some((t) => new RegExp(templateRegex(t)).test(p));
    assert.equal(all.test(p), one, `${p}: ${one ? 'one template matches' : 'no template matches'}`);
  }
  assert.equal(templatesRegex(['/items']), templateRegex('/items'));
});
