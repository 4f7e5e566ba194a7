// Bad input at the command line: one clear line, non-zero exit, nothing changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { nanoseg, tempDir, ServerProcess, isRoot } from '../support/cli.js';

test('a missing API socket is one line naming the socket and how to fix it', () => {
  const r = nanoseg(['services', '--api-socket', '/nonexistent/api.sock']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /cannot reach the control plane at \/nonexistent\/api\.sock/);
});

test('NANOSEG_API is the fallback for --api-socket', () => {
  const r = nanoseg(['status'], { NANOSEG_API: '/nonexistent/env.sock' });
  assert.match(r.stderr, /\/nonexistent\/env\.sock/);
});

test('bad flags and values exit 2 with a one-line error', () => {
  for (const args of [
    ['serve', '--quiet-period', 'ten'],
    ['serve', '--min-observations', '-1'],
    ['services', '-o', 'xml'],
    ['bogus-command'],
    ['serve', '--xds-address', 'nope'],
  ]) {
    const r = nanoseg(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.trim().length > 0);
    assert.ok(!/\n\s+at /.test(r.stderr), `no stack trace: ${r.stderr}`);
  }
});

test('policy show rejects a malformed service name before calling the API', () => {
  const r = nanoseg(['policy', 'show', 'noslash', '--api-socket', '/nonexistent/api.sock']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /expected namespace\/name/);
});

test('a malformed lab file: FILE:LINE:COL and the field, exit 2, nothing created', () => {
  const tmp = tempDir('nanoseg-cli-');
  try {
    const f = join(tmp.dir, 'bad.yaml');
    writeFileSync(
      f,
      'apiVersion: nanoseg.io/v1alpha1\nkind: Lab\npods:\n  - name: web-1\n    service: shop/web\n    address: 10.999.0.1\n    run: "true"\n',
    );
    const r = nanoseg([
      'lab',
      'up',
      '-f',
      f,
      '--lab-dir',
      join(tmp.dir, 'lab'),
      '--api-socket',
      '/nonexistent/api.sock',
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bad\.yaml:6:\d+: pods\[0\]\.address/);
    assert.equal(existsSync(join(tmp.dir, 'lab')), false, 'nothing created');
  } finally {
    tmp.remove();
  }
});

test('unknown service and unknown pod are one-line errors', { skip: !isRoot && 'lab exec needs root' }, async (t) => {
  const tmp = tempDir('nanoseg-cli-');
  const server = new ServerProcess(tmp.dir);
  t.after(async () => {
    await server.stop();
    tmp.remove();
  });
  await server.start();
  const p = nanoseg(['policy', 'show', 'shop/nothing'], server.env);
  assert.equal(p.code, 1);
  assert.match(p.stderr, /unknown service shop\/nothing/);
  const e = nanoseg(['lab', 'exec', 'ghost', '--', 'true'], server.env);
  assert.notEqual(e.code, 0);
  assert.equal(e.stderr.trim().split('\n').length, 1, e.stderr);
  assert.match(e.stderr, /ghost/);
});
