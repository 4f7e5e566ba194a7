#!/usr/bin/env node
// Generates TypeScript types and grpc-js service definitions for the Envoy v3 API and OTLP traces with ts-proto.
// Sources: the .proto trees shipped in the npm package @grpc/grpc-js-xds (deps/envoy-api, xds, googleapis,
// protoc-gen-validate), and proto/otlp/: a minimal OTLP trace schema written from the OpenTelemetry specification
// (no npm package ships the OTLP .proto files). Output goes to proto/gen/ and is never hand-edited.
//
// The trap: @grpc/grpc-js-xds bundles a protoc-gen-validate older than its envoy-api, so envoy protos use
// validate options (e.g. StringRules.ignore_empty) that the bundled validate.proto does not declare and protoc
// rejects them. Validation annotations have no effect on generated code, so we hand protoc a *derived*
// validate.proto, written to a temp dir at generation time, that adds the missing fields (listed in MISSING_FIELDS
// below) to the bundled file. If envoy-api starts using another new rule, protoc names it and the list grows.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const require = createRequire(import.meta.url);
const xdsPkg = dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
const deps = join(xdsPkg, 'deps');
const out = join(here, 'gen');

// Root protos we use; protoc pulls in their imports.
export const ROOTS = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/accesslog/v3/als.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/core/v3/extension.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/access_loggers/grpc/v3/als.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'xds/type/matcher/v3/ip.proto',
  'envoy/extensions/matching/common_inputs/network/v3/network_inputs.proto',
  'envoy/config/rbac/v3/rbac.proto',
  'envoy/type/matcher/v3/http_inputs.proto',
  'envoy/config/trace/v3/opentelemetry.proto',
  'envoy/config/grpc_credential/v3/file_based_metadata.proto',
];

// OTLP roots, from proto/otlp/
export const OTLP_ROOTS = ['opentelemetry/proto/collector/trace/v1/trace_service.proto'];

// message name -> field lines to add to the bundled validate.proto
const MISSING_FIELDS = {
  StringRules: ['optional bool ignore_empty = 26;'],
  BytesRules: ['optional bool ignore_empty = 14;'],
};

function derivedValidateDir() {
  const src = readFileSync(join(deps, 'protoc-gen-validate', 'validate', 'validate.proto'), 'utf8');
  let text = src;
  for (const [msg, fields] of Object.entries(MISSING_FIELDS)) {
    const head = `message ${msg} {`;
    const at = text.indexOf(head);
    if (at < 0) throw new Error(`validate.proto: message ${msg} not found`);
    const missing = fields.filter((f) => !new RegExp(`\\b${f.split(' ')[2]}\\b`).test(blockOf(text, at)));
    text =
      text.slice(0, at + head.length) + '\n' + missing.map((f) => '    ' + f).join('\n') + text.slice(at + head.length);
  }
  const dir = mkdtempSync(join(tmpdir(), 'nanoseg-validate-'));
  mkdirSync(join(dir, 'validate'));
  writeFileSync(join(dir, 'validate', 'validate.proto'), text);
  return dir;
}

function blockOf(text, at) {
  let depth = 0;
  for (let i = text.indexOf('{', at); i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(at, i);
  }
  return text.slice(at);
}

const validateDir = derivedValidateDir();
try {
  if (existsSync(out)) rmSync(out, { recursive: true });
  mkdirSync(out, { recursive: true });
  const plugin = join(root, 'node_modules', '.bin', 'protoc-gen-ts_proto');
  const opts = [
    'outputServices=grpc-js',
    'esModuleInterop=true',
    'env=node',
    'importSuffix=.js',
    'forceLong=number',
    'useOptionals=messages',
    'outputJsonMethods=false',
    'exportCommonSymbols=false',
    'useDate=false',
  ].join(',');
  execFileSync(
    'protoc',
    [
      `--plugin=protoc-gen-ts_proto=${plugin}`,
      `--ts_proto_out=${out}`,
      `--ts_proto_opt=${opts}`,
      `-I${validateDir}`, // must come first: the derived validate.proto shadows the bundled one
      `-I${join(deps, 'envoy-api')}`,
      `-I${join(deps, 'xds')}`,
      `-I${join(deps, 'googleapis')}`,
      `-I${join(deps, 'protoc-gen-validate')}`,
      `-I${join(here, 'otlp')}`,
      ...ROOTS,
      ...OTLP_ROOTS,
    ],
    { stdio: 'inherit' },
  );
  writeFileSync(join(out, 'README.md'), '# Generated by proto/generate.mjs with ts-proto. Do not edit.\n');
} finally {
  rmSync(validateDir, { recursive: true, force: true });
}
