// The lean ALS decoder against the generated one: for random messages (with many fields the lean decoder skips),
// every field it reads must equal what ts-proto decodes; bad bytes throw AlsDecodeError and nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamAccessLogsMessage } from '../../../proto/gen/envoy/service/accesslog/v3/als.js';
import type {
  HTTPAccessLogEntry,
  TCPAccessLogEntry,
  AccessLogCommon,
} from '../../../proto/gen/envoy/data/accesslog/v3/accesslog.js';
import type { Address } from '../../../proto/gen/envoy/config/core/v3/address.js';
import { AlsDecodeError, decodeAlsMessage } from '../../../xds-server/src/serve/als-decode.js';
import { prng as rng } from '../../support/prng.js';
import type { DeepPartial as DeepPartialEntry } from '../../../xds-server/src/generate/index.js';

function gen(R: () => number) {
  const maybe = <T>(p: number, f: () => T): T | undefined => (R() < p ? f() : undefined);
  const int = (n: number) => Math.floor(R() * n);
  const big = () => (R() < 0.1 ? 2 ** 40 + int(1e6) : int(100_000));
  const str = (alphabet = 'abcdefghij.-/:é😀') =>
    Array.from({ length: int(12) }, () => [...alphabet][int([...alphabet].length)]).join('');
  const address = () =>
    R() < 0.8
      ? {
          socketAddress: {
            address: `10.${int(256)}.${int(256)}.${int(256)}`,
            ...(R() < 0.9 ? { portValue: int(65536) } : { namedPort: 'http' }),
            resolverName: maybe(0.3, str) ?? '',
            ipv4Compat: R() < 0.5,
          },
        }
      : R() < 0.5
        ? { pipe: { path: '/tmp/' + str(), mode: int(0o777) } }
        : { envoyInternalAddress: { serverListenerName: str() } };
  const time = () => ({ seconds: R() < 0.05 ? -int(1000) : 1_700_000_000 + int(1e6), nanos: int(1e9) });
  const value = (depth: number): unknown => {
    switch (int(depth > 1 ? 4 : 6)) {
      case 0:
        return null;
      case 1:
        return R() * 1000 - 500;
      case 2:
        return str();
      case 3:
        return R() < 0.5;
      case 4:
        return { x: value(depth + 1) };
      default:
        return [value(depth + 1), str()];
    }
  };
  const struct = () => Object.fromEntries(Array.from({ length: int(4) }, () => [str(), value(0)]));
  const common = (): DeepPartialEntry<AccessLogCommon> => ({
    sampleRate: maybe(0.3, () => R()),
    downstreamRemoteAddress: maybe(0.9, address),
    downstreamLocalAddress: maybe(0.9, address),
    upstreamRemoteAddress: maybe(0.6, address),
    upstreamLocalAddress: maybe(0.6, address),
    downstreamDirectRemoteAddress: maybe(0.3, address),
    tlsProperties: maybe(0.3, () => ({ tlsSniHostname: str(), tlsVersion: int(5), tlsSessionId: str() })),
    startTime: maybe(0.9, time),
    duration: maybe(0.5, time),
    timeToLastRxByte: maybe(0.3, time),
    upstreamCluster: maybe(0.5, str),
    routeName: maybe(0.3, str),
    streamId: maybe(0.3, str),
    metadata: maybe(0.4, () => ({
      filterMetadata: Object.fromEntries([
        ...(R() < 0.7
          ? [
              [
                'envoy.filters.network.rbac',
                { shadow_engine_result: R() < 0.5 ? 'denied' : 'allowed', shadow_effective_policy_id: str() },
              ],
            ]
          : []),
        ...Array.from({ length: int(3) }, () => [str(), struct()]),
      ]),
      typedFilterMetadata: {},
    })),
    customTags: maybe(0.3, () => ({ [str()]: str() })),
    connectionTerminationDetails:
      maybe(0.3, () => (R() < 0.5 ? 'rbac_access_denied_matched_policy[none]' : str())) ?? '',
    downstreamWireBytesSent: maybe(0.5, big) ?? 0,
    downstreamWireBytesReceived: maybe(0.5, big) ?? 0,
    upstreamWireBytesSent: maybe(0.3, big) ?? 0,
    accessLogType: int(12),
    intermediateLogEntry: R() < 0.3,
  });
  const tcp = (): DeepPartialEntry<TCPAccessLogEntry> => ({
    commonProperties: maybe(0.95, common),
    connectionProperties: maybe(0.8, () => ({ receivedBytes: big(), sentBytes: big() })),
  });
  const http = (): DeepPartialEntry<HTTPAccessLogEntry> => ({
    commonProperties: maybe(0.95, common),
    protocolVersion: int(5),
    request: maybe(0.9, () => ({
      requestMethod: int(9),
      scheme: 'http',
      authority: str(),
      port: maybe(0.3, () => int(65536)),
      path: str(),
      userAgent: str(),
      requestId: str(),
      originalPath: maybe(0.3, str) ?? '',
      requestHeadersBytes: big(),
      requestBodyBytes: big(),
      requestHeaders: { 'x-a': str() },
    })),
    response: maybe(0.9, () => ({
      responseCode: maybe(0.9, () => (R() < 0.3 ? 403 : 200 + int(300))),
      responseHeadersBytes: big(),
      responseBodyBytes: big(),
      responseCodeDetails: str(),
      responseHeaders: { 'x-b': str() },
    })),
  });
  return StreamAccessLogsMessage.fromPartial({
    identifier: maybe(0.5, () => ({ node: { id: str(), cluster: str(), metadata: { k: str() } }, logName: str() })),
    tcpLogs: maybe(0.7, () => ({ logEntry: Array.from({ length: int(5) }, tcp) })),
    httpLogs: maybe(0.7, () => ({ logEntry: Array.from({ length: int(5) }, http) })),
  });
}

// The generated message, cut down to the fields (and key sets) of model/access-log.ts.
const addr = (a: Address | undefined) =>
  a && {
    socketAddress: a.socketAddress && { address: a.socketAddress.address, portValue: a.socketAddress.portValue },
    pipe: a.pipe ? {} : undefined,
    envoyInternalAddress: a.envoyInternalAddress ? {} : undefined,
  };
const time = (t: { seconds: number; nanos: number } | undefined) => t && { seconds: t.seconds, nanos: t.nanos };
const common = (c: AccessLogCommon | undefined) =>
  c && {
    downstreamRemoteAddress: addr(c.downstreamRemoteAddress),
    downstreamLocalAddress: addr(c.downstreamLocalAddress),
    upstreamRemoteAddress: addr(c.upstreamRemoteAddress),
    upstreamLocalAddress: addr(c.upstreamLocalAddress),
    tlsProperties: c.tlsProperties && { tlsSniHostname: c.tlsProperties.tlsSniHostname },
    startTime: time(c.startTime),
    duration: time(c.duration),
    metadata: c.metadata && { filterMetadata: c.metadata.filterMetadata },
    connectionTerminationDetails: c.connectionTerminationDetails,
    downstreamWireBytesSent: c.downstreamWireBytesSent,
    downstreamWireBytesReceived: c.downstreamWireBytesReceived,
  };
const project = (m: StreamAccessLogsMessage) => ({
  ...(m.identifier && {
    identifier: {
      nodeId: m.identifier.node?.id ?? '',
      cluster: m.identifier.node?.cluster ?? '',
      logName: m.identifier.logName,
    },
  }),
  tcp: (m.tcpLogs?.logEntry ?? []).map((e) => ({
    commonProperties: common(e.commonProperties),
    connectionProperties: e.connectionProperties && {
      receivedBytes: e.connectionProperties.receivedBytes,
      sentBytes: e.connectionProperties.sentBytes,
    },
  })),
  http: (m.httpLogs?.logEntry ?? []).map((e) => ({
    commonProperties: common(e.commonProperties),
    protocolVersion: e.protocolVersion,
    request: e.request && {
      authority: e.request.authority,
      path: e.request.path,
      originalPath: e.request.originalPath,
      requestId: e.request.requestId,
      requestMethod: e.request.requestMethod,
      requestHeadersBytes: e.request.requestHeadersBytes,
      requestBodyBytes: e.request.requestBodyBytes,
      // the headers the log config names (traceparent): present only when the entry has some
      ...(Object.keys(e.request.requestHeaders).length > 0 && { requestHeaders: e.request.requestHeaders }),
    },
    response: e.response && {
      responseCode: e.response.responseCode,
      responseCodeDetails: e.response.responseCodeDetails,
      responseHeadersBytes: e.response.responseHeadersBytes,
      responseBodyBytes: e.response.responseBodyBytes,
    },
  })),
});

test('the lean decoder reads every field it keeps exactly as the generated decoder does (500 random messages)', () => {
  const R = rng(7);
  let entries = 0;
  for (let i = 0; i < 500; i++) {
    const bytes = Buffer.from(StreamAccessLogsMessage.encode(gen(R)).finish());
    const full = StreamAccessLogsMessage.decode(bytes);
    const lean = decodeAlsMessage(bytes);
    assert.deepStrictEqual(lean, project(full), `message ${i}`);
    entries += lean.tcp.length + lean.http.length;
  }
  assert.ok(entries > 1000, `only ${entries} entries generated`);
});

test('an empty message decodes to no entries and no identifier', () => {
  assert.deepStrictEqual(decodeAlsMessage(Buffer.alloc(0)), { tcp: [], http: [] });
});

test('truncated messages and random bytes throw AlsDecodeError, never anything else', () => {
  const R = rng(11);
  const bytes = Buffer.from(StreamAccessLogsMessage.encode(gen(R)).finish());
  let rejected = 0;
  const check = (b: Buffer, what: string) => {
    try {
      decodeAlsMessage(b);
    } catch (e) {
      assert.ok(e instanceof AlsDecodeError, `${what}: ${String(e)}`);
      rejected++;
    }
  };
  for (let cut = 1; cut < bytes.length; cut++) check(bytes.subarray(0, cut), `cut at ${cut}`);
  for (let i = 0; i < 2000; i++)
    check(Buffer.from(Array.from({ length: 1 + Math.floor(R() * 64) }, () => Math.floor(R() * 256))), `random ${i}`);
  assert.ok(rejected > 1000, `only ${rejected} inputs rejected`);
  // the bytes the service test sends as "not a message"
  assert.throws(() => decodeAlsMessage(Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x01])), AlsDecodeError);
  // field number 0 is never valid
  assert.throws(() => decodeAlsMessage(Buffer.from([0x02, 0x00])), /invalid field tag/);
});

test('response flags become bits (field n → bit n-1) and grpc-status is read from trailers before headers', () => {
  const msg = StreamAccessLogsMessage.encode(
    StreamAccessLogsMessage.fromPartial({
      httpLogs: {
        logEntry: [
          {
            commonProperties: {
              responseFlags: { upstreamConnectionFailure: true, noHealthyUpstream: true, unauthorizedDetails: {} },
            },
            response: { responseHeaders: { 'grpc-status': '0' }, responseTrailers: { 'grpc-status': '14' } },
          },
          { response: { responseHeaders: { 'grpc-status': '5' } } },
          { response: { responseTrailers: { 'grpc-status': 'x' } } },
        ],
      },
    }),
  ).finish();
  const [a, b, c] = decodeAlsMessage(Buffer.from(msg)).http;
  assert.equal(a!.commonProperties!.responseFlagBits, (1 << 5) | (1 << 1) | (1 << 12));
  assert.equal(a!.response!.grpcStatus, 14);
  assert.equal(b!.response!.grpcStatus, 5, 'a trailers-only response has it in its headers');
  assert.equal(c!.response!.grpcStatus, undefined, 'not a status');
  assert.equal(b!.commonProperties, undefined);
});
