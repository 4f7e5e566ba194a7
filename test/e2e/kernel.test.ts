// Kernel enforcement end to end: every bypass class of a compromised pod, first shown to work in learn, then blocked
// in enforce with a denied alert naming the kernel point and the missing rule — UDP out to an external and to a
// service, UDP in from an external, ICMP out and in — and a root process in a privileged pod (NET_ADMIN) that
// flushes the pod's own nftables rules, becomes the sidecar's uid 1337, binds the sidecar's ports, tries to list
// (and so detach) BPF programs and to reach the control plane's API: it gains nothing. UDP and ICMP are learned from
// the kernel (edges with protocol udp/icmp, icmp without a port), and the learned flows keep working once enforced.
// DNS: with the lab's resolver (`dns: true`) the app's lookups are learned (udp/53 to the resolver) and allowed in
// enforce, and a query sent to another resolver is dropped. The control plane hosts the kernel point for the lab's
// host namespace (`serve --kernel-netns nsg-lab`). One lab holds both capture modes: app-1 and tools-1 capture with
// ebpf, app-2 and tools-2 with nftables, and every bypass is tried from (and into) a pod of each.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import { BIN, ServerProcess, isRoot, json, nanoseg, tempDir, waitFor } from '../support/cli.js';
import type { StatusView } from '../../xds-server/src/api/views.js';
import type { LabListing } from '../../xds-server/src/lab/list.js';
import type { Alert } from '../../xds-server/src/model/index.js';
import type { PolicyDocument } from '../../xds-server/src/policy/index.js';

const APP = join(projectRoot(), 'xds-server', 'examples', 'apps', 'traffic.py');
const STRANGER = '203.0.113.20';
const PAYMENTS = '203.0.113.10';

// shop/app learns: udp to db:6000 and payments:5353, icmp to payments; payments sends it udp 5000 and pings it.
// tools-1 (shop/app too) is a privileged pod: root with NET_ADMIN, as a compromised container granted it would be.
const APP_RUN = `
    run:
      - "python3 ${APP} udp 5000"
      - "python3 ${APP} call --every 0.5 udp://10.213.0.31:6000 udp://${PAYMENTS}:5353 icmp://${PAYMENTS} dns://db-1"`;
const LAB = `
apiVersion: nanoseg.io/v1alpha1
kind: Lab
name: kernel
dns: true
pods:
  - name: app-1
    service: shop/app
    address: 10.213.0.11
    capture: ebpf${APP_RUN}
  - name: app-2
    service: shop/app
    address: 10.213.0.13
    capture: nftables${APP_RUN}
  - name: tools-1
    service: shop/app
    address: 10.213.0.12
    capture: ebpf
    privileged: true
    run: ["sleep 1000000"]
  - name: tools-2
    service: shop/app
    address: 10.213.0.14
    capture: nftables
    privileged: true
    run: ["sleep 1000000"]
  - name: db-1
    service: data/db
    address: 10.213.0.31
    run: ["python3 ${APP} udp 6000", "python3 ${APP} udp 6001"]
externals:
  - name: payments
    address: ${PAYMENTS}
    run:
      - "python3 ${APP} udp 5353"
      - "python3 ${APP} call --every 0.5 udp://10.213.0.11:5000 icmp://10.213.0.11"
  - name: stranger
    address: ${STRANGER}
    run: ["python3 ${APP} udp 5353", "python3 ${APP} udp 53", "python3 ${APP} tcp 2000"]
`;

// The policy shop/app is enforced with: what it legitimately does (the bypass attempts of the learn phase, which
// were learned too, are left out — as a person reviewing the learned policy would).
const POLICY = (resolver: string) => `
apiVersion: nanoseg.io/v1alpha1
kind: Policy
service: shop/app
ingress:
  - {peer: {cidr: ${PAYMENTS}/32}, protocol: udp, port: 5000}
  - {peer: {cidr: ${PAYMENTS}/32}, protocol: icmp}
egress:
  - {peer: {service: data/db}, protocol: udp, port: 6000}
  - {peer: {cidr: ${PAYMENTS}/32}, protocol: udp, port: 5353}
  - {peer: {cidr: ${PAYMENTS}/32}, protocol: icmp}
  - {peer: {cidr: ${resolver}/32}, protocol: udp, port: 53}
`;

const root = !isRoot && 'needs root (network namespaces, nftables)';
const shQuote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;

describe(
  'kernel enforcement (capture: ebpf and nftables): nothing in a pod gets around its nano-segment',
  { skip: root, timeout: 300_000 },
  () => {
    const tmp = isRoot ? tempDir('nanoseg-kernel-') : undefined;
    const dir = tmp?.dir ?? '/nonexistent';
    const server = new ServerProcess(dir, ['--kernel-netns', 'nsg-lab']);
    const env = () => server.env;
    const exec = (member: string, cmd: readonly string[]) =>
      nanoseg(['lab', 'exec', member, '--', ...cmd], env(), 30_000).code;
    let resolver = '';
    const asRoot = (member: string, cmd: readonly string[]) =>
      nanoseg(['lab', 'exec', '--user', 'root', member, '--', ...cmd], env(), 30_000);
    /**
     * Runs calls concurrently (a blocked one waits out its timeout): [member, argv, root?] → exit codes. One
     * `lab exec` per member runs that member's calls in the background of one shell and prints their exit codes
     * in order (a node CLI per call would cost more CPU than the calls).
     */
    const parallel = async (list: readonly (readonly [string, readonly string[], boolean?])[]) => {
      const groups = new Map<string, number[]>();
      list.forEach(([member, , asroot], i) => {
        const k = `${asroot === true ? 'root' : 'user'} ${member}`;
        groups.set(k, [...(groups.get(k) ?? []), i]);
      });
      const codes: number[] = [];
      await Promise.all(
        [...groups].map(
          ([k, indices]) =>
            new Promise<void>((resolve, reject) => {
              const [who, member] = k.split(' ') as [string, string];
              const script =
                indices.map((i, j) => `${list[i]![1].map(shQuote).join(' ')} >/dev/null 2>&1 & p${j}=$!`).join('\n') +
                '\n' +
                indices.map((_, j) => `wait $p${j}; echo $?`).join('\n');
              const user = who === 'root' ? ['--user', 'root'] : [];
              const p = spawn(process.execPath, [BIN, 'lab', 'exec', ...user, member, '--', 'sh', '-c', script], {
                env: { ...process.env, ...env() },
                stdio: ['ignore', 'pipe', 'inherit'],
              });
              let out = '';
              p.stdout.on('data', (d: Buffer) => (out += d.toString()));
              p.on('close', (code) => {
                const got = out.trim().split('\n').map(Number);
                if (got.length !== indices.length) reject(new Error(`lab exec ${member} exited ${code}: ${out}`));
                indices.forEach((i, j) => (codes[i] = got[j]!));
                resolve();
              });
            }),
        ),
      );
      return codes;
    };
    const once = (target: string) => ['python3', APP, 'call', '--count', '1', '--timeout', '1', target];
    /**
     * exits 100 + the errno of binding a TCP port with SO_REUSEPORT (so a listening sidecar alone cannot refuse
     * it), or 0 (an exception of its own exits 1)
     */
    const bindErrno = (port: number) =>
      `import socket,sys\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEPORT,1)\ntry:\n s.bind(('0.0.0.0',${port}))\nexcept OSError as e:\n sys.exit(100 + e.errno)`;
    const alerts = () => json<Alert[]>(['alerts'], env());
    const kernelAlert = (src: string, dst: string, protocol: string, port: number) =>
      waitFor(
        `a kernel denied alert ${src} → ${dst} ${protocol}/${port}`,
        () =>
          alerts().find(
            (a) =>
              a.verdict === 'denied' &&
              a.point === 'kernel' &&
              (a.source.service ?? a.source.ip) === src &&
              (a.destination.service ?? a.destination.ip) === dst &&
              a.protocol === protocol &&
              a.destination.port === port,
          ),
        15_000,
      );
    /** waits until the kernel point has applied everything asked of it so far */
    const kernelSettled = async (after: number) =>
      waitFor(
        'the kernel rules to be in force',
        () => {
          const k = json<StatusView>(['status'], env()).kernel;
          return k && k.state === 'ok' && k.updates > after ? k : undefined;
        },
        10_000,
        100,
      );
    const updates = () => json<StatusView>(['status'], env()).kernel?.updates ?? 0;

    before(async () => {
      writeFileSync(join(dir, 'lab.yaml'), LAB);
      await server.start();
      const up = nanoseg(['lab', 'up', '-f', join(dir, 'lab.yaml')], env(), 180_000);
      assert.equal(up.code, 0, up.stderr);
      const dns = json<LabListing>(['lab', 'list'], env()).externals.find((e) => e.name === 'dns');
      assert.ok(dns, 'the lab has its resolver');
      resolver = dns.address;
      writeFileSync(join(dir, 'policy.yaml'), POLICY(resolver));
    });
    after(async () => {
      if (!tmp) return;
      nanoseg(['lab', 'down'], env());
      await server.stop();
      tmp.remove();
    });

    test('learn: UDP and ICMP are learned from the kernel, icmp without a port', async () => {
      const edges = await waitFor(
        'udp and icmp edges of shop/app',
        () => {
          const p = json<PolicyDocument>(['policy', 'show', 'shop/app'], env());
          const has = (side: 'ingress' | 'egress', peer: string, protocol: string, port?: number) =>
            p[side].some(
              (r) =>
                ('service' in r.peer ? r.peer.service : r.peer.cidr) === peer &&
                r.protocol === protocol &&
                r.port === port,
            );
          return has('egress', 'data/db', 'udp', 6000) &&
            has('egress', `${PAYMENTS}/32`, 'udp', 5353) &&
            has('egress', `${PAYMENTS}/32`, 'icmp') &&
            has('ingress', `${PAYMENTS}/32`, 'udp', 5000) &&
            has('ingress', `${PAYMENTS}/32`, 'icmp') &&
            has('egress', `${resolver}/32`, 'udp', 53)
            ? p
            : undefined;
        },
        30_000,
        500,
      );
      // one flow counts once: the app's 0.5 s loop opens one udp flow per call, no more
      const db = edges.egress.find((r) => r.protocol === 'udp' && r.port === 6000)!;
      assert.ok(db.evidence && db.evidence.count >= 1, JSON.stringify(db));
      const k = json<StatusView>(['status'], env()).kernel!;
      assert.equal(k.state, 'ok');
      assert.equal(k.flows.lost, 0);
    });

    // each bypass class: [what, from, argv]
    // app-1 captures with ebpf, app-2 with nftables: every call is made from (or to) both
    const PODS = [
      ['app-1', '10.213.0.11'],
      ['app-2', '10.213.0.13'],
    ] as const;
    const both = (list: (pod: string, address: string) => (readonly [string, string, string[]])[]) =>
      PODS.flatMap(([pod, address]) => list(pod, address).map(([w, m, c]) => [`${w} (${pod})`, m, c] as const));
    // each bypass class: [what, from, argv]
    const BYPASSES = () =>
      both((pod, address) => [
        ['udp out to an external', pod, once(`udp://${STRANGER}:5353`)],
        ['udp out to a service', pod, once('udp://10.213.0.31:6001')],
        ['udp in from an external', 'stranger', once(`udp://${address}:5000`)],
        ['icmp out', pod, once(`icmp://${STRANGER}`)],
        ['icmp in', 'stranger', once(`icmp://${address}`)],
        ['dns lookup to another resolver', pod, once(`dns://db-1@${STRANGER}`)],
      ]);

    test('learn: every bypass method works (nothing is enforced yet)', async () => {
      const list = BYPASSES();
      const codes = await parallel(list.map(([, m, cmd]) => [m, cmd] as const));
      list.forEach(([what], i) => assert.equal(codes[i], 0, `${what} works in learn`));
      assert.equal(alerts().length, 0, JSON.stringify(alerts()));
    });

    test('enforce: the learned flows pass, every bypass is dropped by the kernel and alerted', async () => {
      const before = updates();
      const r = nanoseg(['mode', '--all', 'enforce'], env());
      assert.equal(r.code, 0, r.stderr);
      const applied = nanoseg(['policy', 'apply', '-f', join(dir, 'policy.yaml')], env());
      assert.equal(applied.code, 0, applied.stderr);
      const k = await kernelSettled(before);
      assert.equal(k.lastApply, 'update', 'after the first whole ruleset, changes are applied as updates');
      await new Promise((res) => setTimeout(res, 1500)); // the sidecars' debounced push

      const allowed = both((pod, address) => [
        ['allowed udp to a service', pod, once('udp://10.213.0.31:6000')],
        ['allowed udp to an external', pod, once(`udp://${PAYMENTS}:5353`)],
        ['allowed udp in', 'payments', once(`udp://${address}:5000`)],
        ['allowed icmp out', pod, once(`icmp://${PAYMENTS}`)],
        ['allowed icmp in', 'payments', once(`icmp://${address}`)],
        ['dns lookup through the lab resolver', pod, once('dns://db-1')],
      ]);
      const bypasses = BYPASSES();
      const codes = await parallel([...allowed, ...bypasses].map(([, m, cmd]) => [m, cmd] as const));
      allowed.forEach(([what], i) => assert.equal(codes[i], 0, `${what} passes`));
      bypasses.forEach(([what], i) => assert.notEqual(codes[allowed.length + i], 0, `${what} must be blocked`));

      const out = await kernelAlert('shop/app', STRANGER, 'udp', 5353);
      assert.equal(out.mode, 'enforce');
      assert.equal(out.side, 'egress');
      assert.match(out.reason, /shop\/app egress has no rule for 203\.0\.113\.20\/32 udp\/5353/);
      const svc = await kernelAlert('shop/app', 'data/db', 'udp', 6001);
      assert.match(
        svc.reason,
        /shop\/app egress has no rule for data\/db udp\/6001 \(it allows data\/db on udp\/6000\)/,
      );
      const inbound = await kernelAlert(STRANGER, 'shop/app', 'udp', 5000);
      assert.equal(inbound.side, 'ingress');
      assert.match(inbound.reason, /shop\/app ingress allows 203\.0\.113\.10\/32 on 5000 but not 203\.0\.113\.20/);
      const icmpOut = await kernelAlert('shop/app', STRANGER, 'icmp', 0);
      assert.match(icmpOut.reason, /shop\/app egress has no rule for 203\.0\.113\.20\/32 icmp$/);
      await kernelAlert(STRANGER, 'shop/app', 'icmp', 0);
      const dns = await kernelAlert('shop/app', STRANGER, 'udp', 53);
      assert.match(dns.reason, /shop\/app egress has no rule for 203\.0\.113\.20\/32 udp\/53/);
    });

    for (const [tools, capture] of [
      ['tools-1', 'ebpf'],
      ['tools-2', 'nftables'],
    ] as const)
      test(`a root process in the pod (capture: ${capture}) gains nothing: it flushes the pod’s rules, becomes uid 1337, binds the sidecar’s ports, cannot detach programs or reach the API`, async () => {
        // privileged: root with NET_ADMIN in a pod of shop/app (the same enforced policy)
        const flushed = asRoot(tools, ['sh', '-c', 'nft flush ruleset && nft list ruleset | wc -l']);
        assert.equal(flushed.code, 0, `root flushes the pod's own ruleset: ${flushed.stderr}`);
        assert.equal(flushed.stdout.trim(), '0', 'nothing is left of the in-pod rules');
        const as1337 = ['setpriv', '--reuid', '1337', '--regid', '1337', '--clear-groups'];
        // [what, argv, exit code expected (undefined: any but 0)], all at once as root in the pod
        const checks: (readonly [string, string[], number | undefined])[] = [
          ['flushed, then tcp out', once(`tcp://${STRANGER}:2000`), undefined],
          ['flushed, then udp out', once(`udp://${STRANGER}:5353`), undefined],
          ['as uid 1337, tcp out', [...as1337, ...once(`tcp://${STRANGER}:2000`)], undefined],
          ['as uid 1337, udp out', [...as1337, ...once(`udp://${STRANGER}:5353`)], undefined],
          // EPERM (1) from the bind guard, not EADDRINUSE from the listener (SO_REUSEPORT)
          ['binding 15001 is refused with EPERM by the bind guard', ['python3', '-c', bindErrno(15001)], 101],
          ['binding 15006 is refused with EPERM by the bind guard', ['python3', '-c', bindErrno(15006)], 101],
          ['other ports bind (the guard is not a blanket refusal)', ['python3', '-c', bindErrno(2222)], 0],
          // the programs and their pins are beyond it: no CAP_BPF / CAP_SYS_ADMIN, no bpffs
          ['listing (and so detaching) BPF programs fails in the pod', ['bpftool', 'prog', 'show'], undefined],
          ['the control plane API is not reachable', [process.execPath, BIN, 'mode', '--all', 'learn'], undefined],
          ['what the policy allows still passes from the flushed pod', once(`udp://${PAYMENTS}:5353`), 0],
        ];
        const codes = await parallel(checks.map(([, cmd]) => [tools, cmd, true] as const));
        checks.forEach(([what, , want], i) => {
          if (want === undefined) assert.notEqual(codes[i], 0, what);
          else assert.equal(codes[i], want, what);
        });
        assert.equal(
          json<{ name: string; mode: string }[]>(['services'], env()).find((x) => x.name === 'shop/app')?.mode,
          'enforce',
        );
        assert.equal(exec('app-1', once(`udp://${PAYMENTS}:5353`)), 0, 'what the policy allows still passes');
        const k = json<StatusView>(['status'], env()).kernel!;
        assert.equal(k.state, 'ok');
      });
  },
);
