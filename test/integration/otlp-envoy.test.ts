// Acceptance by real Envoys: tracing over xDS into the OTLP receiver (docs/traces.md). Two sidecars in one network
// namespace — web-1's outbound HTTP connection manager and api-1's inbound one, each with the generated tracer and
// access-log config — serve curl's requests to api's VIP. The spans reach the control plane's receiver attributed to
// the node Envoy names in them (its bootstrap's), form one trace per request with the server hop under
// the client hop, show as a tree through the API and the CLI, and count each request once together with the two
// access-log entries (joined by request id, whatever Envoy packed into it). A malformed and an oversized export get
// partial_success and the receiver keeps serving. Skips without root or without Envoy/curl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Metadata, credentials } from '@grpc/grpc-js';
import {
  ExportTraceServiceRequest,
  ExportTraceServiceResponse,
} from '../../proto/gen/opentelemetry/proto/collector/trace/v1/trace_service.js';
import { HttpApi } from '../../xds-server/src/api/http.js';
import { routes } from '../../xds-server/src/api/routes.js';
import { GrpcServer } from '../../xds-server/src/serve/grpc.js';
import { RAW_ACCESS_LOG_SERVICE } from '../../xds-server/src/serve/als.js';
import { RAW_TRACE_SERVICE } from '../../xds-server/src/serve/otlp.js';
import type { TraceSpanView } from '../../xds-server/src/traces/index.js';
import { findEnvoy } from '../../xds-server/src/util/envoy.js';
import { SILENT } from '../../xds-server/src/util/logger.js';
import { ADS_SERVICE, AdsServer, SnapshotCache } from '../../xds-server/src/xds/index.js';
import { Harness } from '../support/harness.js';
import { BIN, tempDir, waitFor } from '../support/cli.js';
import { NetnsEnvoy } from './support.js';
import { PORT, VIP, WEB, apiSnapshot, inventory, webSnapshot } from './otlp-envoy-config.js';

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

/** One unary OTLP export over the real gRPC server, as any exporter sends it. */
function rawExport(socket: string, body: Buffer): Promise<ExportTraceServiceResponse> {
  const client = new Client(`unix:${socket}`, credentials.createInsecure());
  const md = new Metadata();
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      (b: Buffer) => b,
      (b: Buffer) => ExportTraceServiceResponse.decode(b),
      body,
      md,
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res!);
      },
    ),
  );
}

test(
  'spans from two real sidecars form one trace per request, join the access logs, and show as a tree',
  { skip: skipReason(), timeout: 90_000 },
  async (t) => {
    const tmp = tempDir('nanoseg-otlp-');
    const ns = `nsgt-otlp-${process.pid}`;
    const h = await Harness.open({ dir: join(tmp.dir, 'state') });
    const grpc = new GrpcServer();
    const api = routes(new HttpApi(SILENT), h.api);
    const cache = new SnapshotCache();
    const ads = new AdsServer(cache, { logger: SILENT });
    const envoys: NetnsEnvoy[] = [];
    t.after(async () => {
      for (const e of envoys) await e.stop();
      await exec('ip', ['netns', 'del', ns]).catch(() => {});
      ads.stop();
      await grpc.stop(100);
      await api.stop();
      await h.close();
      tmp.remove();
    });
    h.core.pushed.put('test', inventory);
    await h.settle();
    const socket = join(tmp.dir, 'xds.sock');
    const apiSocket = join(tmp.dir, 'api.sock');
    grpc.add(ADS_SERVICE, ads.handlers());
    grpc.add(RAW_ACCESS_LOG_SERVICE, h.core.envoyLogs.handlers());
    grpc.add(RAW_TRACE_SERVICE, h.core.traces.handlers());
    await grpc.listen({ socket });
    await api.listen(apiSocket);
    assert.ok(cache.setSnapshot('web-1.shop', webSnapshot).valid);
    assert.ok(cache.setSnapshot('api-1.shop', apiSnapshot).valid);

    await exec('ip', ['netns', 'add', ns]);
    await exec('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const runtime = { 'tracing.opentelemetry.flush_interval_ms': 200 };
    for (const [name, node, cluster, adminPort] of [
      ['web', 'web-1.shop', 'shop/web', 15100],
      ['api', 'api-1.shop', 'shop/api', 15101],
    ] as const) {
      const e = new NetnsEnvoy({
        name,
        nodeId: node,
        cluster,
        xdsSocket: socket,
        api: 'sotw',
        dir: tmp.dir,
        netns: ns,
        adminPort,
        runtime,
      });
      envoys.push(e);
      await e.start();
    }
    await waitFor(
      'listeners active',
      async () => {
        const [w, a] = await Promise.all(envoys.map((e) => e.listeners()));
        return w!.get('outbound')?.port === PORT && a!.get('inbound')?.port === PORT && a!.get('app')?.port === PORT;
      },
      15_000,
      100,
    );

    const curl = async (path: string) =>
      (
        await exec('ip', [
          'netns',
          'exec',
          ns,
          'curl',
          '-sS',
          '--max-time',
          '3',
          '--interface',
          WEB,
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          `http://${VIP}:${PORT}${path}`,
        ])
      ).stdout.trim();
    const paths = ['/items/1', '/items/22', '/items/333', '/users/7', '/users/8?x=1'];
    for (const p of paths) assert.equal(await curl(p), '200', `${p} through both sidecars`);

    const store = h.core.traces.store;
    const diag = async () =>
      JSON.stringify({
        otlp: h.core.traces.stats,
        rejected: h.core.ingest.stats.rejectedByKind,
        traces: store.list().map((x) => [x.traceId, store.get(x.traceId)!.spans.length]),
        envoy: await Promise.all(envoys.map((e) => e.admin('/stats?filter=tracing'))),
        log: envoys.map((e) => e.logTail(8)),
      });
    const traces = await waitFor(
      'one trace of two spans per request',
      () => {
        const l = store.list();
        return l.length === paths.length && l.every((s) => store.get(s.traceId)!.spans.length === 2) && l;
      },
      20_000,
      100,
    ).catch(async (e) => assert.fail(`${(e as Error).message}: ${await diag()}`));
    for (const s of traces) {
      const { spans } = store.get(s.traceId)!;
      const client = spans[0]!; // spans come in start order: the client hop starts first
      const server = spans[1]!;
      assert.equal(s.rootService, 'shop/web');
      assert.deepEqual(
        [client.service, client.workload, client.kind, client.peer, client.status, client.verdict],
        ['shop/web', 'web-1', 'client', 'shop/api', '200', 'allowed'],
      );
      assert.deepEqual(
        [server.service, server.workload, server.kind, server.peer, server.status],
        ['shop/api', 'api-1', 'server', 'shop/web', '200'],
      );
      assert.equal(server.parentSpanId, client.spanId, 'traceparent propagated: the server hop is under the client');
      assert.equal(client.parentSpanId, '');
    }
    assert.equal(h.core.traces.stats.rejected, 0, JSON.stringify(h.core.ingest.stats.rejectedByKind));

    // each request: two access-log entries and two spans, each naming its edge (the server span attributed to the
    // exporting node, api-1), one observation
    await waitFor(
      'access logs and spans of both sides ingested',
      () => h.core.ingest.stats.entries >= 4 * paths.length,
      15_000,
      100,
    ).catch(async (e) =>
      assert.fail(`${(e as Error).message}: ${JSON.stringify(h.core.ingest.stats)} ${await diag()}`),
    );
    await h.settle();
    const edges = h.core.learner.edgesOf('shop/api').ingress.filter((e) => e.port === PORT);
    assert.equal(edges.length, 1, JSON.stringify(edges));
    const ev = edges[0]!.evidence;
    assert.equal(ev.count, paths.length, 'counted once per request');
    assert.deepEqual(ev.paths?.map((p) => [p.method, p.path, p.count]).sort(), [
      ['GET', '/items/{id}', 3],
      ['GET', '/users/{id}', 2],
    ]);

    // through the API and the CLI (run asynchronously: the API is served by this process)
    const env = { ...process.env, NANOSEG_API: apiSocket };
    const nanoseg = async (args: string[]) =>
      exec(process.execPath, [BIN, ...args], { env }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code?: number; stdout?: string; stderr?: string }) => ({
          code: e.code ?? 1,
          stdout: e.stdout ?? '',
          stderr: e.stderr ?? '',
        }),
      );
    const json = async <T>(args: string[]): Promise<T> => {
      const r = await nanoseg([...args, '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as T;
    };
    const listed = await json<{ traceId: string; rootService: string; durationMs: number; error: boolean }[]>([
      'traces',
      '--service',
      'shop/api',
    ]);
    assert.deepEqual(listed.map((x) => x.traceId).sort(), traces.map((x) => x.traceId).sort());
    assert.deepEqual(Object.keys(listed[0]!).sort(), ['durationMs', 'error', 'rootService', 'startTime', 'traceId']);
    const id = listed[0]!.traceId;
    const hops = await json<TraceSpanView[]>(['trace', id]);
    assert.equal(hops.length, 2);
    for (const hop of hops) {
      assert.deepEqual(Object.keys(hop).sort(), [
        'durationMs',
        'parentSpanId',
        'peer',
        'service',
        'spanId',
        'status',
        'verdict',
        'workload',
      ]);
    }
    const tree = await nanoseg(['trace', id]);
    assert.equal(tree.code, 0, tree.stderr);
    assert.match(tree.stdout, /^trace [0-9a-f]{32} {2}shop\/web/);
    assert.match(
      tree.stdout,
      /\nshop\/web \(web-1\) → shop\/api {2}[\d.]+ ms {2}200 {2}allowed\n└─ shop\/api \(api-1\) ← shop\/web /,
    );
    const missing = await nanoseg(['trace', '0'.repeat(31) + '1']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no trace/);

    // bad exports: answered with partial_success, and the receiver keeps serving the sidecars
    const garbage = await rawExport(socket, Buffer.from([0x0a, 0x04, 0xff, 0xff, 0xff, 0xff]));
    assert.equal(garbage.partialSuccess?.rejectedSpans, 1);
    const span = (i: number, name: string, node?: string) => ({
      traceId: Buffer.alloc(16, 9),
      spanId: Buffer.alloc(8, i + 1),
      name,
      startTimeUnixNano: Date.now() * 1e6,
      endTimeUnixNano: Date.now() * 1e6 + 1000,
      attributes: node ? [{ key: 'node_id', value: { stringValue: node } }] : [],
    });
    const encodeSpans = (spans: object[]) =>
      Buffer.from(
        ExportTraceServiceRequest.encode(
          ExportTraceServiceRequest.fromPartial({ resourceSpans: [{ scopeSpans: [{ spans: spans as never }] }] }),
        ).finish(),
      );
    const over = await rawExport(
      socket,
      encodeSpans(Array.from({ length: 5 }, (_, i) => span(i, 'x'.repeat(1 << 20), 'web-1.shop'))),
    );
    assert.equal(over.partialSuccess?.rejectedSpans, 5);
    assert.match(over.partialSuccess?.errorMessage ?? '', /bound/);
    // one export is one sidecar's: a span naming another node in it claims another workload
    const mixed = await rawExport(
      socket,
      encodeSpans([span(6, 'mine', 'web-1.shop'), span(7, 'theirs', 'api-1.shop')]),
    );
    assert.equal(mixed.partialSuccess?.rejectedSpans, 1);
    assert.equal(mixed.partialSuccess?.errorMessage, 'span of node api-1.shop exported by node web-1.shop');
    assert.equal(h.core.ingest.stats.rejectedByKind['span-foreign-span'], 1);
    const anonymous = await rawExport(socket, encodeSpans([span(8, 'who')]));
    assert.equal(anonymous.partialSuccess?.rejectedSpans, 1);
    assert.equal(h.core.ingest.stats.rejectedByKind['span-no-identifier'], 1);

    assert.equal(await curl('/items/4444'), '200');
    await waitFor('the next trace', () => store.list().length === paths.length + 1 && store.list()[0]!, 10_000, 100);

    // per-edge latency and errors from the same records: three requests the app fails with a 500
    for (const p of ['/fail/1', '/fail/2', '/fail/3']) assert.equal(await curl(p), '500', `${p} fails at the app`);
    const requests = paths.length + 4;
    const measured = await waitFor(
      'errors and durations of every request on the edge',
      () => {
        const e = h.core.learner.edgesOf('shop/api').ingress.find((x) => x.port === PORT)?.evidence;
        const n = e?.latency?.counts.reduce((a, b) => a + b, 0);
        return e?.count === requests && e.errors === 3 && n === requests && e;
      },
      15_000,
      100,
    ).catch(async (e) =>
      assert.fail(`${(e as Error).message}: ${JSON.stringify(h.core.learner.edgesOf('shop/api'))} ${await diag()}`),
    );
    assert.ok(measured.latency!.sumMs > 0 && measured.latency!.maxMs < 3000, JSON.stringify(measured.latency));
    const shown = await json<{
      ingress: { peer: { service?: string }; port: number; evidence?: Record<string, unknown> }[];
    }>(['policy', 'show', 'shop/api']);
    const rule = shown.ingress.find((r) => r.peer.service === 'shop/web' && r.port === PORT);
    const shownEv = rule?.evidence as {
      count: number;
      errors: number;
      errorRate: number;
      latency: Record<string, number>;
    };
    assert.deepEqual(
      [shownEv.count, shownEv.errors, shownEv.errorRate],
      [requests, 3, Number((3 / requests).toFixed(4))],
    );
    assert.deepEqual(Object.keys(shownEv.latency).sort(), ['p50Ms', 'p99Ms']);
    assert.ok(shownEv.latency.p50Ms! > 0 && shownEv.latency.p50Ms! <= shownEv.latency.p99Ms!, JSON.stringify(shownEv));
    assert.ok(shownEv.latency.p99Ms! <= measured.latency!.maxMs + 1e-9, 'no quantile above the slowest request');
    const table = await nanoseg(['policy', 'show', 'shop/api']);
    assert.match(table.stdout, /shop\/web +http +9090 +\d+ +3 \(\d+\.\d%\) +[\d.]+ ms +[\d.]+ ms/);
    const metrics = await h.core.metrics.registry.metrics();
    const labels = `source="shop/web",destination="shop/api",port="${PORT}",protocol="http"`;
    assert.ok(metrics.includes(`nanoseg_edge_errors_total{${labels}} 3\n`), metrics);
    assert.ok(metrics.includes(`nanoseg_edge_request_duration_seconds_count{${labels}} ${requests}\n`));
    assert.ok(metrics.includes(`nanoseg_edge_request_duration_seconds_bucket{${labels},le="+Inf"} ${requests}\n`));
  },
);
