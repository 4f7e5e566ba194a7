// Acceptance by a real Envoy: L7 enforcement (docs/l7.md). The inbound HTTP RBAC of a service with L7 on, as
// generated, is delivered over ECDS by our ADS server; by behaviour, a learned method + path template passes, a new
// path or a new method from the same source is refused with a 403, a rule without paths still allows any path, and
// in monitor everything passes while Envoy counts the would-denies. Skips without root or without Envoy/curl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { HttpConnectionManager_CodecType } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import { T, encode, pack } from '../../xds-server/src/generate/envoy-types.js';
import { inboundHttpRbac, rbacFilterRef } from '../../xds-server/src/generate/rbac.js';
import { compilePolicy } from '../../xds-server/src/policy/compile.js';
import type { Inventory, Mode, ServicePolicy } from '../../xds-server/src/model/index.js';
import { ECDS, LDS, makeSnapshot, resource } from '../../xds-server/src/xds/index.js';
import { findEnvoy } from '../../xds-server/src/util/envoy.js';
import { waitFor } from '../support/cli.js';
import { startAdsWithEnvoy } from './support.js';

const exec = promisify(execFile);

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (network namespace)';
  try {
    findEnvoy();
  } catch {
    return 'Envoy not installed';
  }
  return false;
}

const inventory: Inventory = {
  workloads: [
    { name: 'api-1', service: 'shop/api', addresses: ['127.0.0.11'], ports: [9090] },
    { name: 'web-1', service: 'shop/web', addresses: ['127.0.0.12'], ports: [] },
    { name: 'ops-1', service: 'shop/ops', addresses: ['127.0.0.13'], ports: [] },
  ],
  externals: [],
  vips: [],
};

const policy: ServicePolicy = {
  service: 'shop/api',
  ingress: [
    {
      peer: { service: 'shop/web' },
      protocol: 'http',
      port: 9090,
      paths: [
        { method: 'POST', path: '/items' },
        { method: 'GET', path: '/items/{id}' },
        { method: 'GET', path: '/static/*' },
        { method: '*', path: '/health' },
        // more templates of one method than one regex holds (generate/rbac-l7.ts): Envoy takes the alternations
        ...Array.from({ length: 150 }, (_, i) => ({ method: 'GET', path: `/bulk/n${i}/{id}` })),
      ],
    },
    { peer: { service: 'shop/ops' }, protocol: 'http', port: 9090 },
  ],
  egress: [],
  origin: 'learned',
  updatedAt: 0,
};

function snapshot(mode: Mode) {
  const hcm = {
    statPrefix: 'in-http',
    codecType: HttpConnectionManager_CodecType.AUTO,
    routeConfig: {
      name: 'in-http',
      virtualHosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, directResponse: { status: 200, body: { inlineString: 'ok' } } }],
        },
      ],
    },
    httpFilters: [
      rbacFilterRef('http', 'rbac-l7'),
      { name: 'envoy.filters.http.router', typedConfig: pack(T.router, {}) },
    ],
  };
  const body = encode(T.listener, {
    name: 'in-http',
    address: { socketAddress: { address: '0.0.0.0', portValue: 9090 } },
    filterChains: [
      { filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: pack(T.hcm, hcm) }] },
    ],
  });
  const rbac = inboundHttpRbac(compilePolicy(policy, inventory), mode, 'rbac-l7', true);
  return makeSnapshot([
    resource(LDS, 'in-http', body, [{ typeUrl: ECDS, name: 'rbac-l7' }]),
    resource(ECDS, rbac.name, rbac.body),
  ]);
}

test(
  'L7 enforced by a real Envoy: learned method + path templates pass, a new path or method is refused',
  { skip: skipReason(), timeout: 60_000 },
  async (t) => {
    const { cache, acks, nacks, envoy } = await startAdsWithEnvoy(t, {
      prefix: 'nanoseg-l7-',
      name: 'l7',
      nodeId: 'api-1.shop',
      cluster: 'shop/api',
    });

    const apply = async (mode: Mode) => {
      const snap = snapshot(mode);
      assert.ok(cache.setSnapshot('api-1.shop', snap).valid);
      await waitFor(
        `ECDS ACK (${mode})`,
        () => acks.includes(`${ECDS} ${snap.types[ECDS].version}`) || nacks.length > 0,
        15_000,
        100,
      );
      assert.deepEqual(nacks, [], envoy.logTail());
    };
    const enforce = snapshot('enforce');
    assert.ok(cache.setSnapshot('api-1.shop', enforce).valid);
    await envoy.start();
    await apply('enforce');
    await waitFor(
      'listener active',
      async () => (await envoy.listeners()).get('in-http')?.port !== undefined,
      15_000,
      100,
    );

    const probe = async (src: string, method: string, path: string): Promise<string> => {
      const r = await exec('ip', [
        'netns',
        'exec',
        envoy.ns,
        'curl',
        '-sS',
        '--max-time',
        '3',
        '--interface',
        src,
        '-X',
        method,
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `http://127.0.0.1:9090${path}`,
      ]);
      return r.stdout.trim();
    };
    const web = '127.0.0.12';
    const cases: [string, string, string, string][] = [
      [web, 'GET', '/items/42', '200'],
      [web, 'GET', '/items/42?expand=1', '200'], // the query string is not part of the template
      [web, 'GET', '/items/3f2504e0-4f89-11d3-9a0c-0305e82c3301', '200'],
      [web, 'POST', '/items', '200'],
      [web, 'GET', '/static', '200'], // PREFIX/* covers the prefix itself
      [web, 'GET', '/static/css/site.css', '200'],
      [web, 'DELETE', '/items/42', '403'], // a new method on a learned path
      [web, 'GET', '/users/7', '403'], // a new path
      [web, 'GET', '/items/42/tags', '403'], // {id} is one segment
      [web, 'GET', '/items', '403'], // POST only
      [web, 'GET', '/staticx', '403'],
      [web, 'GET', '/bulk/n0/1', '200'],
      [web, 'GET', '/bulk/n149/1?x=2', '200'], // in the third regex of GET's templates
      [web, 'GET', '/bulk/n150/1', '403'],
      [web, 'POST', '/bulk/n7/1', '403'],
      [web, 'DELETE', '/health', '200'], // any method: a method with no templates of its own
      [web, 'GET', '/health?full', '200'], // and one with templates, none of which matches
      [web, 'GET', '/healthz', '403'],
      ['127.0.0.13', 'DELETE', '/anything/at/all', '200'], // a rule without paths allows any path
      ['127.0.0.11', 'GET', '/items/42', '403'], // no rule for this source
    ];
    for (const [src, m, p, want] of cases) assert.equal(await probe(src, m, p), want, `enforce: ${src} ${m} ${p}`);

    const shadowDenied = await envoy.stat('http.in-http.rbac.shadow_denied');
    await apply('monitor');
    for (const [src, m, p] of cases) assert.equal(await probe(src, m, p), '200', `monitor: ${src} ${m} ${p} passes`);
    const wouldDeny = cases.filter((c) => c[3] === '403').length;
    assert.equal(
      (await envoy.stat('http.in-http.rbac.shadow_denied')) - shadowDenied,
      wouldDeny,
      'each refused request is a would-deny in monitor',
    );
  },
);
