// End to end: real namespaces, bridge, Envoy processes and python servers. Needs root; leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { labDown, labExec, labList, labUp, readLabState } from '../../../xds-server/src/lab/index.js';
import type { LabLogger, LabSpec } from '../../../xds-server/src/lab/index.js';

const ENVOY = resolve('.venv/lib/python3.11/site-packages/envoy/_bin/envoy');
const silent: LabLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

const OURS = ['nsg-lab', 'nsg-web-1', 'nsg-api-1', 'nsg-payments'];

/** The namespaces of this test's lab that exist (other `nsg-*` namespaces on a shared machine are not ours). */
function labNamespaces(): string[] {
  const out = sh('ip', ['-j', 'netns', 'list']).trim();
  const names = out === '' ? [] : (JSON.parse(out) as { name: string }[]).map((n) => n.name);
  return names.filter((n) => OURS.includes(n) || existsSync(`/run/nanoseg/lab/netns/${n}`));
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** HTTP GET from inside a namespace; retried while the server starts. */
async function fetchIn(namespace: string, url: string, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      sh('ip', ['netns', 'exec', namespace, 'curl', '-sf', '--max-time', '2', '-o', '/dev/null', url]);
      return true;
    } catch {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

const skipReason =
  process.getuid?.() !== 0
    ? 'needs root (network namespaces)'
    : !existsSync(ENVOY)
      ? `no Envoy binary at ${ENVOY}`
      : labNamespaces().length > 0
        ? `lab namespaces already exist (${labNamespaces().join(', ')}): another lab is up`
        : undefined;

const SPEC: LabSpec = {
  name: 'e2e',
  subnet: '10.213.0.0/16',
  pods: [
    { name: 'web-1', service: 'shop/web', run: ['exec python3 -m http.server 8080'], ports: [8080] },
    { name: 'api-1', service: 'shop/api', run: ['exec python3 -m http.server 9090', 'exec sleep 600'], ports: [9090] },
  ],
  externals: [{ name: 'payments', address: '203.0.113.10', run: ['exec python3 -m http.server 443'] }],
};

test(
  'lab network: pods reach pods and externals, nothing leaves, re-apply and down clean up',
  { skip: skipReason },
  async (t) => {
    const labDir = await mkdtemp(join(tmpdir(), 'nanoseg-lab-'));
    t.after(async () => {
      await labDown({ labDir });
      await rm(labDir, { recursive: true, force: true });
    });
    const opts = {
      labDir,
      xdsSocket: join(labDir, 'xds.sock'),
      envoyBinary: ENVOY,
      logger: silent,
      waitForEnvoy: false,
      capture: false,
    };

    const rootForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const state = await labUp(SPEC, opts);
    assert.deepEqual(
      state.pods.map((p) => [p.name, p.address, p.namespace, p.phase]),
      [
        ['web-1', '10.213.0.2', 'nsg-web-1', 'running'],
        ['api-1', '10.213.0.3', 'nsg-api-1', 'running'],
      ],
    );
    assert.deepEqual(state.vips, [
      { service: 'shop/web', address: '10.213.255.1' },
      { service: 'shop/api', address: '10.213.255.2' },
    ]);
    assert.deepEqual(await readLabState(labDir), state);
    assert.deepEqual(labNamespaces().sort(), ['nsg-api-1', 'nsg-lab', 'nsg-payments', 'nsg-web-1']);

    // pod → pod (by name, through the hosts file), pod → external, external → pod.
    assert.ok(await fetchIn('nsg-web-1', 'http://api-1:9090/'), 'web-1 → api-1:9090');
    assert.ok(await fetchIn('nsg-api-1', 'http://10.213.0.2:8080/'), 'api-1 → web-1:8080');
    assert.ok(await fetchIn('nsg-web-1', 'http://payments:443/'), 'web-1 → payments:443');
    assert.ok(await fetchIn('nsg-payments', 'http://web-1:8080/'), 'payments → web-1:8080');

    // No way off the machine: no default route and no device but lo, the bridge and veths in the lab namespace.
    assert.equal(sh('ip', ['-n', 'nsg-lab', 'route', 'show', 'default']).trim(), '');
    assert.equal(sh('ip', ['-n', 'nsg-lab', '-4', 'route', 'show']).includes('via'), false);
    const links = (JSON.parse(sh('ip', ['-j', '-n', 'nsg-lab', 'link', 'show'])) as { ifname: string }[])
      .map((l) => l.ifname)
      .sort();
    assert.deepEqual(links, ['lo', 'nsg-br0', 'vh-api-1', 'vh-payments', 'vh-web-1']);
    assert.equal(/\bvh-/.test(sh('ip', ['-o', 'link', 'show'])), false, 'no lab veth in the root namespace');
    assert.equal(sh('ip', ['netns', 'exec', 'nsg-lab', 'cat', '/proc/sys/net/ipv4/ip_forward']).trim(), '1');
    assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), rootForward, 'root ip_forward untouched');

    // Envoys run (they wait for a control plane that is not there) as uid 1337; apps run.
    const listing = await labList({ labDir });
    for (const p of listing.pods) {
      assert.ok(p.envoy?.alive, `${p.name} envoy alive`);
      assert.ok(
        p.apps.every((a) => a.alive),
        `${p.name} apps alive`,
      );
      assert.equal(sh('ps', ['-o', 'uid=', '-p', String(p.envoy.pid)]).trim(), '1337');
    }
    assert.equal(listing.pods.find((p) => p.name === 'api-1')!.apps.length, 2);
    assert.equal(await labExec({ labDir }, 'web-1', ['sh', '-c', 'exit 3']), 3);
    await assert.rejects(labExec({ labDir }, 'nope', ['true']), /unknown pod "nope"; known: web-1, api-1, payments/);

    // Re-apply without api-1: exactly that pod goes; the others keep their processes.
    const before = await labList({ labDir });
    const apiPids = [before.pods[1]!.envoy!.pid, ...before.pods[1]!.apps.map((a) => a.pid)];
    const after = await labUp({ ...SPEC, pods: [SPEC.pods[0]!] }, opts);
    assert.deepEqual(
      after.pods.map((p) => p.name),
      ['web-1'],
    );
    assert.deepEqual(
      after.externals.map((e) => e.name),
      ['payments'],
    );
    assert.deepEqual(after.vips, [{ service: 'shop/web', address: '10.213.255.1' }]);
    assert.deepEqual(labNamespaces().sort(), ['nsg-lab', 'nsg-payments', 'nsg-web-1']);
    assert.equal(after.pods[0]!.envoyPid, before.pods[0]!.envoy!.pid);
    assert.deepEqual(
      after.externals[0]!.appPids,
      before.externals[0]!.apps.map((a) => a.pid),
    );
    assert.ok(
      apiPids.every((pid) => !alive(pid)),
      'api-1 processes are gone',
    );
    assert.ok(await fetchIn('nsg-web-1', 'http://payments:443/'), 'web-1 → payments still works');
    assert.equal(existsSync('/etc/netns/nsg-api-1'), false);

    // Down: nothing left, idempotent.
    const all = [after.pods[0]!.envoyPid!, ...after.pods[0]!.appPids, ...after.externals[0]!.appPids];
    const down = await labDown({ labDir });
    assert.ok(down.processesKilled >= all.length);
    assert.deepEqual(labNamespaces(), []);
    assert.ok(
      all.every((pid) => !alive(pid)),
      'no lab process survives labDown',
    );
    assert.equal(existsSync(join(labDir, 'state.json')), false);
    assert.equal(existsSync('/etc/netns/nsg-lab'), false);
    // the cgroup folder and the bpffs every pod shared go with the last pod
    assert.equal(existsSync('/sys/fs/cgroup/unified/nanoseg'), false, 'no nanoseg cgroup folder left');
    assert.doesNotMatch(readFileSync('/proc/self/mounts', 'utf8'), /\/run\/nanoseg\/bpffs /, 'bpffs unmounted');
    assert.equal(existsSync('/run/nanoseg/lab'), false, 'the namespace marks folder goes with the last mark');
    assert.deepEqual(await labDown({ labDir }), { namespaces: [], processesKilled: 0 });
  },
);

test(
  'lab without a control plane: the Envoy wait fails naming the pod and its log, the record allows cleanup',
  { skip: skipReason },
  async (t) => {
    const labDir = await mkdtemp(join(tmpdir(), 'nanoseg-lab-'));
    t.after(async () => {
      await labDown({ labDir });
      await rm(labDir, { recursive: true, force: true });
    });
    const opts = { labDir, xdsSocket: join(labDir, 'xds.sock'), envoyBinary: ENVOY, logger: silent, timeoutMs: 1500 };

    // An invalid spec creates nothing.
    await assert.rejects(
      labUp({ ...SPEC, pods: [{ ...SPEC.pods[0]!, ports: [15001] }] }, opts),
      /pods\[0\]\.ports\[0\]: port 15001 is reserved/,
    );
    assert.deepEqual(labNamespaces(), []);
    assert.equal(existsSync(join(labDir, 'state.json')), false);

    const spec: LabSpec = { ...SPEC, pods: [SPEC.pods[0]!], externals: [] };
    await assert.rejects(
      labUp(spec, opts),
      new RegExp(
        `pod web-1: Envoy has no listeners on 15001 and 15006 after 1500 ms .*see ${labDir}/pods/web-1/envoy.log`,
      ),
    );
    const state = await readLabState(labDir);
    assert.equal(state?.pods[0]?.phase, 'envoy');
    assert.deepEqual(state?.pods[0]?.appPids, [], 'apps do not start before Envoy has its listeners');
    const rules = sh('ip', ['netns', 'exec', 'nsg-web-1', 'nft', 'list', 'table', 'inet', 'nanoseg']);
    assert.match(rules, /socket cgroupv2 level 3 \d+ return/);
    assert.match(rules, /redirect to :15006/);
    const envoyPid = state!.pods[0]!.envoyPid!;
    assert.ok(alive(envoyPid));

    const down = await labDown({ labDir });
    assert.deepEqual([...down.namespaces].sort(), ['nsg-lab', 'nsg-web-1']);
    assert.deepEqual(labNamespaces(), []);
    assert.equal(alive(envoyPid), false);
  },
);
