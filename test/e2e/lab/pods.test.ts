// Lab pods run their apps like containers (real namespaces, a real control plane and Envoys): each pod's apps have
// their own PID and mount namespaces in which other pods' processes and the control plane's sockets are absent; they
// run as the pod's user, or privileged as uid 0 with exactly the pod capability set; `lab exec` enters the same; the
// lab's resolver answers lab names. Needs root; leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../../xds-server/src/util/envoy.js';
import { BIN, ServerProcess, isRoot, json, nanoseg, tempDir } from '../../support/cli.js';
import { podCapabilityMask } from '../../../xds-server/src/lab/index.js';
import type { LabListing } from '../../../xds-server/src/lab/index.js';

const APP = join(projectRoot(), 'xds-server', 'examples', 'apps', 'traffic.py');
const MASK = podCapabilityMask();

const LAB = `
apiVersion: nanoseg.io/v1alpha1
kind: Lab
name: pods
dns: true
pods:
  - name: web-1
    service: shop/web
    address: 10.213.0.11
    ports: [80, 8080]
    run: ["python3 ${APP} http 8080", "python3 ${APP} http 80"]
  - name: api-1
    service: shop/api
    address: 10.213.0.21
    user: "1337"
    ports: [9090]
    run: "python3 ${APP} http 9090"
  - name: tools-1
    service: shop/tools
    address: 10.213.0.31
    privileged: true
    run: "exec sleep 1000000"
externals:
  - name: payments
    address: 203.0.113.10
    run: "python3 ${APP} http 443"
`;

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** Host pids of processes in a namespace whose command line contains `needle`. */
function pidsIn(namespace: string, needle: string): number[] {
  const pids = execFileSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8' }).split(/\s+/).filter(Boolean);
  return pids.map(Number).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').includes(needle);
    } catch {
      return false;
    }
  });
}

test(
  'lab pods: own PID and mount namespaces, no control plane socket, their user or bounded root, a resolver',
  { skip: !isRoot && 'needs root (network namespaces, nftables)', timeout: 240_000 },
  async (t) => {
    const tmp = tempDir('nanoseg-pods-');
    const server = new ServerProcess(tmp.dir);
    const labFile = join(tmp.dir, 'lab.yaml');
    writeFileSync(labFile, LAB);
    t.after(async () => {
      nanoseg(['lab', 'down'], server.env);
      await server.stop();
      tmp.remove();
    });
    await server.start();
    const env = server.env;
    const up = nanoseg(['lab', 'up', '-f', labFile], env, 180_000);
    assert.equal(up.code, 0, `lab up failed: ${up.stderr}`);
    const exec = (args: string[]): { code: number; stdout: string; stderr: string } =>
      nanoseg(['lab', 'exec', ...args], env, 30_000);
    const ok = (args: string[]): string => {
      const r = exec(args);
      assert.equal(r.code, 0, `lab exec ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };

    const listing = json<LabListing>(['lab', 'list'], env);
    assert.deepEqual(
      listing.pods.map((p) => [p.name, p.user, p.phase]),
      [
        ['web-1', '1000:1000', 'running'],
        ['api-1', '1337:1337', 'running'],
        ['tools-1', 'root (privileged)', 'running'],
      ],
    );
    assert.deepEqual(
      listing.externals.map((e) => [e.name, e.address]),
      [
        ['payments', '203.0.113.10'],
        ['dns', '10.213.0.2'],
      ],
    );

    await t.test('apps run as the pod user: no capabilities, no_new_privs; a user app binds port 80', () => {
      // the app (its nsenter parent is root, outside the sandbox)
      const app = pidsIn('nsg-web-1', `${APP} http 80`).find((p) => status(p)['Uid']!.startsWith('1000'));
      assert.ok(app !== undefined, 'web-1 app runs as uid 1000');
      const s = status(app);
      assert.equal(s['Uid'], '1000\t1000\t1000\t1000');
      assert.equal(s['Gid'], '1000\t1000\t1000\t1000');
      assert.equal(s['Groups'], '');
      assert.equal(s['CapEff'], '0000000000000000');
      assert.equal(s['CapBnd'], '0000000000000000');
      assert.equal(s['NoNewPrivs'], '1');
      assert.match(ok(['web-1', '--', 'ss', '-Hltn', 'sport = :80']), /:80\b/);
      assert.equal(ok(['web-1', '--', 'id', '-u']).trim(), '1000');
      assert.equal(ok(['api-1', '--', 'id', '-u']).trim(), '1337');
    });

    await t.test('a pod sees only its own processes, in /proc and with ps', () => {
      const procs = ok(['web-1', '--', 'sh', '-c', 'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " <"$f"; echo; done']);
      assert.match(procs, /http 8080/);
      assert.match(procs, /http 80\b/);
      for (const other of ['http 9090', 'sleep 1000000', 'envoy', 'dnsmasq', 'nanoseg', 'http 443'])
        assert.ok(!procs.includes(other), `web-1 must not see "${other}":\n${procs}`);
      const ps = ok(['web-1', '--', 'ps', '-eo', 'pid=,args=']);
      assert.match(ps, /^\s*1 sh -c trap/m, "the pod's pause process is PID 1");
      assert.doesNotMatch(ps, /envoy|sleep 1000000|http 9090/);
      // and it cannot signal what it cannot see
      const envoyPid = listing.pods[0]!.envoy!.pid;
      assert.notEqual(exec(['--user', 'root', 'web-1', '--', 'kill', '-0', String(envoyPid)]).code, 0);
    });

    await t.test('the control plane is out of reach: API and xDS sockets and lab state are not there', () => {
      assert.equal(nanoseg(['status'], env).code, 0, 'the API answers outside the pods');
      for (const user of [[], ['--user', 'root']]) {
        const r = exec([...user, 'web-1', '--', process.execPath, BIN, 'mode', '--all', 'learn']);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /cannot reach the control plane at .*api\.sock \(ENOENT\)/);
      }
      const paths = [server.apiSocket, server.xdsSocket, join(tmp.dir, 'lab', 'state.json'), '/run/nanoseg/lab'];
      const seen = paths.map((p) => `test -e ${p} && echo "visible: ${p}"`).join('; ');
      assert.equal(ok(['--user', 'root', 'tools-1', '--', 'sh', '-c', `${seen}; true`]), '');
      assert.ok(
        paths.slice(0, 3).every((p) => existsSync(p)),
        'they exist outside the pods',
      );
      // Envoy, outside the sandbox, still has its xDS socket: every sidecar is connected
      assert.equal(json<{ envoys: unknown[] }>(['status'], env).envoys.length, 3);
      // and traffic flows through the sidecars (capture on), by DNS names
      ok(['web-1', '--', 'curl', '-sf', '--max-time', '5', '-o', '/dev/null', 'http://api.shop:9090/']);
    });

    await t.test('--user root and privileged pods: uid 0 with exactly the pod capability set', () => {
      for (const args of [['--user', 'root', 'web-1'], ['tools-1']]) {
        const s = Object.fromEntries(
          ok([...args, '--', 'cat', '/proc/self/status'])
            .split('\n')
            .map((l) => l.split(':\t')),
        ) as Record<string, string>;
        assert.equal(s['Uid'], '0\t0\t0\t0', args.join(' '));
        for (const k of ['CapEff', 'CapPrm', 'CapBnd']) assert.equal(s[k], MASK, `${args.join(' ')} ${k}`);
        assert.equal(s['CapInh'], '0000000000000000');
        assert.equal(s['CapAmb'], '0000000000000000');
        assert.equal(s['NoNewPrivs'], '1');
      }
      // the app itself (not its nsenter parent, which is root outside the sandbox)
      const [sleep] = pidsIn('nsg-tools-1', 'sleep 1000000').filter((p) =>
        readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sleep\0'),
      );
      assert.ok(sleep !== undefined);
      assert.equal(status(sleep)['CapEff'], MASK);
      assert.equal(status(sleep)['NoNewPrivs'], '1');
      assert.equal(ok(['payments', '--', 'id', '-u']).trim(), '0', 'an external is a host: root');
    });

    await t.test('a root process in a privileged pod flushes its own rules but gains no CAP_SYS_ADMIN', () => {
      assert.match(ok(['tools-1', '--', 'nft', 'list', 'tables']), /table/);
      ok(['tools-1', '--', 'nft', 'flush', 'ruleset']);
      assert.equal(ok(['tools-1', '--', 'nft', 'list', 'ruleset']).trim(), '');
      // each must fail (one shell, so one exec): prints the commands that succeeded
      const denied = [
        'mount -t tmpfs x /mnt',
        'umount /run/nanoseg',
        'unshare --mount true',
        'nsenter --net=/proc/1/ns/net true',
        'setpriv --inh-caps=+sys_admin --ambient-caps=+sys_admin true',
        `touch ${join(projectRoot(), 'package.json')}`,
        'mknod /tmp/disk b 8 0 && head -c1 /tmp/disk',
      ];
      const script = denied.map((c) => `(${c}) >/dev/null 2>&1 && echo "allowed: ${c}"`).join('; ');
      assert.equal(ok(['tools-1', '--', 'sh', '-c', `${script}; true`]), '');
      // still nothing to widen after a setuid: the bounding set holds
      assert.match(
        ok(['tools-1', '--', 'setpriv', '--reuid=1337', 'grep', 'CapBnd', '/proc/self/status']),
        new RegExp(MASK),
      );
    });

    await t.test("the lab's resolver answers pods, services and externals; pods' hosts file has none of them", () => {
      const web = ok(['web-1', '--', 'sh', '-c', 'cat /etc/hosts /etc/resolv.conf; getent hosts api-1 payments']);
      assert.doesNotMatch(web, /api\.shop|web\.shop/);
      assert.match(web, /^nameserver 10\.213\.0\.2$/m);
      assert.match(web, /^10\.213\.0\.21\s+api-1$/m);
      assert.match(web, /^203\.0\.113\.10\s+payments$/m);
      assert.doesNotMatch(ok(['web-1', '--', 'cat', '/etc/hosts']), /api-1|payments/);
      assert.match(ok(['api-1', '--', 'getent', 'hosts', 'web.shop']), /^10\.213\.255\.\d+\s+web\.shop/);
      const py = ok(['tools-1', '--', 'python3', '-c', 'import socket; print(socket.gethostbyname("api.shop"))']);
      assert.match(py.trim(), /^10\.213\.255\.\d+$/);
      assert.notEqual(exec(['web-1', '--', 'getent', 'hosts', 'nowhere.example']).code, 0);
    });
  },
);
