// Lab pods as containers: `user:`, `privileged:` and `dns:` in lab files, the plan's resolver member and hosts files,
// and the pure builders of the sandbox's command lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_POD_USER,
  POD_CAPABILITIES,
  ROOT_POD_USER,
  checkLabSpec,
  dnsmasqCommand,
  formatValidationError,
  hiddenPaths,
  hostsFile,
  parseLabSpec,
  parsePodUser,
  planLab,
  podAppArgv,
  podCapabilityMask,
  podExecArgv,
  podHostsFile,
  podWorkDir,
  resolvConf,
  sandboxArgv,
  setprivArgv,
} from '../../../xds-server/src/lab/index.js';
import type { LabSpec, LabState } from '../../../xds-server/src/lab/index.js';

const HEAD = 'apiVersion: nanoseg.io/v1alpha1\nkind: Lab\n';

function errors(text: string): string[] {
  const r = parseLabSpec(text);
  if (r.valid) throw new Error(`expected errors, got ${JSON.stringify(r.result)}`);
  return r.errors.map((e) => formatValidationError(e, 'lab.yaml'));
}

function parsed(text: string): LabSpec {
  const r = parseLabSpec(text);
  if (!r.valid) throw new Error(JSON.stringify(r.errors));
  return r.result;
}

test('user: UID[:GID] (GID defaults to UID); absent means the default 1000:1000 at planning', () => {
  const spec = parsed(
    `${HEAD}pods:\n  - {name: a, service: x/a, run: "true"}\n  - {name: b, service: x/b, run: "true", user: "1337"}\n` +
      `  - {name: c, service: x/c, run: "true", user: 2000:3000}\n  - {name: d, service: x/d, run: "true", user: 1001}\n`,
  );
  assert.deepEqual(
    spec.pods.map((p) => p.user),
    [
      undefined,
      { uid: 1337, gid: 1337, privileged: false },
      { uid: 2000, gid: 3000, privileged: false },
      {
        uid: 1001,
        gid: 1001,
        privileged: false,
      },
    ],
  );
  const d = planLab(spec, undefined, { xdsSocket: '/run/nanoseg/xds.sock' }).desired;
  assert.deepEqual(d.pods[0]!.user, DEFAULT_POD_USER);
  assert.deepEqual(DEFAULT_POD_USER, { uid: 1000, gid: 1000, privileged: false });
  // A normalised spec survives re-validation unchanged.
  const again = checkLabSpec(spec);
  assert.ok(again.valid);
  assert.deepEqual(again.result, spec);
});

test('privileged: true is uid 0; with user: it is refused at file:line', () => {
  const spec = parsed(`${HEAD}pods:\n  - name: a\n    service: x/a\n    run: "true"\n    privileged: true\n`);
  assert.deepEqual(spec.pods[0]!.user, ROOT_POD_USER);
  const again = checkLabSpec(spec);
  assert.ok(again.valid);
  assert.deepEqual(again.result, spec);
  assert.deepEqual(
    errors(`${HEAD}pods:\n  - name: a\n    service: x/a\n    run: "true"\n    user: "1000"\n    privileged: true\n`),
    ['lab.yaml:8:17: pods[0].privileged: a privileged pod runs as root (uid 0): remove "user" or "privileged"'],
  );
  assert.deepEqual(errors(`${HEAD}pods:\n  - {name: a, service: x/a, run: "true", privileged: "yes"}\n`), [
    'lab.yaml:4:54: pods[0].privileged: must be true or false',
  ]);
  // privileged: false is the default user, and may name one
  assert.deepEqual(
    parsed(`${HEAD}pods:\n  - {name: a, service: x/a, run: "true", privileged: false, user: 7}\n`).pods[0]!.user,
    {
      uid: 7,
      gid: 7,
      privileged: false,
    },
  );
});

test('bad users are refused with their position', () => {
  assert.deepEqual(
    errors(
      `${HEAD}pods:\n  - {name: a, service: x/a, run: "true", user: root}\n  - {name: b, service: x/b, run: "true", user: 0}\n` +
        `  - {name: c, service: x/c, run: "true", user: "70000:1"}\n  - {name: d, service: x/d, run: "true", user: [1]}\n`,
    ),
    [
      'lab.yaml:4:48: pods[0].user: must be UID or "UID:GID" (numbers, e.g. "1000:1000")',
      'lab.yaml:5:48: pods[1].user: uid 0 is not a user: use "privileged: true" for root',
      'lab.yaml:6:48: pods[2].user: ids must be between 1 and 65534',
      'lab.yaml:7:48: pods[3].user: must be UID or "UID:GID" (numbers)',
    ],
  );
  assert.equal(typeof parsePodUser('1000:'), 'string');
  assert.deepEqual(parsePodUser('1000:0'), { uid: 1000, gid: 0, privileged: false });
});

test('dns: true reserves the name "dns" and must be a boolean', () => {
  assert.equal(parsed(`${HEAD}dns: true\npods: []\n`).dns, true);
  assert.equal(parsed(`${HEAD}dns: false\npods: []\n`).dns, undefined);
  assert.deepEqual(errors(`${HEAD}dns: 1\npods: []\n`), ['lab.yaml:3:6: dns: must be true or false']);
  assert.deepEqual(errors(`${HEAD}dns: true\npods: []\nexternals:\n  - {name: dns, address: 203.0.113.53}\n`), [
    'lab.yaml:6:12: externals[0].name: "dns" is the lab\'s resolver (dns: true): choose another name',
  ]);
  // without dns: true, "dns" is an ordinary name
  assert.equal(
    parsed(`${HEAD}pods: []\nexternals:\n  - {name: dns, address: 203.0.113.53}\n`).externals[0]!.name,
    'dns',
  );
});

const SHOP: LabSpec = {
  name: 'shop',
  subnet: '10.213.0.0/16',
  dns: true,
  pods: [
    { name: 'web-1', service: 'shop/web', run: ['w'], ports: [8080] },
    { name: 'db-1', service: 'shop/db', address: '10.213.0.3', run: ['d'], ports: [] },
  ],
  externals: [{ name: 'payments', address: '203.0.113.10', run: [] }],
};

test('the resolver is an external member after the pods; pods see only themselves in hosts, it in resolv.conf', () => {
  const d = planLab(SHOP, undefined, { xdsSocket: '/run/nanoseg/xds.sock' }).desired;
  assert.deepEqual(
    d.externals.map((e) => [e.name, e.address, e.namespace]),
    [
      ['payments', '203.0.113.10', 'nsg-payments'],
      ['dns', '10.213.0.4', 'nsg-dns'],
    ],
  );
  assert.equal(d.dnsAddress, '10.213.0.4');
  assert.deepEqual(d.externals[1]!.run, [dnsmasqCommand('nsg-dns', '10.213.0.4')]);
  assert.match(d.externals[1]!.run[0]!, /--hostsdir=\/etc\/netns\/nsg-dns .*--listen-address=10\.213\.0\.4 /);
  assert.match(hostsFile(d), /^10\.213\.0\.4\tdns$/m);
  assert.match(hostsFile(d), /^10\.213\.255\.1\tweb\.shop$/m);
  const podHosts = podHostsFile(d, d.pods[0]!);
  assert.match(podHosts, /^10\.213\.0\.2\tweb-1$/m);
  assert.doesNotMatch(podHosts, /web\.shop|payments|db-1/);
  assert.equal(
    resolvConf('10.213.0.4'),
    '# nanoseg lab resolver\nnameserver 10.213.0.4\noptions timeout:1 attempts:2\n',
  );
  // Without a resolver a pod sees the lab's whole hosts file.
  const plain = planLab({ ...SHOP, dns: undefined }, undefined, { xdsSocket: '/x/xds.sock' }).desired;
  assert.equal(plain.dnsAddress, undefined);
  assert.equal(podHostsFile(plain, plain.pods[0]!), hostsFile(plain));
});

function running(state: LabState): LabState {
  return {
    ...state,
    pods: state.pods.map((p) => ({ ...p, phase: 'running', sandboxPid: 99 })),
    externals: state.externals.map((e) => ({ ...e, phase: 'running' })),
  };
}

test('re-apply: the resolver keeps its address; a changed user, hidden paths or resolver recreates the pod', () => {
  const opts = { xdsSocket: '/run/nanoseg/xds.sock', hidden: ['/run/nanoseg'] };
  const first = running(planLab(SHOP, undefined, opts).desired);
  const same = planLab(SHOP, first, opts);
  assert.deepEqual(same.recreate, []);
  assert.equal(same.desired.dnsAddress, '10.213.0.4');
  assert.equal(same.desired.pods[0]!.sandboxPid, 99, 'a kept pod keeps its sandbox');
  // a new auto-addressed pod does not take the resolver's address
  const more = planLab(
    { ...SHOP, pods: [...SHOP.pods, { name: 'x', service: 'shop/x', run: ['x'], ports: [] }] },
    first,
    opts,
  );
  assert.equal(more.desired.dnsAddress, '10.213.0.4');
  assert.equal(more.desired.pods[2]!.address, '10.213.0.5');
  const priv = { ...SHOP, pods: [{ ...SHOP.pods[0]!, user: ROOT_POD_USER }, SHOP.pods[1]!] };
  assert.deepEqual(planLab(priv, first, opts).reasons, { 'web-1': 'user changed' });
  assert.deepEqual(planLab(SHOP, first, { ...opts, hidden: ['/run/nanoseg', '/srv/cp'] }).reasons, {
    'web-1': 'hidden paths changed',
    'db-1': 'hidden paths changed',
  });
  const noDns = planLab({ ...SHOP, dns: undefined }, first, opts);
  assert.deepEqual(noDns.remove, ['dns']);
  assert.deepEqual(noDns.reasons, { 'web-1': 'lab resolver changed', 'db-1': 'lab resolver changed' });
});

test('the capability set is a container runtime default plus NET_ADMIN, never SYS_ADMIN or SYS_PTRACE', () => {
  assert.deepEqual([...POD_CAPABILITIES].sort(), [
    'audit_write',
    'chown',
    'dac_override',
    'fowner',
    'fsetid',
    'kill',
    'mknod',
    'net_admin',
    'net_bind_service',
    'net_raw',
    'setfcap',
    'setgid',
    'setpcap',
    'setuid',
    'sys_chroot',
  ]);
  // bits 0,1,3,4,5,6,7,8,10,12,13,18,27,29,31 (linux/capability.h); SYS_ADMIN is 21, SYS_PTRACE 19
  assert.equal(podCapabilityMask(), '00000000a80435fb');
  assert.equal((BigInt(`0x${podCapabilityMask()}`) >> 21n) & 1n, 0n);
  assert.equal((BigInt(`0x${podCapabilityMask()}`) >> 19n) & 1n, 0n);
});

test('setpriv: a user drops every capability; root keeps exactly the pod set; both no_new_privs', () => {
  assert.deepEqual(setprivArgv(DEFAULT_POD_USER), [
    'setpriv',
    '--reuid=1000',
    '--regid=1000',
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--',
  ]);
  const root = setprivArgv(ROOT_POD_USER);
  assert.ok(root.includes('--reuid=0') && root.includes('--no-new-privs'));
  assert.equal(root.find((a) => a.startsWith('--bounding-set='))?.split(',').length, 1 + POD_CAPABILITIES.length);
  assert.ok(!root.join(' ').includes('sys_admin'));
});

test('apps and lab exec enter the pause process: net, PID and mount namespaces, then setpriv', () => {
  assert.deepEqual(podAppArgv(42, DEFAULT_POD_USER, '/srv', 'exec app'), [
    'nsenter',
    '--target=42',
    '--net',
    '--pid',
    '--mount',
    '--wd=/srv',
    '--',
    ...setprivArgv(DEFAULT_POD_USER),
    'env',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'sh',
    '-c',
    'exec app',
  ]);
  assert.deepEqual(podExecArgv(42, ROOT_POD_USER, ['id', '-u']).slice(-2), ['id', '-u']);
  assert.ok(podExecArgv(42, ROOT_POD_USER, ['id']).includes('--wd=/'));
  const pause = sandboxArgv('nsg-web-1', ['/run/nanoseg', '/srv/cp']);
  assert.deepEqual(pause.slice(0, 13), [
    'ip',
    'netns',
    'exec',
    'nsg-web-1',
    'unshare',
    '--mount',
    '--propagation',
    'private',
    '--pid',
    '--fork',
    '--kill-child',
    '--mount-proc',
    '--',
  ]);
  assert.deepEqual(pause.slice(-3), ['/run/nanoseg', '/srv/cp', '--keep']);
  const kept = sandboxArgv('nsg-p-web-1', ['/run/nanoseg'], ['/tmp/clone', '/tmp/with space']);
  assert.deepEqual(kept.slice(-3), ['/run/nanoseg', '--keep', '/tmp/clone'], 'paths with blanks are never kept');
});

test('hidden paths: socket folders, lab state, the defaults; system folders mask just the socket', () => {
  assert.deepEqual(hiddenPaths(['/run/nanoseg/xds.sock', '/srv/cp/api.sock', '/run/api.sock'], ['/var/lib/x/lab']), [
    '/run/api.sock',
    '/run/nanoseg',
    '/srv/cp',
    '/var/lib/nanoseg',
    '/var/lib/x/lab',
  ]);
  // /tmp is private in every pod, but a folder kept visible there (the project, in a CI clone) may hold them
  assert.deepEqual(hiddenPaths(['/tmp/nanoseg-1/xds.sock', '/tmp/x.sock'], ['/tmp/nanoseg-1/lab', '/tmp']), [
    '/run/nanoseg',
    '/tmp/nanoseg-1',
    '/tmp/nanoseg-1/lab',
    '/tmp/x.sock',
    '/var/lib/nanoseg',
  ]);
  assert.equal(podWorkDir(undefined, []), '/');
  assert.equal(podWorkDir('/work/shop/', ['/run/nanoseg']), '/work/shop');
  assert.equal(podWorkDir('/srv/cp/lab', ['/srv/cp']), '/');
  assert.equal(podWorkDir('/tmp/nanoseg-1', []), '/');
  assert.equal(podWorkDir('/tmp/clone/shop', [], ['/tmp/clone']), '/tmp/clone/shop');
  assert.equal(podWorkDir('/tmp/other', [], ['/tmp/clone']), '/');
  assert.equal(podWorkDir('/srv/cpx', ['/srv/cp']), '/srv/cpx');
});
