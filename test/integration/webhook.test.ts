import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookSink, parseWebhookUrl } from '../../xds-server/src/alerts/index.js';
import type { WebhookSinkOptions } from '../../xds-server/src/alerts/index.js';
import type { Alert } from '../../xds-server/src/model/index.js';
import { T0, alertAt } from '../unit/alerts/fixtures.js';

interface Received {
  readonly method: string | undefined;
  readonly contentType: string | undefined;
  readonly alert: Alert;
}

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

/** A webhook receiver on 127.0.0.1:0; `handler` decides each response (n counts requests from 1). */
async function receiver(t: { after(fn: () => Promise<void> | void): void }, handler: Handler) {
  const got: Received[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      n++;
      got.push({
        method: req.method,
        contentType: req.headers['content-type'],
        alert: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Alert,
      });
      handler(req, res, n);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, got, server };
}

const fast: WebhookSinkOptions = { baseDelayMs: 5, maxDelayMs: 20 };
const ok = (res: ServerResponse) => res.writeHead(204).end();
const status = (res: ServerResponse, code: number, headers: Record<string, string> = {}) =>
  res.writeHead(code, headers).end('nope');

function sink(url: string, opts: WebhookSinkOptions, t: { after(fn: () => Promise<void>): void }): WebhookSink {
  const s = new WebhookSink(url, opts);
  t.after(() => s.stop());
  return s;
}

test('parseWebhookUrl accepts http(s) only', () => {
  assert.equal(parseWebhookUrl('https://hooks.example/x').valid, true);
  assert.equal(parseWebhookUrl('ftp://x/').valid, false);
  assert.equal(parseWebhookUrl('not a url').valid, false);
  assert.throws(() => new WebhookSink('file:///etc/passwd'), TypeError);
});

test('POSTs one JSON alert per request, in order', async (t) => {
  const r = await receiver(t, (_q, res) => ok(res));
  const s = sink(r.url, fast, t);
  for (let i = 1; i <= 5; i++) s.send(alertAt(T0, { count: i }));
  await s.drain();
  assert.deepEqual(
    r.got.map((g) => g.alert.count),
    [1, 2, 3, 4, 5],
  );
  assert.ok(r.got.every((g) => g.method === 'POST' && g.contentType === 'application/json'));
  assert.deepEqual(r.got[0]?.alert, alertAt(T0, { count: 1 }));
  assert.deepEqual(s.stats(), { sent: 5, failed: 0, dropped: 0, queued: 0, retries: 0 });
});

test('503 for the first N requests: retried with backoff, then delivered in order', async (t) => {
  const N = 3;
  const r = await receiver(t, (_q, res, n) => (n <= N ? status(res, 503) : ok(res)));
  const s = sink(r.url, fast, t);
  for (let i = 1; i <= 4; i++) s.send(alertAt(T0, { count: i }));
  await s.drain();
  // the first alert is tried N+1 times; nothing overtakes it
  assert.deepEqual(
    r.got.map((g) => g.alert.count),
    [1, 1, 1, 1, 2, 3, 4],
  );
  assert.deepEqual(s.stats(), { sent: 4, failed: 0, dropped: 0, queued: 0, retries: N });
});

test('429 is retried, honouring a numeric Retry-After', async (t) => {
  const r = await receiver(t, (_q, res, n) => (n === 1 ? status(res, 429, { 'retry-after': '0' }) : ok(res)));
  const s = sink(r.url, fast, t);
  s.send(alertAt(T0));
  await s.drain();
  assert.deepEqual(s.stats(), { sent: 1, failed: 0, dropped: 0, queued: 0, retries: 1 });
});

test('400 is not retried: the alert is dropped and counted as failed; the next goes on', async (t) => {
  const r = await receiver(t, (_q, res, n) => (n === 1 ? status(res, 400) : ok(res)));
  const s = sink(r.url, fast, t);
  s.send(alertAt(T0, { count: 1 }));
  s.send(alertAt(T0, { count: 2 }));
  await s.drain();
  assert.deepEqual(
    r.got.map((g) => g.alert.count),
    [1, 2],
  );
  assert.deepEqual(s.stats(), { sent: 1, failed: 1, dropped: 0, queued: 0, retries: 0 });
});

test('gives up after maxAttempts on 5xx', async (t) => {
  const r = await receiver(t, (_q, res) => status(res, 500));
  const s = sink(r.url, { ...fast, maxAttempts: 3 }, t);
  s.send(alertAt(T0));
  await s.drain();
  assert.equal(r.got.length, 3);
  assert.deepEqual(s.stats(), { sent: 0, failed: 1, dropped: 0, queued: 0, retries: 2 });
});

test('network errors are retried', async (t) => {
  // a port that was just free: connection refused
  const r = await receiver(t, (_q, res) => ok(res));
  const url = r.url;
  await new Promise<void>((done) => r.server.close(() => done()));
  const s = sink(url, { ...fast, maxAttempts: 4 }, t);
  s.send(alertAt(T0));
  // The sink's timers are unref'd (they never keep a process alive); with no server left, the test holds the loop.
  const hold = setInterval(() => {}, 1000);
  await s.drain();
  clearInterval(hold);
  assert.deepEqual(s.stats(), { sent: 0, failed: 1, dropped: 0, queued: 0, retries: 3 });
});

test('a request that takes too long times out and is retried', async (t) => {
  const r = await receiver(t, (_q, res, n) => {
    if (n > 1) ok(res); // the first request never gets an answer
  });
  const s = sink(r.url, { ...fast, timeoutMs: 50 }, t);
  s.send(alertAt(T0));
  await s.drain();
  assert.equal(r.got.length, 2);
  assert.deepEqual(s.stats(), { sent: 1, failed: 0, dropped: 0, queued: 0, retries: 1 });
});

test('a full queue drops the oldest waiting alerts, counts them, and stays bounded', async (t) => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const r = await receiver(t, (_q, res, n) => {
    if (n === 1) void gate.then(() => ok(res));
    else ok(res);
  });
  const s = sink(r.url, { ...fast, maxQueue: 10 }, t);
  s.send(alertAt(T0, { count: 0 }));
  while (r.got.length === 0) await new Promise((x) => setTimeout(x, 5)); // #0 is in flight
  for (let i = 1; i <= 5000; i++) {
    s.send(alertAt(T0, { count: i }));
    assert.ok(s.stats().queued <= 10);
  }
  assert.deepEqual(s.stats(), { sent: 0, failed: 0, dropped: 4990, queued: 10, retries: 0 });
  release();
  await s.drain();
  assert.deepEqual(
    r.got.map((g) => g.alert.count),
    [0, ...Array.from({ length: 10 }, (_, i) => 4991 + i)],
  );
  assert.deepEqual(s.stats(), { sent: 11, failed: 0, dropped: 4990, queued: 0, retries: 0 });
});

test('stop() aborts the request in flight, drops the queue, and is idempotent', async (t) => {
  const r = await receiver(t, () => {}); // never answers
  const s = new WebhookSink(r.url, { ...fast, timeoutMs: 60_000 });
  s.send(alertAt(T0, { count: 1 }));
  s.send(alertAt(T0, { count: 2 }));
  while (r.got.length === 0) await new Promise((x) => setTimeout(x, 5));
  const started = Date.now();
  await s.stop();
  await s.stop();
  assert.ok(Date.now() - started < 1000);
  assert.deepEqual(s.stats(), { sent: 0, failed: 0, dropped: 2, queued: 0, retries: 0 });
  s.send(alertAt(T0));
  assert.equal(s.stats().dropped, 3);
  assert.equal(s.stats().queued, 0);
});

test('stop() during a long backoff wait returns at once', async (t) => {
  const r = await receiver(t, (_q, res) => status(res, 503));
  const s = new WebhookSink(r.url, { baseDelayMs: 30_000, maxDelayMs: 30_000 });
  s.send(alertAt(T0));
  while (s.stats().retries === 0) await new Promise((x) => setTimeout(x, 5));
  const started = Date.now();
  await s.stop();
  assert.ok(Date.now() - started < 1000);
  assert.deepEqual(s.stats(), { sent: 0, failed: 0, dropped: 1, queued: 0, retries: 1 });
  assert.equal(r.got.length, 1);
});

test('backoff doubles up to the cap, with jitter in [0.5, 1) of it', async (t) => {
  const r = await receiver(t, (_q, res) => status(res, 503));
  const delays: number[] = [];
  // a scheduler that records retry waits (long ones) and runs everything at once
  const sched = {
    now: () => 0,
    schedule: (fn: () => void, ms: number) => {
      if (ms < 60_000) delays.push(ms);
      return setTimeout(fn, 0);
    },
    cancel: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
  };
  const s = sink(
    r.url,
    {
      maxAttempts: 8,
      baseDelayMs: 500,
      maxDelayMs: 30_000,
      timeoutMs: 60_000,
      scheduler: sched,
      random: () => 0.999999,
    },
    t,
  );
  s.send(alertAt(T0));
  await s.drain();
  assert.deepEqual(
    delays.map((d) => Math.round(d)),
    [500, 1000, 2000, 4000, 8000, 16000, 30000],
  );
  assert.deepEqual(s.stats(), { sent: 0, failed: 1, dropped: 0, queued: 0, retries: 7 });
});
