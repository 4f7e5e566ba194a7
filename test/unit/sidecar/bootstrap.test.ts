import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envoyBootstrap, envoyNodeId } from '../../../xds-server/src/sidecar/index.js';
import { dig } from '../../support/dig.js';

test('bootstrap: node identity, admin on loopback, ADS over a unix socket, the tracer flush, nothing else', () => {
  const b = envoyBootstrap({
    pod: 'web-1',
    service: 'shop/web',
    address: '10.213.0.11',
    lab: 'shop',
    xdsSocket: '/run/nanoseg/xds.sock',
  });
  assert.deepEqual(b, {
    node: {
      id: 'web-1.shop',
      cluster: 'shop/web',
      metadata: { service: 'shop/web', workload: 'web-1', ips: ['10.213.0.11'], lab: 'shop' },
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 15000 } } },
    layered_runtime: {
      layers: [
        {
          name: 'nanoseg',
          static_layer: {
            'tracing.opentelemetry.min_flush_spans': 50,
            'tracing.opentelemetry.flush_interval_ms': 1000,
          },
        },
        { name: 'admin', admin_layer: {} },
      ],
    },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }],
      },
      lds_config: { ads: {}, resource_api_version: 'V3' },
      cds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        {
          name: 'xds_cluster',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: 'xds_cluster',
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: '/run/nanoseg/xds.sock' } } } }] }],
          },
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        },
      ],
    },
  });
  assert.equal(JSON.stringify(b).includes('listeners'), false);
});

test('node id is <pod>.<service namespace>', () => {
  assert.equal(envoyNodeId('db-0', 'data/postgres'), 'db-0.data');
});

test('bootstrap for Kubernetes: ADS over TCP (DNS name or IP), readiness listener → admin /ready, no fetch timeout', () => {
  const b = envoyBootstrap({
    pod: '$(POD_NAME)',
    service: 'shop/web',
    address: '$(POD_IP)',
    nodeId: '$(POD_NAME).shop',
    xdsAddress: { host: 'cp.nanoseg-system.svc', port: 15010 },
    readinessPort: 15021,
  });
  assert.equal(dig(b, 'node', 'id'), '$(POD_NAME).shop');
  assert.equal(dig(b, 'node', 'metadata', 'lab'), undefined);
  assert.equal(dig(b, 'dynamic_resources', 'cds_config', 'initial_fetch_timeout'), '0s');
  const clusters = ['static_resources', 'clusters'];
  assert.equal(dig(b, ...clusters, 0, 'type'), 'STRICT_DNS');
  assert.deepEqual(
    dig(b, ...clusters, 0, 'load_assignment', 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address'),
    {
      socket_address: { address: 'cp.nanoseg-system.svc', port_value: 15010 },
    },
  );
  assert.equal(dig(b, ...clusters, 1, 'name'), 'nanoseg_admin');
  const listener = dig(b, 'static_resources', 'listeners', 0);
  assert.equal(dig(listener, 'address', 'socket_address', 'port_value'), 15021);
  const hcm = dig(listener, 'filter_chains', 0, 'filters', 0, 'typed_config');
  assert.deepEqual(dig(hcm, 'route_config', 'virtual_hosts', 0, 'routes', 0), {
    match: { path: '/healthz/ready' },
    route: { cluster: 'nanoseg_admin', prefix_rewrite: '/ready' },
  });
  const ip = envoyBootstrap({
    pod: 'p',
    service: 'a/b',
    address: '10.0.0.1',
    xdsAddress: { host: '10.0.0.2', port: 15010 },
  });
  assert.equal(dig(ip, ...clusters, 0, 'type'), 'STATIC');
  assert.equal(dig(ip, 'static_resources', 'listeners'), undefined);
});
