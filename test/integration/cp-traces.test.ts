// `serve --otlp-endpoint`: a real control plane (the shipped binary) exports its own spans over OTLP/gRPC to a minimal
// collector (test/support/otlp-receiver.ts): the API request that changed the inventory, the ADS push it caused to a
// real ADS client (linked to that request, ended by the client's ACK, with its generate/send children), and an
// access-log batch. A collector that goes down costs counted failures, logged once; serving goes on. The flag is
// validated like the other address flags, and without it the SDK is never loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { request } from 'node:http';
import { credentials } from '@grpc/grpc-js';
import { AccessLogServiceClient, StreamAccessLogsMessage } from '../../proto/gen/envoy/service/accesslog/v3/als.js';
import { SotwAdsClient } from '../support/ads-client.js';
import { nanoseg, ServerProcess, tempDir, waitFor } from '../support/cli.js';
import { MinimalOtlpReceiver } from '../support/otlp-receiver.js';
import { decodeExport, type DecodedSpan } from '../support/otlp-spans.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const INVENTORY = (n: number) => ({
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [] },
    ...Array.from({ length: n }, (_, i) => ({
      name: `api-${i + 1}`,
      service: 'shop/api',
      addresses: [`10.213.0.${20 + i}`],
      ports: [9090],
    })),
  ],
  externals: [],
  vips: [],
});

function api(socket: string, method: string, path: string, body?: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: socket, method, path, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const MODE_ROUTE = 'PUT /v1/services/:ns/:name/mode';

test('serve --otlp-endpoint exports spans of an API request, the ADS push it caused and an ingest batch', async (t) => {
  const collector = new MinimalOtlpReceiver();
  await collector.start();
  const tmp = tempDir('nanoseg-cptrace-');
  const sp = new ServerProcess(tmp.dir, ['--otlp-endpoint', `127.0.0.1:${collector.port}`]);
  const channels: { close(): void }[] = [];
  t.after(async () => {
    for (const c of channels) c.close();
    await sp.stop();
    collector.stop();
    tmp.remove();
  });
  await sp.start();
  assert.equal(await api(sp.apiSocket, 'PUT', '/v1/inventory/lab', INVENTORY(2)), 200);
  const ads = new SotwAdsClient(`unix:${sp.xdsSocket}`, { id: 'web-1.shop', cluster: 'shop/web' });
  channels.push(ads);
  ads.request(CDS);
  ads.request(LDS);
  await ads.waitFor(LDS, () => true, 10_000);
  await new Promise((r) => setTimeout(r, 300)); // past the inventory's debounced push
  const lds = ads.count(LDS);

  // 1. an API request that changes web's config (enforce: its outbound default chain goes to the blackhole): a push
  // to the connected client, which ACKs it
  assert.equal(await api(sp.apiSocket, 'PUT', '/v1/services/shop/web/mode', { mode: 'enforce' }), 200);
  await ads.waitFor(LDS, () => ads.count(LDS) > lds, 10_000);
  // 2. an access-log batch from web-1
  const als = new AccessLogServiceClient(`unix:${sp.xdsSocket}`, credentials.createInsecure());
  channels.push(als);
  const call = als.streamAccessLogs(() => undefined);
  call.on('error', () => undefined);
  call.write(
    StreamAccessLogsMessage.fromPartial({
      identifier: { node: { id: 'web-1.shop', cluster: 'shop/web' }, logName: 'outbound' },
      tcpLogs: {
        logEntry: [
          {
            commonProperties: {
              downstreamRemoteAddress: { socketAddress: { address: '10.213.0.11', portValue: 40000 } },
              downstreamLocalAddress: { socketAddress: { address: '203.0.113.10', portValue: 5432 } },
              startTime: { seconds: Math.floor(Date.now() / 1000), nanos: 0 },
            },
          },
        ],
      },
    }),
  );

  const spans = await waitFor(
    'the request, push and batch spans at the collector',
    () => {
      const s = collector.received.flatMap((b) => decodeExport(b));
      const names = new Set(s.map((x) => x.name));
      const pushed = s.some((x) => x.name === 'xds.push' && x.links.length > 0);
      return names.has(MODE_ROUTE) && names.has('ingest.batch') && pushed ? s : undefined;
    },
    20_000,
    200,
  );
  const one = (pred: (x: DecodedSpan) => boolean, what: string): DecodedSpan => {
    const found = spans.filter(pred);
    assert.ok(found.length >= 1, `${what}: ${spans.map((x) => x.name).join(', ')}`);
    return found[0]!;
  };
  const put = one((x) => x.name === MODE_ROUTE, 'the API span');
  assert.equal(put.resource['service.name'], 'nanoseg-control-plane');
  assert.ok(put.resource['service.instance.id'], 'the store id identifies this control plane');
  assert.ok(put.resource['service.version']);
  assert.equal(put.attributes['http.request.method'], 'PUT');
  assert.equal(put.attributes['http.route'], '/v1/services/:ns/:name/mode');
  assert.equal(put.attributes['http.response.status_code'], 200);
  assert.equal(put.kind, 2, 'SERVER');
  assert.equal(put.parentSpanId, '', 'a request is a root');

  const push = one(
    (x) => x.name === 'xds.push' && x.links.some((l) => l.spanId === put.spanId && l.traceId === put.traceId),
    'a push linked to the API request',
  );
  const ua = push.attributes;
  assert.equal(push.parentSpanId, '', 'a push is a trace of its own');
  assert.equal(ua['nanoseg.xds.full'], false, "a mode change pushes to the service's nodes");
  assert.match(String(ua['nanoseg.xds.reasons']), /shop\/web/);
  assert.ok(Number(ua['nanoseg.xds.responses']) >= 1, JSON.stringify(ua));
  assert.equal(ua['nanoseg.xds.acks'], ua['nanoseg.xds.responses'], 'every response ACKed');
  assert.equal(ua['nanoseg.xds.unanswered'], 0);
  assert.equal(ua['nanoseg.xds.streams'], 1);
  const children = spans.filter((x) => x.parentSpanId === push.spanId);
  assert.deepEqual(children.map((x) => x.name).sort(), ['xds.generate', 'xds.send']);
  for (const c of children) {
    assert.equal(c.traceId, push.traceId);
    assert.ok(push.endNs >= c.endNs && push.startNs <= c.startNs, 'the push spans its children');
  }

  const batch = one((x) => x.name === 'ingest.batch', 'the batch span');
  assert.equal(batch.attributes['nanoseg.ingest.source'], 'envoy-als');
  assert.equal(batch.attributes['nanoseg.ingest.flows'], 1);
  assert.equal(batch.attributes['nanoseg.ingest.new_edges'], 1);

  // 3. the collector goes down: exports fail (counted, logged once), serving goes on
  collector.stop();
  const status = () =>
    JSON.parse(nanoseg(['status', '-o', 'json'], sp.env).stdout) as {
      selfTraces?: { exported: number; failed: number; dropped: number; queued: number };
    };
  assert.ok(Number(status().selfTraces?.exported) >= spans.length);
  const down = ads.count(LDS);
  assert.equal(await api(sp.apiSocket, 'PUT', '/v1/services/shop/web/mode', { mode: 'learn' }), 200);
  await ads.waitFor(LDS, () => ads.count(LDS) > down, 10_000);
  assert.equal(await api(sp.apiSocket, 'PUT', '/v1/inventory/lab', INVENTORY(3)), 200);
  const failed = await waitFor(
    'counted export failures',
    () => (status().selfTraces?.failed ?? 0) > 0 && status(),
    30_000,
    500,
  );
  assert.ok(failed.selfTraces!.queued <= 2048);
  assert.equal(sp.proc?.exitCode, null, 'still running');
  assert.equal(await api(sp.apiSocket, 'GET', '/v1/status'), 200);
  const warned = readFileSync(sp.log, 'utf8')
    .split('\n')
    .filter((l) => l.includes('the collector did not take an export'));
  assert.equal(warned.length, 1, 'logged once');
});

test('--otlp-endpoint is validated like the other address flags; --help names it', () => {
  for (const bad of ['nope', '127.0.0.1:70000', 'http://127.0.0.1:4317']) {
    const r = nanoseg(['serve', '--otlp-endpoint', bad, '--state-dir', '/nonexistent/never-created']);
    assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
    assert.match(r.stderr, /--otlp-endpoint: ".*" is not HOST:PORT/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const help = nanoseg(['serve', '--help']);
  assert.match(help.stdout, /--otlp-endpoint <host:port>/);
});

test('without --otlp-endpoint the OpenTelemetry SDK is not loaded', async () => {
  // the whole control plane and CLI, as `nanoseg serve` loads them (prom-client loads @opentelemetry/api itself)
  await import('../../xds-server/src/controlplane/controlplane.js');
  await import('../../xds-server/src/cli/program.js');
  const loaded = (): string[] =>
    Object.keys(createRequire(import.meta.url).cache).filter((k) =>
      /@opentelemetry\/(sdk-|resources|core|exporter-|otlp-)/.test(k),
    );
  assert.deepEqual(loaded(), []);
  await import('../../xds-server/src/serve/otel-export.js');
  assert.ok(loaded().length > 0, 'the check sees the SDK once it is loaded');
});
