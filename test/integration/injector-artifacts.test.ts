// What the injector writes into a pod, checked by the real programs that will read it: Envoy accepts the sidecar's
// bootstrap (`--mode validate`, with the kubelet's `$(VAR)` substitution done by hand), and nft accepts the capture
// ruleset with every kind of exclusion (`nft -c`: checked, nothing applied).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { findEnvoy } from '../../xds-server/src/util/envoy.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, inject, type InjectResult } from '../../injector/index.js';
import { XDS_AUTH_DIR } from '../../xds-server/src/sidecar/index.js';
import { CONFIG, CRONJOB_POD, deploymentPod, SHOP, STATEFUL_POD } from '../unit/injector/fixtures.js';

const exec = promisify(execFile);
const NEEDS_ROOT = process.getuid?.() === 0 ? false : 'nft -c needs root (CAP_NET_ADMIN)';

interface Added {
  readonly value: Container | Container[];
}
interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string }[];
}
function containers(pod: Parameters<typeof inject>[0]): { proxy: Container; init: Container } {
  const r: InjectResult = inject(pod, SHOP, CONFIG);
  assert.equal(r.action, 'inject');
  const ops = (r as Extract<InjectResult, { action: 'inject' }>).patch as unknown as Added[];
  const all = ops.flatMap((o) => (Array.isArray(o.value) ? o.value : [o.value]));
  const find = (name: string): Container => all.find((c) => c?.name === name)!;
  return { proxy: find('nanoseg-proxy'), init: find('nanoseg-init') };
}

test('injector: Envoy accepts the sidecar bootstrap (validate mode)', async (t) => {
  const { proxy } = containers(STATEFUL_POD);
  const args = proxy.args!;
  // the projected volume's files (the CA and the token) where the kubelet would mount them: Envoy reads them
  const dir = mkdtempSync(join(tmpdir(), 'nanoseg-inject-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ca.pem'), (await createCa('nanoseg-test-ca', Date.now())).certPem);
  writeFileSync(join(dir, 'token'), 'e30.e30.sig');
  const yaml = args[args.indexOf('--config-yaml') + 1]!.replaceAll('$(POD_NAME)', 'db-0')
    .replaceAll('$(POD_IP)', '10.1.0.5')
    .replaceAll(XDS_AUTH_DIR, dir);
  assert.match(yaml, /google_grpc/, 'the authenticated channel is what is checked');
  const { stdout, stderr } = await exec(
    findEnvoy(),
    ['--mode', 'validate', '--config-yaml', yaml, '--disable-hot-restart'],
    {
      timeout: 30_000,
    },
  );
  assert.match(stdout + stderr, /configuration '.*' OK/);
});

test('injector: nft accepts the capture ruleset with exclusions', { skip: NEEDS_ROOT }, async () => {
  for (const pod of [deploymentPod(), STATEFUL_POD, CRONJOB_POD]) {
    const rules = containers(pod).init.env!.find((e) => e.name === 'NANOSEG_CAPTURE_RULES')!.value!;
    const child = execFile('nft', ['-c', '-f', '-']);
    const done = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin!.end(rules);
    assert.equal(await done, 0, `nft -c refused the ruleset: ${err}`);
  }
});
