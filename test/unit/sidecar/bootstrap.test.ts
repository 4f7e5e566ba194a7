import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envoyBootstrap, envoyNodeId } from '../../../xds-server/src/sidecar/index.js';

test('bootstrap: node identity, admin on loopback, ADS over a unix socket, nothing else', () => {
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
