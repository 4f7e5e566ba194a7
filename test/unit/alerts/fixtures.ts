// Alert builders shared by the alert sink tests.
import type { Alert } from '../../../xds-server/src/model/index.js';

export const T0 = 1_700_000_000_000;

export function alertAt(ms: number, over: Partial<Alert> = {}): Alert {
  return {
    time: new Date(ms).toISOString(),
    verdict: 'would-deny',
    mode: 'monitor',
    source: { service: 'shop/web', workload: 'web-1', ip: '10.0.0.11' },
    destination: { ip: '203.0.113.10', port: 443, sni: 'api.example' },
    protocol: 'tcp',
    count: 1,
    reason: 'shop/web egress has no rule for 203.0.113.10/32 (api.example) tcp/443',
    ...over,
  };
}
