// `nanoseg serve --kubernetes` without a usable cluster: it does not start, and one line says what is missing — no
// kubeconfig, a kubeconfig file that is not there, an apiserver nobody answers at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { nanoseg, tempDir } from '../support/cli.js';

function serve(dir: string, extra: string[], env: NodeJS.ProcessEnv = {}) {
  return nanoseg(
    [
      'serve',
      '--state-dir',
      join(dir, 'state'),
      '--api-socket',
      join(dir, 'api.sock'),
      '--xds-socket',
      join(dir, 'xds.sock'),
      '--xds-address',
      'off',
      '--metrics-address',
      'off',
      '--kubernetes',
      ...extra,
    ],
    env,
    30_000,
  );
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

test('serve --kubernetes refuses to start without a kubeconfig, naming where it looked', () => {
  const tmp = tempDir('nanoseg-k8s-err-');
  try {
    const r = serve(tmp.dir, [], { KUBECONFIG: '', HOME: tmp.dir, KUBERNETES_SERVICE_HOST: '' });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /no kubeconfig: give --kubeconfig FILE, set KUBECONFIG/);
    const missing = serve(tmp.dir, ['--kubeconfig', join(tmp.dir, 'nope.yaml')]);
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /kubeconfig .*nope\.yaml: no such file/);
  } finally {
    tmp.remove();
  }
});

test('serve --kubernetes gives up on an apiserver nobody answers at, saying where and why', async () => {
  const tmp = tempDir('nanoseg-k8s-err-');
  try {
    const port = await closedPort();
    const kubeconfig = join(tmp.dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: c\n  cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}`,
        'users:',
        '- name: u\n  user: {token: "t"}',
        'contexts:',
        '- name: x\n  context: {cluster: c, user: u}',
        'current-context: x',
        '',
      ].join('\n'),
    );
    const started = Date.now();
    const r = serve(tmp.dir, ['--kubeconfig', kubeconfig, '--kubernetes-timeout', '2s']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`cannot list the cluster's objects from https://127\\.0\\.0\\.1:${port} within 2000 ms`),
    );
    assert.match(r.stderr, /\/api\/v1\/pods: .*ECONNREFUSED/);
    assert.ok(Date.now() - started < 15_000, 'gives up after the timeout, not later');
  } finally {
    tmp.remove();
  }
});
