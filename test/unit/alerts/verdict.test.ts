import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AccessLogType,
  HTTPAccessLogEntry,
  HTTPAccessLogEntry_HTTPVersion,
  TCPAccessLogEntry,
} from '../../../proto/gen/envoy/data/accesslog/v3/accesslog.js';
import { verdictOf } from '../../../xds-server/src/alerts/index.js';

const sa = (ip: string, port: number) => ({ socketAddress: { address: ip, portValue: port } });
const common = (extra: Record<string, unknown> = {}) => ({
  downstreamRemoteAddress: sa('10.0.0.11', 40001),
  downstreamLocalAddress: sa('10.0.0.21', 5432),
  startTime: { seconds: 1_700_000_000, nanos: 0 },
  accessLogType: AccessLogType.TcpConnectionEnd,
  ...extra,
});
const tcp = (extra: Record<string, unknown> = {}) =>
  TCPAccessLogEntry.fromPartial({
    commonProperties: common(extra),
    connectionProperties: { receivedBytes: 1, sentBytes: 2 },
  });
const http = (code: number | undefined, details: string, extra: Record<string, unknown> = {}) =>
  HTTPAccessLogEntry.fromPartial({
    commonProperties: common(extra),
    protocolVersion: HTTPAccessLogEntry_HTTPVersion.HTTP11,
    request: { path: '/', authority: 'db' },
    response: { responseCode: code, responseCodeDetails: details },
  });
/** Round-trips through the wire format, so the metadata has exactly the shape ts-proto decodes to. */
const wire = (e: TCPAccessLogEntry) => TCPAccessLogEntry.decode(TCPAccessLogEntry.encode(e).finish());
const shadow = (filter: string, fields: Record<string, unknown>) => ({
  metadata: { filterMetadata: { [filter]: fields } },
});

test('allowed entries carry no verdict', () => {
  assert.equal(verdictOf(tcp(), 'tcp', 'outbound'), undefined);
  assert.equal(verdictOf(tcp(), 'tcp', 'inbound'), undefined);
  assert.equal(verdictOf(http(200, 'via_upstream'), 'http', 'outbound'), undefined);
  assert.equal(verdictOf(tcp({ connectionTerminationDetails: 'idle_timeout' }), 'tcp', 'inbound'), undefined);
  // a 403 from the application is not an RBAC decision
  assert.equal(verdictOf(http(403, 'via_upstream'), 'http', 'inbound'), undefined);
  // rbac details with another status is not a deny (e.g. a local reply rewritten elsewhere)
  assert.equal(verdictOf(http(200, 'rbac_access_denied_matched_policy[none]'), 'http', 'inbound'), undefined);
  // shadow engine allowed
  const allowed = wire(
    tcp(shadow('envoy.filters.network.rbac', { shadow_engine_result: 'allowed', shadow_effective_policy_id: 'p' })),
  );
  assert.equal(verdictOf(allowed, 'tcp', 'inbound'), undefined);
});

test('(a) a deny-chain log name means denied, for either side and kind', () => {
  for (const name of ['outbound-deny', 'inbound-deny']) {
    const r = verdictOf(tcp(), 'tcp', name);
    assert.equal(r?.verdict, 'denied');
    assert.match(r?.detail ?? '', new RegExp(name));
    assert.equal(r?.policy, undefined);
    assert.equal(verdictOf(http(200, ''), 'http', name)?.verdict, 'denied');
  }
  assert.equal(verdictOf(tcp(), 'tcp', 'deny-outbound'), undefined);
});

test('(b) network RBAC termination details mean denied, with the matched policy when named', () => {
  const none = verdictOf(
    tcp({ connectionTerminationDetails: 'rbac_access_denied_matched_policy[none]' }),
    'tcp',
    'inbound',
  );
  assert.deepEqual(none, {
    verdict: 'denied',
    detail: 'connection terminated: rbac_access_denied_matched_policy[none]',
  });
  const named = verdictOf(
    tcp({ connectionTerminationDetails: 'rbac_access_denied_matched_policy[deny-db]' }),
    'tcp',
    'inbound',
  );
  assert.equal(named?.verdict, 'denied');
  assert.equal(named?.policy, 'deny-db');
  // survives the wire
  const w = verdictOf(
    wire(tcp({ connectionTerminationDetails: 'rbac_access_denied_matched_policy[none]' })),
    'tcp',
    'inbound',
  );
  assert.equal(w?.verdict, 'denied');
});

test('(b) HTTP RBAC: 403 with rbac_access_denied details means denied', () => {
  const r = verdictOf(http(403, 'rbac_access_denied_matched_policy[none]'), 'http', 'inbound');
  assert.equal(r?.verdict, 'denied');
  assert.equal(r?.policy, undefined);
  assert.match(r?.detail ?? '', /403/);
  const wired = HTTPAccessLogEntry.decode(
    HTTPAccessLogEntry.encode(http(403, 'rbac_access_denied_matched_policy[p1]')).finish(),
  );
  assert.deepEqual(verdictOf(wired, 'http', 'outbound'), {
    verdict: 'denied',
    policy: 'p1',
    detail: 'HTTP 403 rbac_access_denied_matched_policy[p1]',
  });
});

test('(c) shadow engine denied → would-deny, with the shadow policy, for network and http RBAC', () => {
  for (const filter of ['envoy.filters.network.rbac', 'envoy.filters.http.rbac']) {
    const e = wire(tcp(shadow(filter, { shadow_engine_result: 'denied', shadow_effective_policy_id: 'nsg-shop-db' })));
    // the decoded Struct is a plain object
    assert.equal(e.commonProperties?.metadata?.filterMetadata[filter]?.['shadow_engine_result'], 'denied');
    const r = verdictOf(e, filter.includes('http') ? 'http' : 'tcp', 'inbound');
    assert.equal(r?.verdict, 'would-deny');
    assert.equal(r?.policy, 'nsg-shop-db');
    assert.match(r?.detail ?? '', new RegExp(filter.replaceAll('.', '\\.')));
  }
  // no policy id: still would-deny, no policy
  const bare = verdictOf(
    wire(tcp(shadow('envoy.filters.network.rbac', { shadow_engine_result: 'denied' }))),
    'tcp',
    'inbound',
  );
  assert.deepEqual(bare, { verdict: 'would-deny', detail: 'envoy.filters.network.rbac shadow rules: denied' });
  // keys prefixed by shadow_rules_stat_prefix
  const pref = verdictOf(
    wire(
      tcp(
        shadow('envoy.filters.network.rbac', {
          nsg_shadow_engine_result: 'denied',
          nsg_shadow_effective_policy_id: 'x',
        }),
      ),
    ),
    'tcp',
    'inbound',
  );
  assert.equal(pref?.verdict, 'would-deny');
  assert.equal(pref?.policy, 'x');
  // metadata of another filter is ignored
  const other = wire(tcp(shadow('envoy.filters.network.tcp_proxy', { shadow_engine_result: 'denied' })));
  assert.equal(verdictOf(other, 'tcp', 'inbound'), undefined);
});

test('signals are checked in order: deny chain, then enforced RBAC, then shadow', () => {
  const both = tcp({
    connectionTerminationDetails: 'rbac_access_denied_matched_policy[p]',
    ...shadow('envoy.filters.network.rbac', { shadow_engine_result: 'denied' }),
  });
  assert.equal(verdictOf(both, 'tcp', 'inbound')?.verdict, 'denied');
  assert.match(verdictOf(both, 'tcp', 'inbound-deny')?.detail ?? '', /inbound-deny/);
});

test('malformed entries never throw', () => {
  const bad: unknown[] = [
    undefined,
    null,
    0,
    'x',
    [],
    {},
    { commonProperties: null },
    { commonProperties: 5 },
    { commonProperties: { connectionTerminationDetails: 42 } },
    { commonProperties: { metadata: null } },
    { commonProperties: { metadata: { filterMetadata: 'x' } } },
    { commonProperties: { metadata: { filterMetadata: { 'envoy.filters.network.rbac': null } } } },
    { commonProperties: { metadata: { filterMetadata: { 'envoy.filters.http.rbac': ['denied'] } } } },
    {
      commonProperties: {
        metadata: {
          filterMetadata: {
            'envoy.filters.http.rbac': { shadow_engine_result: 'denied', shadow_effective_policy_id: 7 },
          },
        },
      },
    },
    { response: null },
    { response: { responseCode: '403', responseCodeDetails: 'rbac_access_denied' } },
    { response: { responseCode: 403, responseCodeDetails: null } },
    {
      get commonProperties(): never {
        throw new Error('boom');
      },
    },
    new Proxy(
      {},
      {
        get() {
          throw new Error('trap');
        },
        has() {
          throw new Error('trap');
        },
      },
    ),
  ];
  for (const e of bad) {
    for (const kind of ['tcp', 'http'] as const) {
      for (const name of ['inbound', 'outbound-deny', undefined, 7]) {
        assert.doesNotThrow(() => verdictOf(e as TCPAccessLogEntry, kind, name as string));
      }
    }
  }
  const weird = {
    commonProperties: {
      metadata: {
        filterMetadata: {
          'envoy.filters.http.rbac': { shadow_engine_result: 'denied', shadow_effective_policy_id: 7 },
        },
      },
    },
  };
  assert.deepEqual(verdictOf(weird as unknown as TCPAccessLogEntry, 'http', 'inbound'), {
    verdict: 'would-deny',
    detail: 'envoy.filters.http.rbac shadow rules: denied',
  });
  assert.equal(verdictOf(null as unknown as TCPAccessLogEntry, 'tcp', 'outbound-deny')?.verdict, 'denied');
});
