import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateProxy, emptyPolicy, render, T, type ProxyInput } from '../../../xds-server/src/generate/index.js';
import {
  makeSnapshot,
  checkConsistency,
  resource,
  CDS,
  EDS,
  LDS,
  RDS,
  ECDS,
} from '../../../xds-server/src/xds/index.js';
import type { Inventory, Mode, ServicePolicy } from '../../../xds-server/src/model/index.js';
import { assertGolden } from '../../support/golden.js';
import { Builder } from '../../../xds-server/src/generate/listeners.js';
import { DEFAULT_SETTINGS } from '../../../xds-server/src/generate/names.js';

const INV: Inventory = {
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [8080] },
    { name: 'web-2', service: 'shop/web', addresses: ['10.213.0.12'], ports: [8080] },
    { name: 'db-1', service: 'shop/db', addresses: ['10.213.0.21'], ports: [5432] },
    { name: 'loadgen', service: 'shop/loadgen', addresses: ['10.213.0.30'], ports: [] },
  ],
  externals: [{ name: 'payments', address: '203.0.113.10' }],
  vips: [
    { service: 'shop/web', address: '10.213.255.1' },
    { service: 'shop/db', address: '10.213.255.2' },
  ],
};

const T_LISTENER = LDS;
const KIND = { cluster: CDS, endpoints: EDS, listener: LDS, route: RDS, extension: ECDS } as const;

function input(
  service: string,
  inv: Inventory,
  mode: Mode = 'learn',
  policy: ServicePolicy = emptyPolicy(service),
): ProxyInput {
  return {
    identity: { service },
    inventory: inv,
    mode,
    policy,
  };
}

function rendered(inv: Inventory) {
  return generateProxy(input('shop/loadgen', inv)).map((r) => ({
    name: r.name,
    deps: r.deps,
    config: render(r.typeUrl, r.body),
  }));
}

test('learn-mode sidecar config matches the golden file', () => {
  assertGolden('generate/learn-sidecar.json', rendered(INV));
  assertGolden('generate/learn-sidecar-empty.json', rendered({ workloads: [], externals: [], vips: [] }));
});

test('generation is deterministic: the same input gives byte-identical resources', () => {
  const a = generateProxy(input('shop/loadgen', INV));
  const b = generateProxy(
    input('shop/loadgen', { ...INV, workloads: [...INV.workloads].reverse(), vips: [...INV.vips].reverse() }),
  );
  assert.deepEqual(
    a.map((r) => [r.name, r.body.toString('hex')]),
    b.map((r) => [r.name, r.body.toString('hex')]),
  );
});

test('every generated snapshot passes the consistency check (each EDS/RDS name referenced, each dep present)', () => {
  const gen = generateProxy(input('shop/web', INV));
  const snap = makeSnapshot(
    gen.map((g) =>
      resource(
        KIND[g.kind],
        g.name,
        g.body,
        g.deps.map((d) => ({ typeUrl: KIND[d.kind], name: d.name })),
      ),
    ),
  );
  const r = checkConsistency(snap);
  assert.equal(r.valid, true, JSON.stringify(!r.valid && r.errors));
});

test('a VIP service gets an EDS cluster per port with every replica as endpoint', () => {
  const gen = generateProxy(input('shop/loadgen', INV));
  const eds = gen.find((g) => g.kind === 'endpoints' && g.name === 'outbound|8080||shop/web');
  assert.ok(eds);
  const text = JSON.stringify(render(eds.typeUrl, eds.body));
  assert.match(text, /10\.213\.0\.11/);
  assert.match(text, /10\.213\.0\.12/);
  assert.ok(gen.some((g) => g.kind === 'cluster' && g.name === 'outbound|5432||shop/db'));
  // a service without declared ports gets no VIP routing
  assert.ok(!gen.some((g) => g.name.includes('shop/loadgen')));
});

test('a VIP balances only over replicas that take new connections (not Ready or terminating: no endpoint)', () => {
  const edsOf = (inv: Inventory) => {
    const eds = generateProxy(input('shop/loadgen', inv)).find(
      (g) => g.kind === 'endpoints' && g.name === 'outbound|8080||shop/web',
    );
    return JSON.stringify(render(eds!.typeUrl, eds!.body));
  };
  const oneOut = {
    ...INV,
    workloads: INV.workloads.map((w) => (w.name === 'web-2' ? { ...w, serving: false as const } : w)),
  };
  const text = edsOf(oneOut);
  assert.match(text, /10\.213\.0\.11/);
  assert.doesNotMatch(text, /10\.213\.0\.12/);
  // none serving: an empty assignment (Envoy answers 503 at once), like a Service without ready endpoints
  const noneOut = { ...INV, workloads: INV.workloads.map((w) => ({ ...w, serving: false as const })) };
  assert.doesNotMatch(edsOf(noneOut), /10\.213\.0\.1[12]/);
  // the not-serving replica is still who its address is: loadgen's listeners are the same
  const listeners = (inv: Inventory) =>
    generateProxy(input('shop/loadgen', inv))
      .filter((g) => g.kind !== 'endpoints')
      .map((g) => [g.name, g.body.toString('base64')]);
  assert.deepEqual(listeners(oneOut), listeners(INV));
});

const WEB_POLICY: ServicePolicy = {
  service: 'shop/web',
  origin: 'learned',
  updatedAt: 0,
  ingress: [{ peer: { service: 'shop/loadgen' }, protocol: 'http', port: 8080 }],
  egress: [
    { peer: { service: 'shop/db' }, protocol: 'tcp', port: 5432 },
    { peer: { cidr: '203.0.113.10/32' }, protocol: 'tcp', port: 443 },
  ],
};

function outboundOf(gen: ReturnType<typeof generateProxy>) {
  const l = gen.find((g) => g.kind === 'listener' && g.name === 'outbound')!;
  return render(l.typeUrl, l.body) as { filterChains: { name: string }[]; defaultFilterChain: { name: string } };
}

test('enforce: unlisted destinations go to the blackhole (no connection attempted), allowed ones get their own chains', () => {
  const gen = generateProxy({ ...input('shop/web', INV, 'enforce', WEB_POLICY), scope: new Set(['shop/db']) });
  assertGolden(
    'generate/enforce-sidecar.json',
    gen.map((r) => ({ name: r.name, deps: r.deps, config: render(r.typeUrl, r.body) })),
  );
  const out = outboundOf(gen);
  assert.equal(out.defaultFilterChain.name, 'deny|tcp');
  assert.match(JSON.stringify(out.defaultFilterChain), /"cluster":"blackhole"/);
  assert.match(JSON.stringify(out.defaultFilterChain), /outbound-deny/);
  const names = out.filterChains.map((c) => c.name);
  // scoped: only the VIP of the egress service; direct chains for the db pod address and the external
  assert.deepEqual(
    names.filter((n) => n.startsWith('outbound|')),
    ['outbound|5432||shop/db|http', 'outbound|5432||shop/db|tcp'],
  );
  assert.ok(names.includes('direct|5432|10.213.0.21/32|tcp'));
  assert.ok(names.includes('direct|443|203.0.113.10/32|tcp'));
  assert.ok(!names.includes('passthrough|http'), 'no passthrough in enforce');
  assert.ok(gen.some((g) => g.kind === 'extension' && g.name === 'nanoseg.rbac.inbound'));
});

test('policy and mode changes touch only ECDS resources, never the listeners of learned destinations', () => {
  const monitor = generateProxy(input('shop/web', INV, 'monitor', WEB_POLICY));
  const tighter = generateProxy(input('shop/web', INV, 'monitor', { ...WEB_POLICY, ingress: [] }));
  const changed = monitor.filter((g, i) => !g.body.equals(tighter[i]!.body)).map((g) => `${g.kind}/${g.name}`);
  assert.deepEqual(changed, ['extension/nanoseg.rbac.inbound', 'extension/nanoseg.rbac.inbound-http']);
  // egress tightened: both outbound RBAC configs change, and the removed destination loses its own chain
  const noExternal = generateProxy(
    input('shop/web', INV, 'monitor', { ...WEB_POLICY, egress: WEB_POLICY.egress.slice(0, 1) }),
  );
  const changedOut = monitor.filter((g, i) => !g.body.equals(noExternal[i]!.body)).map((g) => `${g.kind}/${g.name}`);
  assert.deepEqual(changedOut, [
    'extension/nanoseg.rbac.outbound',
    'extension/nanoseg.rbac.outbound-http',
    'listener/outbound',
  ]);
  // learn → monitor with the same rules: only RBAC configs change
  const learn = generateProxy(input('shop/web', INV, 'learn', WEB_POLICY));
  const modeChanged = learn.filter((g, i) => !g.body.equals(monitor[i]!.body)).map((g) => `${g.kind}/${g.name}`);
  assert.deepEqual(
    modeChanged.filter((n) => !n.startsWith('extension/')),
    [],
  );
});

test("revoking ingress on a port while enforced bumps that port's chain generation only (Envoy drains just it)", () => {
  const two: ServicePolicy = {
    ...WEB_POLICY,
    ingress: [...WEB_POLICY.ingress, { peer: { service: 'shop/db' }, protocol: 'tcp', port: 9000 }],
  };
  const a = generateProxy(input('shop/web', INV, 'enforce', two));
  const b = generateProxy({ ...input('shop/web', INV, 'enforce', two), inboundGenerations: { 9000: 1 } });
  const chains = (g: typeof a) =>
    (
      render(T_LISTENER, g.find((x) => x.kind === 'listener' && x.name === 'inbound')!.body) as {
        filterChains: { name: string }[];
      }
    ).filterChains;
  assert.deepEqual(
    chains(b).map((c) => c.name),
    ['inbound|8080|http', 'inbound|8080|tcp', 'inbound|9000|http|g1', 'inbound|9000|tcp|g1'],
  );
  // the 8080 chains are byte-identical, so Envoy keeps their connections
  assert.deepEqual(chains(a).slice(0, 2), chains(b).slice(0, 2));
});

test('every mode and policy shape gives a consistent snapshot (no unreferenced route in enforce)', () => {
  const policies: ServicePolicy[] = [
    emptyPolicy('data/db'),
    { ...WEB_POLICY, service: 'data/db', egress: [] },
    { ...WEB_POLICY, service: 'data/db' },
  ];
  for (const mode of ['learn', 'monitor', 'enforce'] as const) {
    for (const policy of policies) {
      for (const scope of [undefined, new Set<string>()]) {
        const gen = generateProxy({ ...input('data/db', INV, mode, policy), scope });
        const snap = makeSnapshot(
          gen.map((g) =>
            resource(
              KIND[g.kind],
              g.name,
              g.body,
              g.deps.map((d) => ({ typeUrl: KIND[d.kind], name: d.name })),
            ),
          ),
        );
        const r = checkConsistency(snap);
        assert.equal(
          r.valid,
          true,
          `${mode} ${JSON.stringify(policy.egress)} scope=${scope ? 'empty' : 'all'}: ${JSON.stringify(!r.valid && r.errors)}`,
        );
      }
    }
  }
});

interface RenderedFilter {
  name: string;
  configDiscovery?: { typeUrls: string[] };
  typedConfig?: { '@type': string; httpFilters?: RenderedFilter[]; accessLog?: unknown[] };
}
interface RenderedChain {
  name: string;
  filters: RenderedFilter[];
}

/** Every chain of both listeners, default chains included. */
function chainsOf(gen: ReturnType<typeof generateProxy>): { listener: string; chain: RenderedChain }[] {
  return gen
    .filter((g) => g.kind === 'listener')
    .flatMap((g) => {
      const l = render(g.typeUrl, g.body) as { filterChains?: RenderedChain[]; defaultFilterChain: RenderedChain };
      return [...(l.filterChains ?? []), l.defaultFilterChain].map((chain) => ({ listener: g.name, chain }));
    });
}

test('the RBAC verdict of every chain reaches its access log: HTTP chains use HTTP RBAC, TCP chains network RBAC', () => {
  // A network RBAC filter in front of an HCM would be silent: its shadow result is connection metadata, which
  // HTTP access-log entries do not carry (monitor reports nothing), and its denial closes the connection before
  // the HCM logs a request (enforce blocks without an alert).
  const policies: ServicePolicy[] = [emptyPolicy('shop/web'), WEB_POLICY];
  for (const mode of ['learn', 'monitor', 'enforce'] as const) {
    for (const policy of policies) {
      for (const scope of [undefined, new Set(['shop/db'])]) {
        for (const { listener, chain } of chainsOf(generateProxy({ ...input('shop/web', INV, mode, policy), scope }))) {
          const at = `${mode} ${listener} ${chain.name}`;
          const last = chain.filters[chain.filters.length - 1]!;
          if (last.name === 'envoy.filters.network.http_connection_manager') {
            assert.equal(chain.filters.length, 1, `${at}: nothing in front of the HCM`);
            const rbac = last.typedConfig!.httpFilters![0]!;
            assert.equal(
              rbac.name,
              listener === 'inbound' ? 'nanoseg.rbac.inbound-http' : 'nanoseg.rbac.outbound-http',
              at,
            );
            assert.deepEqual(rbac.configDiscovery?.typeUrls, [T.httpRbac.url], at);
          } else {
            assert.equal(last.name, 'envoy.filters.network.tcp_proxy', at);
            assert.equal(chain.filters.length, 2, at);
            assert.equal(
              chain.filters[0]!.name,
              listener === 'inbound' ? 'nanoseg.rbac.inbound' : 'nanoseg.rbac.outbound',
              at,
            );
            assert.deepEqual(chain.filters[0]!.configDiscovery?.typeUrls, [T.networkRbac.url], at);
          }
        }
      }
    }
  }
});

test('the outbound HTTP RBAC evaluates the same egress tree as the network one, in every mode', () => {
  for (const mode of ['learn', 'monitor', 'enforce'] as const) {
    const gen = generateProxy(input('shop/web', INV, mode, WEB_POLICY));
    const config = (name: string) => {
      const ext = T.extension.codec.decode(gen.find((g) => g.kind === 'extension' && g.name === name)!.body);
      return ext.typedConfig!;
    };
    const network = T.networkRbac.codec.decode(config('nanoseg.rbac.outbound').value);
    const http = T.httpRbac.codec.decode(config('nanoseg.rbac.outbound-http').value);
    assert.equal(config('nanoseg.rbac.outbound-http').typeUrl, T.httpRbac.url);
    assert.deepEqual(http.matcher, network.matcher, mode);
    assert.deepEqual(http.shadowMatcher, network.shadowMatcher, mode);
  }
});

test('endpoints are encoded once per address set, and a replaced address set is not kept', () => {
  const b = new Builder(DEFAULT_SETTINGS);
  const first = b.endpoints('outbound|80||shop/web', ['10.0.0.1', '10.0.0.2'], 80);
  assert.equal(b.endpoints('outbound|80||shop/web', ['10.0.0.1', '10.0.0.2'], 80), first, 'same set: the same object');
  const second = b.endpoints('outbound|80||shop/web', ['10.0.0.1', '10.0.0.3'], 80);
  assert.notEqual(second, first);
  assert.match(JSON.stringify(render(second.typeUrl, second.body)), /10\.0\.0\.3/);
  // another cluster has its own slot: asking for it does not push the web endpoints out
  b.endpoints('outbound|5432||shop/db', ['10.0.0.9'], 5432);
  assert.equal(b.endpoints('outbound|80||shop/web', ['10.0.0.1', '10.0.0.3'], 80), second);
  // back to the first set: built again (the churned-away set was dropped), byte-identical to before
  const again = b.endpoints('outbound|80||shop/web', ['10.0.0.1', '10.0.0.2'], 80);
  assert.notEqual(again, first);
  assert.deepEqual(again.body, first.body);
});
