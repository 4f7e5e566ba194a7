import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_TEMPLATES,
  closestTemplate,
  collapseTemplate,
  pathTemplate,
  recordPath,
  templateCovers,
  type PathsState,
} from '../../../xds-server/src/learn/l7.js';
import { checkPathRule } from '../../../xds-server/src/policy/paths.js';
import { prng } from '../../support/prng.js';

test('templating: digits, UUIDs and ≥ 8 hex characters with a digit become {id}; the query string is dropped', () => {
  const cases: [string, string][] = [
    ['/items/42', '/items/{id}'],
    ['/items/42?expand=true&x=1', '/items/{id}'],
    ['/items/42#frag', '/items/{id}'],
    ['/users/3f2504e0-4f89-11d3-9a0c-0305e82c3301/orders', '/users/{id}/orders'],
    ['/users/3F2504E0-4F89-11D3-9A0C-0305E82C3301', '/users/{id}'],
    ['/blobs/deadbeef01', '/blobs/{id}'],
    ['/blobs/0123abcd', '/blobs/{id}'],
    // 8 hex letters without a digit is a word, not an id; 7 hex characters are too short
    ['/words/deadbeef', '/words/deadbeef'],
    ['/blobs/0123abc', '/blobs/0123abc'],
    ['/v1/items', '/v1/items'],
    ['/', '/'],
    ['', '/'],
    ['?q=1', '/'],
    ['/a//b/', '/a//b/'],
    ['/x/{id}/y', '/x/{id}/y'],
    ['/x/*', '/x/{id}'],
    ['/x/a{b}', '/x/{id}'],
  ];
  for (const [path, want] of cases) assert.equal(pathTemplate(path), want, path);
});

test('gRPC paths are kept as they are: the method is the identity', () => {
  assert.equal(pathTemplate('/shop.Cart/AddItem', true), '/shop.Cart/AddItem');
  assert.equal(pathTemplate('/shop.Deadbeef12/Get', true), '/shop.Deadbeef12/Get');
});

test('collapse: PREFIX/* is the first segment; it covers the prefix and everything under it', () => {
  assert.equal(collapseTemplate('/items/{id}/tags'), '/items/*');
  assert.equal(collapseTemplate('/items'), '/items/*');
  assert.equal(collapseTemplate('/'), '/');
  assert.equal(collapseTemplate('/items/*'), '/items/*');
  assert.ok(templateCovers('/items/*', '/items'));
  assert.ok(templateCovers('/items/*', '/items/{id}/tags'));
  assert.ok(!templateCovers('/items/*', '/itemsx'));
  assert.ok(templateCovers('/*', '/anything/at/all'));
  assert.ok(!templateCovers('/items/{id}', '/items/7'));
  assert.ok(pathTemplate('/a/' + 'x'.repeat(400)).endsWith('/*'));
});

test('recordPath counts per method + template and says when a template is new', () => {
  const ev: PathsState = { paths: [] };
  assert.equal(recordPath(ev, 'GET', '/items/{id}', 1).isNew, true);
  assert.equal(recordPath(ev, 'GET', '/items/{id}', 2).isNew, false);
  assert.equal(recordPath(ev, 'POST', '/items/{id}', 3).isNew, true);
  assert.deepEqual(ev.paths, [
    { method: 'GET', path: '/items/{id}', count: 2, firstSeen: 1, lastSeen: 2 },
    { method: 'POST', path: '/items/{id}', count: 1, firstSeen: 3, lastSeen: 3 },
  ]);
  assert.equal(ev.pathsCollapsed, undefined);
});

test('more than 50 templates on one edge fall back to PREFIX/*, flagged, counts kept', () => {
  const ev: PathsState = { paths: [] };
  for (let i = 0; i < MAX_TEMPLATES; i++) recordPath(ev, 'GET', `/r${i % 5}/name${i}`, i);
  assert.equal(ev.paths.length, MAX_TEMPLATES);
  assert.equal(ev.pathsCollapsed, undefined);
  const r = recordPath(ev, 'GET', '/r0/another', 100);
  assert.deepEqual(r, { path: '/r0/*', isNew: true });
  assert.equal(ev.pathsCollapsed, true);
  assert.deepEqual(ev.paths.map((p) => [p.path, p.count]).sort(), [
    ['/r0/*', 11],
    ['/r1/*', 10],
    ['/r2/*', 10],
    ['/r3/*', 10],
    ['/r4/*', 10],
  ]);
  // later templates arrive collapsed: a known prefix is not new, a new prefix is
  assert.equal(recordPath(ev, 'GET', '/r3/zzz', 101).isNew, false);
  assert.deepEqual(recordPath(ev, 'GET', '/s/zzz', 102), { path: '/s/*', isNew: true });
});

test('an edge whose collapsed prefixes still exceed the limit keeps /* per method', () => {
  const ev: PathsState = { paths: [] };
  for (let i = 0; i < MAX_TEMPLATES; i++) recordPath(ev, 'GET', `/p${i}`, i);
  const r = recordPath(ev, 'GET', '/q', 100);
  assert.deepEqual(r, { path: '/*', isNew: true });
  assert.deepEqual(
    ev.paths.map((p) => [p.method, p.path, p.count]),
    [['GET', '/*', MAX_TEMPLATES + 1]],
  );
});

test('property: templates are bounded, never hold a raw id, and every request is counted once', () => {
  const rand = prng(20261201);
  const alphabet = ['items', 'users', 'v1', 'a', '42', '007', 'deadbeef', 'cafe1234', '?', '#', '*', '{', '%2F', ''];
  for (let round = 0; round < 200; round++) {
    const ev: PathsState = { paths: [] };
    const n = 1 + Math.floor(rand() * 300);
    const methods = ['GET', 'POST', 'PUT'];
    for (let i = 0; i < n; i++) {
      const segs = Array.from({ length: 1 + Math.floor(rand() * 4) }, () =>
        rand() < 0.3
          ? String(Math.floor(rand() * 1e6))
          : alphabet[Math.floor(rand() * alphabet.length)]! + (rand() < 0.2 ? Math.floor(rand() * 100) : ''),
      );
      const raw = '/' + segs.join('/');
      const t = pathTemplate(raw);
      assert.ok(!t.includes('?') && !t.includes('#'), `${raw} → ${t}`);
      assert.ok(!/\/[0-9]+(\/|$)/.test(t), `digits left in ${t}`);
      assert.equal(pathTemplate(t), t, `templating is idempotent on ${t}`);
      assert.equal(checkPathRule('GET', t), undefined, `${raw} → ${t} is a valid rule`);
      recordPath(ev, methods[Math.floor(rand() * methods.length)]!, t, i);
      assert.ok(ev.paths.length <= MAX_TEMPLATES);
    }
    assert.equal(
      ev.paths.reduce((a, p) => a + p.count, 0),
      n,
    );
    const keys = ev.paths.map((p) => `${p.method} ${p.path}`);
    assert.equal(new Set(keys).size, keys.length, 'no duplicate templates');
  }
});

test('closestTemplate prefers the same method, then the longest common prefix', () => {
  const learned = [
    { method: 'GET', path: '/items/{id}' },
    { method: 'POST', path: '/items' },
    { method: 'GET', path: '/users/{id}/orders' },
  ];
  assert.deepEqual(closestTemplate(learned, 'GET', '/items/7/tags'), { method: 'GET', path: '/items/{id}' });
  assert.deepEqual(closestTemplate(learned, 'DELETE', '/items/7'), { method: 'GET', path: '/items/{id}' });
  assert.deepEqual(closestTemplate(learned, 'GET', '/users/9/orders?x'), {
    method: 'GET',
    path: '/users/{id}/orders',
  });
  assert.equal(closestTemplate([], 'GET', '/'), undefined);
});
