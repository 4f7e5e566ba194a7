// The apps the lab benchmarks run inside pods: a fast HTTP server and an HTTP load generator (open or closed loop),
// plain JS written into the lab's temp dir so they start without tsx, and the shapes of their results.

/** `node server.mjs PORT`: 200 "ok\n" to every request, keep-alive without an idle timeout (Envoy pools upstreams). */
export const SERVER_JS = `import http from 'node:http';
const body = Buffer.from('ok\\n');
const srv = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
srv.keepAliveTimeout = 0;
srv.listen(Number(process.argv[2]), '0.0.0.0');
`;

/**
 * \`node load.mjs JSON\`: HTTP/1.1 GETs over raw keep-alive sockets (no pipelining), one JSON line of results.
 *   open loop   {"url", "mode": "open", "rate", "seconds", "warmup", "conns", "maxConns"}: requests are due at fixed
 *               times (rate/s) whatever the responses do; a due request takes an idle connection, opens a new one
 *               (up to maxConns) or waits in a queue. Idle connections are used round robin, so every one
 *               carries HTTP from the start (a connection silent for 1 s would be sniffed as TCP by the sidecar). Service time = response end − write; total = response end −
 *               due time (includes queueing and timer lateness, the coordinated-omission-free figure).
 *   closed loop {"url", "mode": "closed", "conns", "seconds", "warmup"}: each connection sends again as soon as its
 *               response is in: the throughput the path sustains with that many connections.
 *   both        "requests": [{"method", "path"}, ...] (optional): the requests sent in turn, round robin (methods
 *               other than GET carry an empty body; no HEAD: its response has no body to wait for); else GET of the
 *               URL's path.
 * Only requests due after the warm-up count. Latencies in microseconds.
 */
export const LOAD_JS = `import net from 'node:net';
import dns from 'node:dns/promises';
const o = JSON.parse(process.argv[2]);
const u = new URL(o.url);
const { address } = await dns.lookup(u.hostname, { family: 4 });
const port = Number(u.port || 80);
const REQS = (o.requests ?? [{ method: 'GET', path: u.pathname }]).map((r) => Buffer.from(r.method + ' ' + r.path +
  ' HTTP/1.1\\r\\nHost: ' + u.host + (r.method === 'GET' ? '' : '\\r\\ncontent-length: 0') + '\\r\\n\\r\\n'));
let nextReq = 0;
const now = () => performance.now();
const svc = [], tot = [], late = [];
let errors = 0, non2xx = 0, opened = 0, open = 0, inflight = 0, recFrom = Infinity, recTo = Infinity, stopping = false;
const idle = [], queue = [];
function record(cur, t, ok, status) {
  if (cur.due < recFrom || cur.due >= recTo) return;
  if (!ok) { errors++; return; }
  if (status < 200 || status >= 300) non2xx++;
  svc.push((t - cur.sent) * 1000); tot.push((t - cur.due) * 1000); late.push((cur.sent - cur.due) * 1000);
}
function send(c, due) { inflight++; c.cur = { due, sent: now() }; c.s.write(REQS[nextReq++ % REQS.length]); }
function free(c) {
  if (o.mode === 'closed') { if (!stopping) send(c, now()); return; }
  if (queue.length) send(c, queue.shift()); else idle.push(c);
}
function connect() {
  return new Promise((resolve) => {
    const c = { s: net.connect({ host: address, port }), buf: null, cur: null, dead: false };
    opened++; open++;
    c.s.setNoDelay(true);
    c.s.once('connect', () => resolve(c));
    c.s.on('data', (d) => {
      c.buf = c.buf ? Buffer.concat([c.buf, d]) : d;
      for (;;) {
        const h = c.buf ? c.buf.indexOf('\\r\\n\\r\\n') : -1;
        if (h < 0 || !c.cur) return;
        const head = c.buf.toString('latin1', 0, h);
        const m = /\\r\\ncontent-length:\\s*(\\d+)/i.exec(head);
        const total = h + 4 + (m ? Number(m[1]) : 0);
        if (c.buf.length < total) return;
        c.buf = c.buf.length > total ? c.buf.subarray(total) : null;
        const cur = c.cur; c.cur = null; inflight--;
        record(cur, now(), true, Number(head.slice(9, 12)));
        free(c);
      }
    });
    c.s.on('error', () => {});
    c.s.on('close', () => {
      c.dead = true; open--;
      const i = idle.indexOf(c); if (i >= 0) idle.splice(i, 1);
      if (c.cur) { inflight--; record(c.cur, now(), false, 0); c.cur = null; }
      resolve(c);
    });
  });
}
async function issue(due) {
  let c = idle.shift();
  while (c && c.dead) c = idle.shift();
  if (c) return send(c, due);
  if (open < (o.maxConns ?? 256)) {
    const n = await connect();
    if (!n.dead) return send(n, due);
    if (due >= recFrom && due < recTo) errors++;
    return;
  }
  queue.push(due);
}
const pct = (a, p) => (a.length ? a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))] : NaN);
const conns = await Promise.all(Array.from({ length: o.conns }, () => connect()));
const t0 = now() + 20;
recFrom = t0 + o.warmup * 1000;
recTo = t0 + o.seconds * 1000;
if (o.mode === 'closed') {
  while (now() < t0) await new Promise((r) => setTimeout(r, 1));
  for (const c of conns) if (!c.dead) send(c, now());
  await new Promise((r) => setTimeout(r, recTo - now()));
  stopping = true;
} else {
  for (const c of conns) if (!c.dead) idle.push(c);
  const interval = 1000 / o.rate;
  let next = t0;
  await new Promise((resolve) => {
    const tick = () => {
      const t = now();
      while (next <= t && next < recTo) { issue(next); next += interval; }
      if (next >= recTo) return resolve();
      setTimeout(tick, Math.max(0, next - now()));
    };
    setTimeout(tick, Math.max(0, t0 - now()));
  });
}
const deadline = now() + 5000;
while ((inflight > 0 || queue.length > 0) && now() < deadline) await new Promise((r) => setTimeout(r, 5));
errors += queue.length;
const secs = (o.seconds - o.warmup);
for (const a of [svc, tot, late]) a.sort((x, y) => x - y);
const out = { n: svc.length, errors, non2xx, perSecond: svc.length / secs, opened,
  p50: pct(svc, 50), p90: pct(svc, 90), p99: pct(svc, 99), p999: pct(svc, 99.9), max: svc[svc.length - 1] ?? NaN,
  totalP50: pct(tot, 50), totalP99: pct(tot, 99), lateP99: pct(late, 99), lateMax: late[late.length - 1] ?? NaN };
process.stdout.write(JSON.stringify(out) + '\\n');
process.exit(0);
`;

export interface LoadResult {
  /** requests completed in the measured window */
  n: number;
  errors: number;
  non2xx: number;
  perSecond: number;
  opened: number;
  /** service time (response end − write), µs */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** response end − due time (open loop: includes queueing and timer lateness), µs */
  totalP50: number;
  totalP99: number;
  /** how late requests were written after they were due, µs */
  lateP99: number;
  lateMax: number;
}

/** One request of a load's round-robin list (no HEAD: the generator waits for the body content-length names). */
export interface LoadRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  path: string;
}

export interface OpenLoad {
  url: string;
  requests?: readonly LoadRequest[];
  rate: number;
  seconds: number;
  warmup: number;
  conns: number;
  maxConns?: number;
}
export interface ClosedLoad {
  url: string;
  requests?: readonly LoadRequest[];
  conns: number;
  seconds: number;
  warmup: number;
}
