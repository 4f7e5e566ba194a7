// The lean OTLP decoder against the generated one: for random exports (with events, links, scopes and attributes
// the lean decoder skips), every field it keeps equals what ts-proto decodes. Bad bytes never throw: a broken span
// costs that span, a broken outer frame costs the rest, and a span count still comes out of a refused export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExportTraceServiceRequest } from '../../../proto/gen/opentelemetry/proto/collector/trace/v1/trace_service.js';
import { Span, Span_SpanKind, Status_StatusCode } from '../../../proto/gen/opentelemetry/proto/trace/v1/trace.js';
import type { AnyValue, KeyValue } from '../../../proto/gen/opentelemetry/proto/common/v1/common.js';
import { countSpans, decodeTraceExport } from '../../../xds-server/src/serve/otlp-decode.js';
import { MAX_ATTRIBUTE_CHARS, SPAN_ATTRIBUTES } from '../../../xds-server/src/model/index.js';
import type { DeepPartial } from '../../../xds-server/src/generate/index.js';
import { prng } from '../../support/prng.js';

const KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUSES = ['unset', 'ok', 'error'];

function gen(R: () => number) {
  const int = (n: number) => Math.floor(R() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => 1 + int(255)));
  const str = (alphabet = 'abcdefghij.-/:é😀') =>
    Array.from({ length: int(12) }, () => [...alphabet][int([...alphabet].length)]).join('');
  const anyValue = (depth: number): DeepPartial<AnyValue> => {
    switch (int(depth > 0 ? 4 : 7)) {
      case 0:
        return { stringValue: str() };
      case 1:
        return { boolValue: R() < 0.5 };
      case 2:
        return { intValue: int(1e9) - 5e8 };
      case 3:
        return { doubleValue: R() * 100 };
      case 4:
        return { arrayValue: { values: [anyValue(depth + 1), anyValue(depth + 1)] } };
      case 5:
        return { kvlistValue: { values: [{ key: str(), value: anyValue(depth + 1) }] } };
      default:
        return { bytesValue: bytes(int(5)) };
    }
  };
  const attr = (): DeepPartial<KeyValue> => ({
    key: R() < 0.6 ? SPAN_ATTRIBUTES[int(SPAN_ATTRIBUTES.length)]! : str(),
    value: anyValue(0),
  });
  const span = (): DeepPartial<Span> => {
    const start = 1_700_000_000_000_000_000 + int(1e12);
    return {
      traceId: bytes(16),
      spanId: bytes(8),
      parentSpanId: R() < 0.5 ? bytes(8) : Buffer.alloc(0),
      traceState: str(),
      flags: int(256),
      name: str(),
      kind: int(6) as Span_SpanKind,
      startTimeUnixNano: start,
      endTimeUnixNano: start + int(1e9),
      attributes: Array.from({ length: int(8) }, attr),
      droppedAttributesCount: int(3),
      events: Array.from({ length: int(3) }, () => ({ timeUnixNano: start, name: str(), attributes: [attr()] })),
      links: Array.from({ length: int(2) }, () => ({ traceId: bytes(16), spanId: bytes(8), attributes: [attr()] })),
      status: R() < 0.7 ? { code: int(3) as Status_StatusCode, message: str() } : undefined,
    };
  };
  return ExportTraceServiceRequest.fromPartial({
    resourceSpans: Array.from({ length: 1 + int(3) }, () => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: str() } }, attr()] },
      scopeSpans: Array.from({ length: 1 + int(2) }, () => ({
        scope: { name: str(), version: str(), attributes: [attr()] },
        spans: Array.from({ length: int(5) }, span),
        schemaUrl: str(),
      })),
      schemaUrl: str(),
    })),
  });
}

/** What the lean decoder should read out of a generated message. */
function expected(m: ExportTraceServiceRequest) {
  const text = (v: KeyValue['value']): string => {
    if (v?.stringValue !== undefined) return v.stringValue;
    if (v?.boolValue !== undefined) return String(v.boolValue);
    if (v?.intValue !== undefined) return String(v.intValue);
    if (v?.doubleValue !== undefined) return String(v.doubleValue);
    return '';
  };
  return m.resourceSpans.map((r) => {
    const name = r.resource?.attributes.find((a) => a.key === 'service.name');
    return {
      ...(name && { serviceName: text(name.value) }),
      spans: r.scopeSpans.flatMap((s) =>
        s.spans.map((sp) => {
          const attributes: Record<string, string> = {};
          for (const a of sp.attributes)
            if ((SPAN_ATTRIBUTES as readonly string[]).includes(a.key)) attributes[a.key] = text(a.value);
          return {
            traceId: sp.traceId.toString('hex'),
            spanId: sp.spanId.toString('hex'),
            parentSpanId: sp.parentSpanId.toString('hex'),
            name: sp.name,
            kind: KINDS[sp.kind],
            startMs: sp.startTimeUnixNano / 1e6,
            endMs: sp.endTimeUnixNano / 1e6,
            status: STATUSES[sp.status?.code ?? 0],
            attributes,
          };
        }),
      ),
    };
  });
}

test('the lean decoder reads what the generated decoder reads, for 300 random exports', () => {
  const R = prng(7);
  for (let i = 0; i < 300; i++) {
    const m = gen(R);
    const buf = Buffer.from(ExportTraceServiceRequest.encode(m).finish());
    const got = decodeTraceExport(buf);
    assert.equal(got.invalid, 0, `export ${i}: ${got.invalidReason}`);
    assert.deepEqual(JSON.parse(JSON.stringify(got.resources)), JSON.parse(JSON.stringify(expected(m))), `export ${i}`);
    assert.equal(countSpans(buf), m.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)).length);
  }
});

/** A length-delimited field by hand: tag, length, bytes. */
function ld(field: number, body: Buffer): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return Buffer.from(out);
  };
  return Buffer.concat([varint((field << 3) | 2), varint(body.length), body]);
}

function spanBytes(id: number): Buffer {
  return Buffer.from(
    Span.encode(
      Span.fromPartial({
        traceId: Buffer.alloc(16, 1),
        spanId: Buffer.alloc(8, id),
        name: `s${id}`,
        startTimeUnixNano: 1_700_000_000_000_000_000,
        endTimeUnixNano: 1_700_000_000_001_000_000,
      }),
    ).finish(),
  );
}

test('a broken span costs that span only; spans with bad ids or times are counted invalid', () => {
  const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  const badIds = Buffer.from(
    ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromPartial({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  { traceId: Buffer.alloc(3, 1), spanId: Buffer.alloc(8, 1), startTimeUnixNano: 1, endTimeUnixNano: 2 },
                  {
                    traceId: Buffer.alloc(16, 1),
                    spanId: Buffer.alloc(8, 0),
                    startTimeUnixNano: 1,
                    endTimeUnixNano: 2,
                  },
                  {
                    traceId: Buffer.alloc(16, 1),
                    spanId: Buffer.alloc(8, 2),
                    startTimeUnixNano: 5,
                    endTimeUnixNano: 2,
                  },
                ],
              },
            ],
          },
        ],
      }),
    ).finish(),
  );
  const scope = Buffer.concat([ld(2, spanBytes(1)), ld(2, garbage), ld(2, spanBytes(2))]);
  const msg = Buffer.concat([ld(1, ld(2, scope)), badIds]);
  const d = decodeTraceExport(msg);
  assert.deepEqual(
    d.resources.flatMap((r) => r.spans.map((s) => s.name)),
    ['s1', 's2'],
  );
  assert.equal(d.invalid, 4, d.invalidReason);
  assert.match(d.invalidReason ?? '', /does not decode/);
  assert.equal(countSpans(msg), 6);
});

test('random corruption never throws, and what decodes is a subset of the spans sent', () => {
  const R = prng(11);
  for (let i = 0; i < 500; i++) {
    const buf = Buffer.from(ExportTraceServiceRequest.encode(gen(R)).finish());
    const bad = Buffer.from(buf);
    for (let k = 0; k < 1 + Math.floor(R() * 4); k++) bad[Math.floor(R() * bad.length)] = Math.floor(R() * 256);
    const cut = bad.subarray(0, Math.floor(R() * bad.length));
    for (const b of [bad, cut]) {
      const d = decodeTraceExport(b);
      assert.ok(d.invalid >= 0);
      assert.ok(countSpans(b) >= 0);
    }
  }
  assert.equal(decodeTraceExport(Buffer.from('not protobuf at all, just text')).resources.length, 0);
  assert.ok(decodeTraceExport(Buffer.from('not protobuf at all, just text')).invalid >= 1);
});

test('an attribute value longer than the bound is cut and counted', () => {
  const long = 'x'.repeat(MAX_ATTRIBUTE_CHARS * 10);
  const buf = Buffer.from(
    ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromPartial({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: Buffer.alloc(16, 1),
                    spanId: Buffer.alloc(8, 1),
                    startTimeUnixNano: 1,
                    endTimeUnixNano: 2,
                    attributes: [
                      { key: 'http.url', value: { stringValue: long } },
                      { key: 'unrelated', value: { stringValue: long } },
                    ],
                  },
                ],
              },
            ],
          },
        ],
      }),
    ).finish(),
  );
  const d = decodeTraceExport(buf);
  assert.equal(d.resources[0]!.spans[0]!.attributes['http.url']!.length, MAX_ATTRIBUTE_CHARS);
  assert.equal(d.hugeAttributes, 1, 'only kept attributes are read at all');
});
