// Lint: typescript-eslint's recommended syntax rules (no type information needed) plus the project's boundaries:
//  - the pure core (model, learn, traces, policy, generate, sidecar, inventory's pure part, the xDS protocol decisions)
//    never imports serving, the xDS transport, the API, the store, the lab, processes, sockets or the kernel;
//  - only the tracing adapter (serve/otel-export.ts, loaded by a dynamic import) imports @opentelemetry: everything else
//    traces through the seam in util/tracing.ts, so a control plane without --otlp-endpoint never loads the SDK;
//  - no `export *` (each folder's index names what it exports);
//  - no import cycles.
// test/unit/lint.test.ts proves that each boundary rule fails when broken (fixtures in test/lint/fixtures/).
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

/** Folders and files that must stay free of I/O: input in, value out. */
export const PURE_CORE = [
  'xds-server/src/model/**/*.ts',
  'xds-server/src/learn/**/*.ts',
  'xds-server/src/traces/**/*.ts',
  'xds-server/src/policy/**/*.ts',
  'xds-server/src/generate/**/*.ts',
  'xds-server/src/sidecar/**/*.ts',
  'xds-server/src/inventory/{merge,identity,schema,validate,file}.ts',
  'xds-server/src/inventory/kubernetes/{types,owner,mapping,errors,modes,segment-status,segment-spec}.ts',
  'xds-server/src/export/**/*.ts',
  'injector/{inject,annotations,config,admission,segment-admission}.ts',
  'xds-server/src/xds/{types,snapshot,decide,fail-static,wire}.ts',
  'xds-server/src/alerts/verdict.ts',
  'xds-server/src/auth/{decide,cache}.ts',
];

const IO_MODULES = [
  '@grpc/grpc-js',
  'better-sqlite3',
  'pino',
  'prom-client',
  '@kubernetes/client-node',
  'node:child_process',
  'node:fs',
  'node:fs/promises',
  'node:net',
  'node:http',
  'node:https',
  'node:http2',
  'node:dgram',
  'node:worker_threads',
  'node:cluster',
];

/** The OpenTelemetry SDK is an adapter behind util/tracing.ts. */
export const TRACING_ADAPTER = 'xds-server/src/serve/otel-export.ts';
const otelPattern = {
  group: ['@opentelemetry/*'],
  message:
    'trace through the seam in util/tracing.ts: only serve/otel-export.ts imports @opentelemetry (loaded by a ' +
    'dynamic import when --otlp-endpoint is set)',
};

const pureCoreMessage =
  'the pure core does no I/O: it never imports serving, the xDS transport, the API, the store, the lab, ' +
  'controllers, processes, sockets or the kernel (see docs/architecture.md)';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'proto/gen/**', '.venv/**', 'bench-results/**', 'test/lint/fixtures/**'] },
  {
    files: ['**/*.ts', '**/*.mjs'],
    extends: [tseslint.configs.recommended],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'no `export *`: name what the module exports' },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['xds-server/src/**/*.ts', 'injector/**/*.ts'],
    ignores: [TRACING_ADAPTER],
    rules: { 'no-restricted-imports': ['error', { patterns: [otelPattern] }] },
  },
  {
    files: PURE_CORE,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: IO_MODULES.map((name) => ({ name, message: pureCoreMessage })),
          patterns: [
            {
              group: [
                '**/serve/**',
                '**/api/**',
                '**/store/**',
                '**/lab/**',
                '**/cli/**',
                '**/controllers/**',
                '**/controlplane/**',
                '**/xds/ads.js',
                '**/xds/cache.js',
                '**/xds/discovery.js',
                '**/xds/push.js',
                '**/xds/index.js',
                '**/ebpf-redirect/**',
                '**/kernel/**',
                '**/injector/**',
              ],
              message: pureCoreMessage,
            },
            otelPattern,
          ],
        },
      ],
    },
  },
);
