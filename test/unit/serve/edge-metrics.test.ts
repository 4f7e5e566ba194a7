// The per-edge metrics on the Prometheus endpoint: histogram and counters in the text format, computed from the
// learner's evidence at scrape time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Learner } from '../../../xds-server/src/learn/index.js';
import { Metrics } from '../../../xds-server/src/serve/metrics.js';

test('nanoseg_edge_request_duration_seconds, _requests_total and _errors_total per edge, the rest as other', async () => {
  const l = new Learner();
  const base = {
    time: 1,
    side: 'outbound' as const,
    reporter: 'web-1.shop',
    source: { service: 'shop/web' },
    destination: { service: 'shop/api' },
    protocol: 'http' as const,
    bytesSent: 0,
    bytesReceived: 0,
  };
  l.observe({ ...base, port: 9090, dedupKey: 'a', durationMs: 3 });
  l.observe({ ...base, port: 9090, dedupKey: 'b', durationMs: 30, error: true });
  l.observe({ ...base, port: 9091, dedupKey: 'c', durationMs: 7000 });
  l.observe({ ...base, port: 5432, protocol: 'tcp', dedupKey: 'd', error: true });
  const m = new Metrics(false);
  m.edgeSource = () => l.visitEdges();
  m.edgeMetricsMax = 2;
  const text = await m.registry.metrics();
  const lines = text.split('\n').filter((x) => x.startsWith('nanoseg_edge_'));
  const api = 'source="shop/web",destination="shop/api",port="9090",protocol="http"';
  for (const want of [
    `nanoseg_edge_request_duration_seconds_bucket{${api},le="0.0025"} 0`,
    `nanoseg_edge_request_duration_seconds_bucket{${api},le="0.005"} 1`,
    `nanoseg_edge_request_duration_seconds_bucket{${api},le="0.05"} 2`,
    `nanoseg_edge_request_duration_seconds_bucket{${api},le="+Inf"} 2`,
    `nanoseg_edge_request_duration_seconds_sum{${api}} 0.033`,
    `nanoseg_edge_request_duration_seconds_count{${api}} 2`,
    `nanoseg_edge_requests_total{${api}} 2`,
    `nanoseg_edge_errors_total{${api}} 1`,
    'nanoseg_edge_errors_total{source="other",destination="other",port="0",protocol="other"} 1',
  ]) {
    assert.ok(lines.includes(want), `${want}\n${lines.join('\n')}`);
  }
  assert.match(text, /# TYPE nanoseg_edge_request_duration_seconds histogram/);
  assert.match(text, /# TYPE nanoseg_edge_errors_total counter/);
  assert.equal(
    lines.filter((x) => x.includes('port="9091"')).length,
    18,
    '13 bounds and +Inf, sum, count, requests, errors',
  );
  assert.equal(lines.filter((x) => x.includes('port="5432"')).length, 0, 'beyond the bound: under other');
});
