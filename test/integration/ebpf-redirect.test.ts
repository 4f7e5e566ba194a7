// ebpf-redirect and the cgroup-based nftables capture against real sockets, in a network namespace and cgroups of
// their own: connect4/connect6 redirect + getsockopt(SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST) + getpeername, the sockmap fast path (1 MB each way,
// half-close, a connection made before the programs), the bind guard in both modes, the sidecar told apart by its
// cgroup (not its uid), and everything removed afterwards. (None of these program types supports BPF_PROG_TEST_RUN
// for what is tested here — sock_addr, sockopt and sock_ops have no test_run, sk_msg only a stub — so real sockets.)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import { run, runOk } from '../../xds-server/src/lab/sys.js';
import {
  ebpfCapture,
  ebpfMissing,
  ensurePodCgroups,
  inCgroup,
  nftablesCapture,
  podCgroupDirs,
  releaseSharedKernelState,
  removePodKernelState,
} from '../../ebpf-redirect/src/index.js';

const PEER = join(projectRoot(), 'test', 'integration', 'fixtures', 'ebpf-peer.py');
const NS = 'nsgt-ebpf';
const ROOTS = { cgroupRoot: 'nanoseg-test', bpffs: '/run/nanoseg/bpffs-test' } as const;
const POD = { namespace: NS, address: '10.99.0.2' };
const POD6 = { ...POD, address6: 'fd99::2' };
const isRoot = process.getuid?.() === 0;
const missing = isRoot ? await ebpfMissing() : undefined;
const skip = !isRoot ? 'needs root (namespaces, cgroups, eBPF)' : missing;

type Where = 'app' | 'sidecar';

async function bpffsMounted(): Promise<boolean> {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === ROOTS.bpffs);
}
const procs: ChildProcess[] = [];

function py(where: Where, args: string[], uid?: number): { lines: AsyncIterator<string>; proc: ChildProcess } {
  const dir = podCgroupDirs(NS, ROOTS)[where];
  const as = uid !== undefined ? ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'] : [];
  const argv = inCgroup(dir, ['ip', 'netns', 'exec', NS, ...as, '/usr/bin/python3', PEER, ...args]);
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(proc);
  return { proc, lines: createInterface({ input: proc.stdout! })[Symbol.asyncIterator]() };
}

async function once(where: Where, args: string[], uid?: number): Promise<Record<string, unknown>> {
  const { lines } = py(where, args, uid);
  const r = await lines.next();
  assert.ok(!r.done, `python3 ${args.join(' ')} printed nothing`);
  return JSON.parse(r.value) as Record<string, unknown>;
}

async function sidecar(): Promise<AsyncIterator<string>> {
  const { lines } = py('sidecar', ['side', '15001']);
  await lines.next(); // listening
  return lines;
}

async function roundTrip(bytes: number): Promise<{ app: Record<string, unknown>; side: Record<string, unknown> }> {
  const side = await sidecar();
  const app = await once('app', ['app', '10.99.0.77', '80', String(bytes)]);
  const s = await side.next();
  return { app, side: JSON.parse(s.value as string) as Record<string, unknown> };
}

describe('ebpf-redirect against real sockets', { skip, timeout: 120_000 }, () => {
  before(async () => {
    await run(['ip', 'netns', 'del', NS]);
    await runOk(['ip', 'netns', 'add', NS]);
    await runOk(['ip', '-n', NS, 'link', 'set', 'lo', 'up']);
    await runOk(['ip', '-n', NS, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    await runOk(['ip', '-n', NS, 'addr', 'add', '10.99.0.2/24', 'dev', 'v0']);
    await runOk(['ip', '-n', NS, '-6', 'addr', 'add', 'fd99::2/64', 'dev', 'v0', 'nodad']);
    await runOk(['ip', '-n', NS, 'link', 'set', 'v0', 'up']);
    await runOk(['ip', '-n', NS, 'link', 'set', 'v1', 'up']);
    await ensurePodCgroups(NS, ROOTS);
  });
  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await run(['ip', 'netns', 'del', NS]);
    await removePodKernelState(NS, ROOTS);
    await run(['rmdir', join('/sys/fs/cgroup/unified', ROOTS.cgroupRoot)]);
    await run(['umount', ROOTS.bpffs]);
    await run(['rmdir', ROOTS.bpffs]);
  });

  test('ebpf: outbound reaches the sidecar, which learns the original destination; the app sees its real peer', async () => {
    // a connection made before the programs exist keeps working (not redirected, not in the sockmap)
    const early = py('app', ['hello', '7000']);
    await early.lines.next();
    await ebpfCapture({ ...ROOTS, sockmap: true }).install(POD);
    await ebpfCapture({ ...ROOTS, sockmap: true }).install(POD); // idempotent: links are updated in place
    const { app, side } = await roundTrip(1 << 20);
    assert.equal(side['orig'], '10.99.0.77:80');
    assert.equal(app['peer'], '10.99.0.77:80');
    assert.equal(app['echoed'], app['sent'], '1 MB each way through the sockmap fast path, half-close included');
    assert.equal(side['received'], 1 << 20);
    // loopback is never redirected
    assert.deepEqual(await once('app', ['connect', '127.0.0.1', '7000']), { answer: 'hello 7000' });
    // nothing stays behind in the maps once the connection is closed
    const pins = join(ROOTS.bpffs, NS);
    const dump = await runOk(['bpftool', '-j', 'map', 'dump', 'pinned', join(pins, 'nsg_orig')]);
    assert.deepEqual(JSON.parse(dump), []);
  });

  test('ebpf: sockmap off gives the same bytes', async () => {
    await ebpfCapture({ ...ROOTS, sockmap: false }).install(POD);
    const { app, side } = await roundTrip(300_000);
    assert.equal(side['orig'], '10.99.0.77:80');
    assert.equal(app['echoed'], app['sent']);
  });

  test('IPv6, both modes: native IPv6 reaches the sidecar, which reads IP6T_SO_ORIGINAL_DST; the app sees its peer', async () => {
    for (const mode of [ebpfCapture(ROOTS), nftablesCapture(ROOTS)]) {
      await mode.install(POD6);
      const side = py('sidecar', ['side6', '15001']).lines;
      await side.next(); // listening
      const app = await once('app', ['app', 'fd99::77', '80', '100000']);
      const s = JSON.parse((await side.next()).value as string) as Record<string, unknown>;
      // ebpf: connect6 sent it to [fd99::2]:15001 and getsockopt answers from nsg_orig; nftables: conntrack
      assert.equal(s['orig'], '[fd99::77]:80', mode.name);
      assert.equal(app['peer'], '[fd99::77]:80', `${mode.name}: getpeername shows the real peer`);
      assert.equal(app['echoed'], app['sent'], mode.name);
      assert.equal(s['received'], 100000, mode.name);
    }
  });

  test('bind guard: the app may not bind 15000-15006 in either mode, whatever its uid; other ports are fine', async () => {
    for (const mode of [ebpfCapture(ROOTS), nftablesCapture(ROOTS)]) {
      await mode.install(POD);
      for (const uid of [undefined, 1337]) {
        assert.deepEqual(await once('app', ['bind', '15006'], uid), { bind: 'refused', errno: 1 }, mode.name);
        assert.deepEqual(await once('app', ['bind', '15001'], uid), { bind: 'refused', errno: 1 }, mode.name);
      }
      assert.deepEqual(await once('app', ['bind', '15007']), { bind: 'ok' });
      assert.deepEqual(await once('sidecar', ['bind', '15006']), { bind: 'ok' }, 'the sidecar may');
    }
  });

  test('nftables: the sidecar is excluded by its cgroup, not its uid: the app as uid 1337 is still captured', async () => {
    await nftablesCapture(ROOTS).install(POD);
    assert.ok(!existsSync(join(ROOTS.bpffs, NS, 'link_nsg_connect4')), 'ebpf links gone after the switch');
    const hello = py('app', ['hello', '8081']);
    await hello.lines.next();
    // the sidecar (uid 0 here) reaches 8081 directly: not redirected
    assert.deepEqual(await once('sidecar', ['connect', '10.99.0.2', '8081']), { answer: 'hello 8081' });
    for (const uid of [1337, 1000]) {
      const side = await sidecar();
      const app = await once('app', ['app', '10.99.0.77', '80', '1000'], uid);
      const s = JSON.parse((await side.next()).value as string) as Record<string, unknown>;
      assert.equal(s['orig'], '10.99.0.77:80', `uid ${uid} captured, original destination via conntrack`);
      assert.equal(app['echoed'], app['sent']);
    }
  });

  test('remove: no pins, no cgroups left; the shared cgroup folder and bpffs go with the last pod', async () => {
    for (const p of procs) p.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    const shared = join('/sys/fs/cgroup/unified', ROOTS.cgroupRoot);
    await releaseSharedKernelState(ROOTS); // the pod is still there: nothing shared goes
    assert.ok(await bpffsMounted(), 'bpffs kept while a pod uses it');
    assert.ok(existsSync(shared));
    await nftablesCapture(ROOTS).remove(POD);
    await removePodKernelState(NS, ROOTS);
    assert.ok(!existsSync(join(ROOTS.bpffs, NS)));
    assert.ok(!existsSync(podCgroupDirs(NS, ROOTS).pod));
    await releaseSharedKernelState(ROOTS);
    await releaseSharedKernelState(ROOTS); // idempotent
    assert.ok(!(await bpffsMounted()), 'bpffs unmounted once no pod is left');
    assert.ok(!existsSync(ROOTS.bpffs));
    assert.ok(!existsSync(shared));
  });
});
