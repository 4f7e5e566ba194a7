// Monitor must report exactly what enforce would deny. One matrix of connections — every source (each service,
// and externals, which have no sidecar) × every kind of destination (a service by VIP, the same service by a pod
// address, a declared port without rules, an undeclared port, a known external on its allowed port and on another
// port, an unknown external, the reverse of every learned edge), each over TCP and over HTTP, plus UDP and ICMP rows
// (learned and unlearned UDP ports of a service and of externals, ICMP echo to every pod and external), which the
// kernel point enforces (`serve --kernel-netns`) — runs through real sidecars and kernel rules in monitor, then in
// enforce: right after the switch (the matrix's new edges keep the services learning,
// so their config is not scoped) and again once they have converged (scoped). The would-deny alerts of monitor
// must equal the denied alerts of enforce, keyed by (source, destination, port); every call enforce blocks must
// have been reported in monitor, and nothing enforce allows.
//
// The lab is dual-stack: the matrix's IPv6 row repeats every call by address over IPv6. A call to a service's pod
// over IPv6 is the same key as over IPv4 (the same service, the same port: it must be allowed or blocked alike); an
// external's IPv6 address is a key of its own, which nothing learned, so it is (would be) denied throughout.
//
// Every server port speaks one protocol (HTTP or a TCP line echo) and is called with it only: alerts are
// aggregated per (source, destination, port), so a TCP call to an HTTP port would hide a missing HTTP alert.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { projectRoot } from '../../xds-server/src/util/envoy.js';
import { BIN, ServerProcess, isRoot, json, nanoseg, tempDir, waitFor } from '../support/cli.js';
import type { ServiceView, StatusView } from '../../xds-server/src/api/views.js';
import type { Alert } from '../../xds-server/src/model/index.js';
import { compare, key, matrix, type Call, type Outcome, type Round } from './matrix-support.js';

const APP = join(projectRoot(), 'xds-server', 'examples', 'apps', 'traffic.py');

// The learned shop: loadgen → web:8080 (http), web → api:9090 (http), api → db:5432 (tcp), api → payments:443
// (http) and payments:2000 (tcp). Served but never called while learning: web:7070 (tcp, undeclared),
// api:9091 (http) and api:9092 (tcp) (declared), db:8081 (http, undeclared), payments:444 (http) and 2001 (tcp).
const LAB = `
apiVersion: nanoseg.io/v1alpha1
kind: Lab
name: matrix
subnet6: fd6e:7367::/64
pods:
  - name: loadgen
    service: shop/loadgen
    address: 10.213.0.5
    address6: fd6e:7367::5
    run: "python3 ${APP} call --every 0.1 http://web.shop:8080/"
  - name: web-1
    service: shop/web
    address: 10.213.0.11
    address6: fd6e:7367::11
    ports: [8080]
    run:
      - "python3 ${APP} http 8080"
      - "python3 ${APP} tcp 7070"
      - "python3 ${APP} call --every 0.1 http://api.shop:9090/items"
  - name: api-1
    service: shop/api
    address: 10.213.0.21
    address6: fd6e:7367::21
    ports: [9090, 9091, 9092]
    run:
      - "python3 ${APP} http 9090"
      - "python3 ${APP} http 9091"
      - "python3 ${APP} tcp 9092"
      - "python3 ${APP} call --every 0.1 tcp://db.data:5432 http://payments:443/charge tcp://payments:2000"
      - "python3 ${APP} call --every 0.2 udp://10.213.0.31:6000 udp://203.0.113.10:5353 icmp://203.0.113.10"
  - name: db-1
    service: data/db
    address: 10.213.0.31
    address6: fd6e:7367::31
    ports: [5432]
    run: ["python3 ${APP} tcp 5432", "python3 ${APP} http 8081", "python3 ${APP} udp 6000", "python3 ${APP} udp 6001"]
externals:
  - name: payments
    address: 203.0.113.10
    address6: 2001:db8::10
    run:
      - "python3 ${APP} http 443"
      - "python3 ${APP} http 444"
      - "python3 ${APP} tcp 2000"
      - "python3 ${APP} tcp 2001"
      - "python3 ${APP} udp 5353"
      - "python3 ${APP} udp 5354"
  - name: stranger
    address: 203.0.113.20
    address6: 2001:db8::20
    run: ["python3 ${APP} http 80", "python3 ${APP} tcp 2000", "python3 ${APP} udp 5353"]
`;

// Runs a pod's calls in parallel threads; prints {id: [ok, detail]}. HTTP passes on a 200 from the app; TCP passes
// when the echo comes back; UDP and ICMP through traffic.py's own call (the echo, or the echo reply, comes back).
const PROBE = `
import http.client, json, socket, sys, threading
sys.path.insert(0, sys.argv[2])
import traffic
calls, out = json.loads(sys.argv[1]), {}
def run(c):
    try:
        host = "[%s]" % c["host"] if ":" in c["host"] else c["host"]
        if c["proto"] == "udp":
            traffic.call("udp://%s:%d" % (host, c["port"]), timeout=3)
            out[c["id"]] = [True, "echoed"]
        elif c["proto"] == "icmp":
            traffic.call("icmp://%s" % host, timeout=3)
            out[c["id"]] = [True, "echo reply"]
        elif c["proto"] == "http":
            h = http.client.HTTPConnection(c["host"], c["port"], timeout=4)
            h.request("GET", "/matrix")
            r = h.getresponse()
            r.read()
            out[c["id"]] = [r.status == 200, "HTTP %d" % r.status]
        else:
            s = socket.create_connection((c["host"], c["port"]), timeout=4)
            s.sendall(b"ping\\n")
            d = s.makefile().readline()
            out[c["id"]] = [d == "ping\\n", "echoed" if d == "ping\\n" else "closed" if not d else "got %r" % d]
    except Exception as e:
        out[c["id"]] = [False, type(e).__name__]
ts = [threading.Thread(target=run, args=(c,)) for c in calls]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(out))
`;

const root = !isRoot && 'needs root (network namespaces, nftables)';

describe('monitor reports exactly what enforce denies', { skip: root, timeout: 300_000 }, () => {
  const tmp = isRoot ? tempDir('nanoseg-matrix-') : undefined;
  const server = new ServerProcess(tmp?.dir ?? '/nonexistent', [
    '--quiet-period',
    '5s',
    '--min-observations',
    '15',
    '--kernel-netns',
    'nsg-lab',
  ]);
  const env = () => server.env;
  const calls = matrix();

  const run = (pod: string, list: readonly Call[]) =>
    new Promise<Record<string, [boolean, string]>>((resolve, reject) => {
      const args = ['lab', 'exec', pod, '--', 'python3', '-c', PROBE, JSON.stringify(list), dirname(APP)];
      const p = spawn(process.execPath, [BIN, ...args], {
        env: { ...process.env, ...env() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('error', reject);
      p.on('exit', (code) => {
        try {
          resolve(JSON.parse(out) as Record<string, [boolean, string]>);
        } catch {
          reject(new Error(`probe in ${pod} exited ${code}: ${out}${err}`));
        }
      });
    });

  const settled = async () => {
    await new Promise((res) => setTimeout(res, 400)); // pushes are debounced (100 ms, at most 1 s)
    let last: StatusView['envoys'] = [];
    await waitFor(
      'every sidecar to ACK its latest config',
      () => {
        const e = (last = json<StatusView>(['status'], env()).envoys);
        return (
          e.length === 4 &&
          e.every((x) =>
            ['cds', 'lds', 'ecds'].every(
              (t) => (x.sent as Record<string, string>)[t] === (x.acked as Record<string, string>)[t],
            ),
          )
        );
      },
      30_000,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; sidecars: ${JSON.stringify(last)}`);
    });
  };
  const converged = () =>
    waitFor(
      'every service to converge',
      () => {
        const s = json<ServiceView[]>(['services'], env());
        return s.length === 4 && s.every((x) => x.state === 'converged') ? s : undefined;
      },
      120_000,
      500,
    );

  /**
   * Runs the whole matrix, then collects the alerts of `verdict` it caused. First occurrences arrive within a few
   * seconds (access logs are flushed every second); when an earlier round had the same verdict, its aggregation
   * windows (10 s) may still be open and hold this round's occurrences back until they end: `minWaitMs` after the
   * last call covers that.
   */
  const round = async (verdict: Alert['verdict'], minWaitMs = 3000): Promise<Round> => {
    const seen = new Set(json<Alert[]>(['alerts'], env()).map((a) => JSON.stringify(a)));
    // aggregates of an earlier round's repeats may still arrive: only what happened from now on counts
    const since = Date.now() - 100;
    const byPod = new Map<string, Call[]>();
    for (const c of calls) byPod.set(c.from, [...(byPod.get(c.from) ?? []), c]);
    const results = await Promise.all([...byPod].map(([pod, list]) => run(pod, list)));
    const done = Date.now();
    const outcomes = new Map<string, Outcome>();
    for (const r of results) for (const [id, [ok, detail]] of Object.entries(r)) outcomes.set(id, { ok, detail });
    // then wait until no new alert has come for 2 s
    let fresh: Alert[] = [];
    let last = Date.now();
    while (Date.now() - last < 2000 || Date.now() - done < minWaitMs) {
      await new Promise((res) => setTimeout(res, 250));
      const now = json<Alert[]>(['alerts'], env()).filter((a) => !seen.has(JSON.stringify(a)));
      if (now.length !== fresh.length) last = Date.now();
      fresh = now;
      if (Date.now() - done > 30_000) break;
    }
    const alerts = new Map<string, Alert[]>();
    const others: Alert[] = [];
    for (const a of fresh) {
      if (Date.parse(a.time) < since) continue;
      if (a.verdict !== verdict) {
        others.push(a);
        continue;
      }
      const k = key(a.source.service ?? a.source.ip, a.destination.service ?? a.destination.ip, a.destination.port);
      alerts.set(k, [...(alerts.get(k) ?? []), a]);
    }
    return { outcomes, alerts, others };
  };

  let monitor: Round | undefined;
  const enforced: { label: string; round: Round }[] = [];

  before(async () => {
    writeFileSync(join(tmp!.dir, 'lab.yaml'), LAB);
    await server.start();
    const up = nanoseg(['lab', 'up', '-f', join(tmp!.dir, 'lab.yaml')], env(), 180_000);
    assert.equal(up.code, 0, up.stderr);
    await converged();
  });
  after(async () => {
    if (!tmp) return;
    nanoseg(['lab', 'down'], env());
    await server.stop();
    tmp.remove();
  });

  const summary = (r: Round) =>
    `${calls.length} calls, ${calls.filter((c) => !r.outcomes.get(c.id)?.ok).length} blocked, ` +
    `${r.alerts.size} alert keys${r.others.length ? `; other verdicts: ${r.others.map((a) => `${a.verdict} ${a.reason}`).join(' | ')}` : ''}`;

  test('monitor: every call of the matrix passes, nothing is denied', async (t) => {
    const r = nanoseg(['mode', '--all', 'monitor'], env());
    assert.equal(r.code, 0, r.stderr);
    await settled();
    monitor = await round('would-deny');
    t.diagnostic(summary(monitor));
    assert.deepEqual(
      monitor.others.map((a) => `${a.verdict}: ${a.reason}`),
      [],
      'denied alerts in monitor',
    );
    const failed = calls.filter((c) => !monitor!.outcomes.get(c.id)?.ok);
    assert.deepEqual(
      failed.map((c) => `${c.id}: ${monitor!.outcomes.get(c.id)?.detail ?? 'no result'}`),
      [],
      'monitor blocked calls',
    );
  });

  test('enforce: right after the switch (services still learning from the matrix) and once converged', async (t) => {
    const r = nanoseg(['mode', '--all', 'enforce'], env());
    assert.equal(r.code, 0, r.stderr);
    await settled();
    const states = json<ServiceView[]>(['services'], env()).map((s) => `${s.name} ${s.state}`);
    enforced.push({ label: `enforce (${states.join(', ')})`, round: await round('denied') });
    await converged();
    await settled();
    enforced.push({ label: 'enforce (converged, scoped)', round: await round('denied', 12_000) });
    for (const e of enforced) t.diagnostic(`${e.label}: ${summary(e.round)}`);
  });

  for (const which of [0, 1]) {
    test(`would-deny in monitor = denied in enforce, and both = what enforce blocks (${which === 0 ? 'learning' : 'converged'})`, () => {
      assert.ok(monitor, 'the monitor round ran');
      const e = enforced[which];
      assert.ok(e, 'the enforce round ran');
      const problems = compare(calls, monitor, e.round);
      assert.ok(problems.length === 0, `${e.label}: monitor and enforce disagree:\n${problems.join('\n')}`);
    });
  }
});
