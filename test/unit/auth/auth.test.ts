// Sidecar authentication decisions (auth/decide.ts), the review cache (auth/cache.ts) and the authenticator over a
// fake TokenReview (our own seam): who a token names, what it may speak as, and that nothing fails open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ReviewCache,
  TokenAuthenticator,
  authorizeNode,
  bearerToken,
  identityFromReview,
  tokenExpiry,
  type TokenReviewStatus,
  type WorkloadIdentity,
} from '../../../xds-server/src/auth/index.js';

const jwt = (claims: object): string =>
  `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

const REVIEWED: TokenReviewStatus = {
  authenticated: true,
  audiences: ['nanoseg'],
  user: {
    username: 'system:serviceaccount:shop:default',
    extra: {
      'authentication.kubernetes.io/pod-name': ['api-7d9f-x2k'],
      'authentication.kubernetes.io/pod-uid': ['u-1'],
    },
  },
};
const API: WorkloadIdentity = { namespace: 'shop', serviceAccount: 'default', pod: 'api-7d9f-x2k', podUid: 'u-1' };

test('bearerToken: only "Bearer <JWT>"', () => {
  assert.deepEqual(bearerToken(`Bearer ${jwt({})}`), { ok: true, value: jwt({}) });
  const none = bearerToken(undefined);
  assert.equal(none.ok ? 'accepted' : none.reason, 'no-token');
  for (const h of ['Basic abc', 'Bearer', 'Bearer not-a-jwt', `Bearer ${'a'.repeat(20_000)}.b.c`]) {
    const d = bearerToken(h);
    assert.equal(d.ok, false, h);
    assert.equal(!d.ok && d.reason, 'bad-token', h);
  }
});

test('tokenExpiry reads exp (for caching only), undefined when unreadable', () => {
  assert.equal(tokenExpiry(jwt({ exp: 1700000000 })), 1700000000 * 1000);
  assert.equal(tokenExpiry(jwt({})), undefined);
  assert.equal(tokenExpiry('a.!!!.c'), undefined);
});

test('identityFromReview: an authenticated, pod-bound service-account token for our audience names its pod', () => {
  assert.deepEqual(identityFromReview(REVIEWED), { ok: true, value: API });
  const refused = (s: TokenReviewStatus) => {
    const d = identityFromReview(s);
    return d.ok ? 'accepted' : d.reason;
  };
  assert.equal(refused({ ...REVIEWED, authenticated: false, error: 'expired' }), 'bad-token');
  assert.equal(refused({ ...REVIEWED, audiences: ['https://kubernetes.default.svc'] }), 'wrong-audience');
  assert.equal(refused({ ...REVIEWED, audiences: undefined }), 'wrong-audience');
  assert.equal(refused({ ...REVIEWED, user: { username: 'alice', extra: REVIEWED.user!.extra } }), 'not-a-pod');
  // a legacy Secret token names the account, not a pod: it could stand for any pod of it
  assert.equal(refused({ ...REVIEWED, user: { username: 'system:serviceaccount:shop:default' } }), 'not-a-pod');
  assert.equal(refused({}), 'bad-token');
});

test('authorizeNode: a pod speaks only as its own node <pod>.<namespace>', () => {
  assert.equal(authorizeNode(API, 'api-7d9f-x2k.shop').ok, true);
  for (const node of ['web-1.shop', 'api-7d9f-x2k.other', 'api-7d9f-x2k', '']) {
    const d = authorizeNode(API, node);
    assert.equal(d.ok ? 'accepted' : d.reason, 'foreign-node', node);
  }
  const none = authorizeNode(undefined, 'api-7d9f-x2k.shop');
  assert.equal(none.ok ? 'accepted' : none.reason, 'no-identity', 'no verified identity is never accepted');
});

test('ReviewCache: accepted until the token expires (capped), refused briefly, bounded', () => {
  const c = new ReviewCache({ maxEntries: 2, maxAgeMs: 60_000, negativeMs: 1000 });
  const ok = { ok: true as const, value: API };
  const no = { ok: false as const, reason: 'bad-token' as const, detail: 'x' };
  c.set('a', ok, 0, 10_000);
  assert.equal(c.get('a', 9_999), ok);
  assert.equal(c.get('a', 10_000), undefined, 'gone at the token expiry');
  c.set('b', ok, 0, undefined);
  assert.equal(c.get('b', 59_999), ok);
  assert.equal(c.get('b', 60_000), undefined, 'capped at maxAgeMs');
  c.set('n', no, 0, 1e12);
  assert.equal(c.get('n', 999), no);
  assert.equal(c.get('n', 1000), undefined);
  c.set('expired', ok, 5000, 4000);
  assert.equal(c.get('expired', 5000), undefined, 'an expired token is not kept');
  c.set('x', ok, 0, undefined);
  c.set('y', ok, 0, undefined);
  c.set('z', ok, 0, undefined);
  assert.equal(c.size, 2);
  assert.equal(c.get('x', 1), undefined, 'the oldest went first');
});

test('TokenAuthenticator: one review per token (cached, shared while in flight); failures refuse and are retried', async () => {
  let now = 0;
  let calls = 0;
  let answer: () => Promise<TokenReviewStatus> = async () => REVIEWED;
  const refused: string[] = [];
  const auth = new TokenAuthenticator({
    reviewer: {
      review: async (_token, audiences) => {
        calls++;
        assert.deepEqual(audiences, ['nanoseg']);
        return answer();
      },
    },
    now: () => now,
    timeoutMs: 50,
    onRefused: (r) => refused.push(r),
  });
  const token = jwt({ exp: 3600 });
  const [a, b] = await Promise.all([auth.authenticate(`Bearer ${token}`), auth.authenticate(`Bearer ${token}`)]);
  assert.deepEqual(a, { ok: true, value: API });
  assert.deepEqual(b, a);
  assert.equal(calls, 1, 'concurrent calls share one review');
  now = 60_000;
  await auth.authenticate(`Bearer ${token}`);
  assert.equal(calls, 1, 'cached');

  // the apiserver fails: refused (never fail open), not cached, asked again next time
  const other = jwt({ exp: 7200 });
  answer = async () => {
    throw new Error('connect ECONNREFUSED');
  };
  const failed = await auth.authenticate(`Bearer ${other}`);
  assert.equal(failed.ok ? 'accepted' : failed.reason, 'review-failed');
  answer = () => new Promise(() => undefined); // never answers
  const slow = await auth.authenticate(`Bearer ${other}`);
  assert.equal(slow.ok ? 'accepted' : slow.reason, 'review-failed');
  answer = async () => REVIEWED;
  assert.equal((await auth.authenticate(`Bearer ${other}`)).ok, true, 'reviewed again once the apiserver answers');
  assert.equal(calls, 4);
  assert.equal((await auth.authenticate(undefined)).ok, false);
  assert.deepEqual(refused, ['review-failed', 'review-failed', 'no-token']);
});
