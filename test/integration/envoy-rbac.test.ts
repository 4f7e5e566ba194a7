// Acceptance by a real Envoy (1.40): the generated RBAC configs are delivered over ECDS (network and HTTP
// filters) by our own ADS server, Envoy ACKs them, and enforcement is checked by behaviour — which source may
// connect to which port — not by rule text. Then the mode changes (enforce → monitor) through ECDS alone, and the
// listeners are not touched. Skips without root (network namespace) or without Envoy/curl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { HttpConnectionManager_CodecType } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.js';
import { T, encode, pack } from '../../xds-server/src/generate/envoy-types.js';
import {
  denyAllRbac,
  inboundHttpRbac,
  inboundNetworkRbac,
  outboundHttpRbac,
  outboundNetworkRbac,
  rbacFilterRef,
} from '../../xds-server/src/generate/rbac.js';
import type { GeneratedResource } from '../../xds-server/src/generate/resource.js';
import { compilePolicy } from '../../xds-server/src/policy/compile.js';
import type { Inventory, Mode, ServicePolicy } from '../../xds-server/src/model/index.js';
import { ECDS, LDS, makeSnapshot, resource } from '../../xds-server/src/xds/index.js';
import type { XdsResource } from '../../xds-server/src/xds/index.js';
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

// Every address is on the namespace's loopback (all of 127/8 is local), so a probe picks its source address.
const inventory: Inventory = {
  workloads: [
    { name: 'db-1', service: 'data/db', addresses: ['127.0.0.30'], ports: [5432] },
    { name: 'api-1', service: 'shop/api', addresses: ['127.0.0.11'], ports: [9090] },
    { name: 'web-1', service: 'shop/web', addresses: ['127.0.0.12'], ports: [8443] },
  ],
  externals: [],
  vips: [{ service: 'shop/web', address: '127.0.0.250' }],
};

const policy: ServicePolicy = {
  service: 'data/db',
  ingress: [
    { peer: { service: 'shop/api' }, protocol: 'tcp', port: 5432 },
    { peer: { cidr: '127.0.1.0/24' }, protocol: 'tcp', port: 5432 },
    { peer: { service: 'shop/web' }, protocol: 'http', port: 9090 },
  ],
  egress: [
    { peer: { cidr: '127.0.0.20/32' }, protocol: 'tcp', port: 8443 },
    { peer: { service: 'shop/web' }, protocol: 'http', port: 8443 },
    { peer: { cidr: '127.0.0.21/32', sni: 'payments' }, protocol: 'tcp', port: 8443 },
    { peer: { cidr: '127.0.0.20/32' }, protocol: 'http', port: 8444 },
    { peer: { cidr: '127.0.0.21/32', sni: 'payments' }, protocol: 'tcp', port: 8444 },
  ],
  origin: 'applied',
  updatedAt: 0,
};

/** A listener whose chain is [network RBAC (ECDS)?, HCM (+ HTTP RBAC (ECDS)?) answering 200 "ok"]. */
function listener(name: string, port: number, netRbac?: string, httpRbac?: string): XdsResource {
  const hcm = {
    statPrefix: name,
    codecType: HttpConnectionManager_CodecType.AUTO,
    routeConfig: {
      name,
      virtualHosts: [
        {
          name: 'all',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, directResponse: { status: 200, body: { inlineString: 'ok' } } }],
        },
      ],
    },
    httpFilters: [
      ...(httpRbac ? [rbacFilterRef('http', httpRbac)] : []),
      { name: 'envoy.filters.http.router', typedConfig: pack(T.router, {}) },
    ],
  };
  const body = encode(T.listener, {
    name,
    address: { socketAddress: { address: '0.0.0.0', portValue: port } },
    filterChains: [
      {
        filters: [
          ...(netRbac ? [rbacFilterRef('network', netRbac)] : []),
          { name: 'envoy.filters.network.http_connection_manager', typedConfig: pack(T.hcm, hcm) },
        ],
      },
    ],
  });
  const deps = [netRbac, httpRbac].filter((n): n is string => !!n).map((n) => ({ typeUrl: ECDS, name: n }));
  return resource(LDS, name, body, deps);
}

const ecds = (g: GeneratedResource): XdsResource => resource(ECDS, g.name, g.body);

// 10,000 more allowed sources (10.100.x.x), to show Envoy takes a big trie as readily as a small one
const crowd: Inventory = {
  ...inventory,
  workloads: [
    ...inventory.workloads,
    ...Array.from({ length: 10_000 }, (_, i) => ({
      name: `gen-${i}`,
      service: 'load/gen',
      addresses: [`10.100.${Math.floor(i / 256)}.${i % 256}`],
      ports: [],
    })),
  ],
};
const crowdPolicy: ServicePolicy = {
  ...policy,
  ingress: [
    ...policy.ingress,
    { peer: { service: 'load/gen' }, protocol: 'tcp', port: 6432 },
    { peer: { service: 'shop/api' }, protocol: 'tcp', port: 6432 },
  ],
};

function snapshot(mode: Mode) {
  const compiled = compilePolicy(policy, inventory);
  return makeSnapshot([
    listener('in-crowd', 6432, 'rbac-in-crowd'),
    ecds(inboundNetworkRbac(compilePolicy(crowdPolicy, crowd), mode, 'rbac-in-crowd')),
    listener('in-tcp', 5432, 'rbac-in-tcp'),
    listener('in-http', 9090, undefined, 'rbac-in-http'),
    listener('out', 8443, 'rbac-out'),
    listener('out-http', 8444, undefined, 'rbac-out-http'),
    listener('closed', 7000, 'rbac-closed'),
    ecds(inboundNetworkRbac(compiled, mode, 'rbac-in-tcp')),
    ecds(inboundHttpRbac(compiled, mode, 'rbac-in-http')),
    ecds(outboundNetworkRbac(compiled, mode, 'rbac-out')),
    ecds(outboundHttpRbac(compiled, mode, 'rbac-out-http')),
    ecds(denyAllRbac('network', 'ingress', mode, 'rbac-closed')),
  ]);
}

test(
  'Envoy accepts the RBAC configs over ECDS and enforces them; a mode change does not touch listeners',
  { skip: skipReason(), timeout: 60_000 },
  async (t) => {
    const { cache, acks, nacks, envoy } = await startAdsWithEnvoy(t, {
      prefix: 'nanoseg-rbac-',
      name: 'rbac',
      nodeId: 'db-1.data',
      cluster: 'data/db',
    });

    const enforce = snapshot('enforce');
    const set = cache.setSnapshot('db-1.data', enforce);
    assert.ok(set.valid, JSON.stringify(!set.valid && set.errors));
    await envoy.start();
    await waitFor(
      'ECDS ACK',
      () => acks.includes(`${ECDS} ${enforce.types[ECDS].version}`) || nacks.length > 0,
      15_000,
      100,
    );
    assert.deepEqual(nacks, [], envoy.logTail());
    await waitFor(
      'listeners active',
      async () => {
        const ls = await envoy.listeners();
        return ['in-tcp', 'in-http', 'out', 'out-http', 'closed', 'in-crowd'].every(
          (n) => ls.get(n)?.port !== undefined,
        );
      },
      15_000,
      100,
    );
    // one EcdsConfigDump per filter category (HTTP, network); each holds the filters Envoy accepted over ECDS
    const dump = await envoy.adminJson<{
      configs: { '@type': string; ecds_filters?: { ecds_filter: { name: string } }[] }[];
    }>('/config_dump');
    const accepted = dump.configs
      .filter((c) => c['@type'].endsWith('.EcdsConfigDump'))
      .flatMap((c) => (c.ecds_filters ?? []).map((f) => f.ecds_filter.name));
    assert.deepEqual(accepted.sort(), [
      'rbac-closed',
      'rbac-in-crowd',
      'rbac-in-http',
      'rbac-in-tcp',
      'rbac-out',
      'rbac-out-http',
    ]);

    await exec('ip', ['-n', envoy.ns, 'addr', 'add', '10.100.39.15/32', 'dev', 'lo']); // one of load/gen's 10,000
    /** HTTP status, or 'closed' when the connection was closed without a response (network RBAC). */
    const probe = async (src: string, url: string): Promise<string> => {
      try {
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
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          url,
        ]);
        return r.stdout.trim();
      } catch {
        return 'closed';
      }
    };
    const expectations: [string, string, string][] = [
      ['127.0.0.11', 'http://127.0.0.1:5432/', '200'], // shop/api → 5432: allowed
      ['127.0.1.7', 'http://127.0.0.1:5432/', '200'], // 127.0.1.0/24 → 5432: allowed
      ['127.0.0.12', 'http://127.0.0.1:5432/', 'closed'], // shop/web → 5432: no rule
      ['127.0.0.12', 'http://127.0.0.1:9090/', '200'], // shop/web → 9090: allowed
      ['127.0.0.11', 'http://127.0.0.1:9090/', '403'], // shop/api → 9090: no rule (HTTP RBAC)
      ['127.0.0.30', 'http://127.0.0.20:8443/', '200'], // egress to 127.0.0.20/32: allowed
      ['127.0.0.30', 'http://127.0.0.250:8443/', '200'], // egress to shop/web's VIP: allowed
      ['127.0.0.30', 'http://127.0.0.12:8443/', '200'], // egress to shop/web's workload: allowed
      ['127.0.0.30', 'http://127.0.0.21:8443/', 'closed'], // only with SNI payments
      ['127.0.0.30', 'http://127.0.0.22:8443/', 'closed'], // no rule
      // the same egress tree in the HTTP filter (outbound HTTP chains): a denied request gets a 403
      ['127.0.0.30', 'http://127.0.0.20:8444/', '200'], // egress to 127.0.0.20/32: allowed
      ['127.0.0.30', 'http://127.0.0.21:8444/', '403'], // only with SNI payments (ServerNameInput in HTTP RBAC)
      ['127.0.0.30', 'http://127.0.0.22:8444/', '403'], // no rule
      ['127.0.0.11', 'http://127.0.0.1:7000/', 'closed'], // deny-all
      ['127.0.0.11', 'http://127.0.0.1:6432/', '200'], // shop/api, next to 10,000 load/gen addresses
      ['127.0.0.12', 'http://127.0.0.1:6432/', 'closed'], // shop/web is not among them
      ['10.100.39.15', 'http://10.100.39.15:6432/', '200'], // load/gen (gen-9999)
    ];
    for (const [src, url, want] of expectations) assert.equal(await probe(src, url), want, `enforce: ${src} → ${url}`);
    assert.ok((await envoy.stat('inbound.rbac.denied')) >= 1);

    const modified = await envoy.stat('listener_manager.listener_modified');
    const ldsVersion = enforce.types[LDS].version;
    const monitor = snapshot('monitor');
    assert.equal(monitor.types[LDS].version, ldsVersion, 'a mode change changes only ECDS resources');
    assert.ok(cache.setSnapshot('db-1.data', monitor).valid);
    await waitFor(
      'ECDS ACK (monitor)',
      () => acks.includes(`${ECDS} ${monitor.types[ECDS].version}`) || nacks.length > 0,
      15_000,
      100,
    );
    assert.deepEqual(nacks, []);
    assert.equal(await envoy.stat('listener_manager.listener_modified'), modified, 'no listener was modified');
    assert.equal(await envoy.stat('listener_manager.total_filter_chains_draining'), 0);

    const shadowDenied = await envoy.stat('inbound.rbac.shadow_denied');
    for (const [src, url] of expectations)
      assert.equal(await probe(src, url), '200', `monitor: ${src} → ${url} passes`);
    assert.ok((await envoy.stat('inbound.rbac.shadow_denied')) > shadowDenied, 'monitor records would-deny');

    const learn = snapshot('learn');
    assert.ok(cache.setSnapshot('db-1.data', learn).valid);
    await waitFor(
      'ECDS ACK (learn)',
      () => acks.includes(`${ECDS} ${learn.types[ECDS].version}`) || nacks.length > 0,
      15_000,
      100,
    );
    assert.deepEqual(nacks, []);
    assert.equal(await probe('127.0.0.12', 'http://127.0.0.1:5432/'), '200');
  },
);
