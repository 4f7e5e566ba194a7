// The mesh state's transitions are pure: a table per transition, each row a state in and what must come out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EMPTY_MESH,
  applyPolicy,
  controlOf,
  hold,
  policyInForce,
  promotion,
  recordWouldDeny,
  release,
  setMode,
  soakStart,
  type MeshState,
  type ServiceControl,
} from '../../../xds-server/src/model/mesh-state.js';
import type { ServicePolicy } from '../../../xds-server/src/model/index.js';

const SVC = 'shop/web';
const learned: ServicePolicy = {
  service: SVC,
  ingress: [],
  egress: [{ peer: { service: 'shop/api' }, protocol: 'http', port: 9090 }],
  origin: 'learned',
  updatedAt: 5,
};
const applied: ServicePolicy = { ...learned, egress: [], origin: 'applied', updatedAt: 7 };
const withService = (c: Partial<ServiceControl>): MeshState => ({
  ...EMPTY_MESH,
  services: new Map([[SVC, { mode: 'learn', inboundGenerations: {}, ...c }]]),
});

test('setMode: freezing, the soak start, and no-ops', () => {
  const rows: {
    name: string;
    from: MeshState;
    to: 'learn' | 'monitor' | 'enforce';
    changed: boolean;
    policy?: ServicePolicy;
    monitorSince?: number;
    freezes: number;
  }[] = [
    {
      name: 'learn → monitor freezes and starts the soak',
      from: EMPTY_MESH,
      to: 'monitor',
      changed: true,
      policy: learned,
      monitorSince: 100,
      freezes: 1,
    },
    {
      name: 'learn → enforce freezes, no soak',
      from: EMPTY_MESH,
      to: 'enforce',
      changed: true,
      policy: learned,
      freezes: 1,
    },
    { name: 'learn → learn changes nothing', from: EMPTY_MESH, to: 'learn', changed: false, freezes: 0 },
    {
      name: 'learn with an applied policy keeps it',
      from: withService({ policy: applied }),
      to: 'enforce',
      changed: true,
      policy: applied,
      freezes: 0,
    },
    {
      name: 'enforce → monitor restarts the soak',
      from: withService({ mode: 'enforce', policy: applied, monitorSince: 1 }),
      to: 'monitor',
      changed: true,
      policy: applied,
      monitorSince: 100,
      freezes: 0,
    },
    {
      name: 'monitor → learn keeps the frozen policy',
      from: withService({ mode: 'monitor', policy: learned, monitorSince: 1 }),
      to: 'learn',
      changed: true,
      policy: learned,
      monitorSince: 1,
      freezes: 0,
    },
  ];
  for (const r of rows) {
    let freezes = 0;
    const t = setMode(r.from, SVC, r.to, 100, () => (freezes++, learned));
    assert.equal(t.changed, r.changed, r.name);
    assert.equal(freezes, r.freezes, `${r.name}: frozen() calls`);
    const c = controlOf(t.state, SVC);
    assert.equal(c.mode, r.changed ? r.to : controlOf(r.from, SVC).mode, r.name);
    assert.deepEqual(c.policy, r.policy, r.name);
    assert.equal(c.monitorSince, r.monitorSince, r.name);
    if (!r.changed) assert.equal(t.state, r.from, `${r.name}: the same state object`);
    else assert.notEqual(t.state, r.from, `${r.name}: a new state, the old one untouched`);
  }
  assert.equal(controlOf(EMPTY_MESH, SVC).mode, 'learn', 'EMPTY_MESH never changes');
});

test('applyPolicy: generations bump only for revoked ingress ports while enforced', () => {
  const rows = [
    { mode: 'enforce' as const, revoked: [9090, 9090, 80], gens: { 80: 1, 9090: 1 }, regenerated: [80, 9090] },
    { mode: 'monitor' as const, revoked: [9090], gens: {}, regenerated: [] },
    { mode: 'learn' as const, revoked: [9090], gens: {}, regenerated: [] },
    { mode: 'enforce' as const, revoked: [], gens: {}, regenerated: [] },
  ];
  for (const r of rows) {
    const t = applyPolicy(withService({ mode: r.mode }), SVC, applied, r.revoked);
    assert.deepEqual(controlOf(t.state, SVC).inboundGenerations, r.gens, r.mode);
    assert.deepEqual(t.regenerated, r.regenerated, r.mode);
    assert.equal(controlOf(t.state, SVC).policy, applied);
  }
  const twice = applyPolicy(
    applyPolicy(withService({ mode: 'enforce' }), SVC, applied, [80]).state,
    SVC,
    applied,
    [80],
  );
  assert.deepEqual(controlOf(twice.state, SVC).inboundGenerations, { 80: 2 });
});

test('the soak gate: would-denies move it forward, never back; promotion needs the whole soak', () => {
  const m = withService({ mode: 'monitor', policy: learned, monitorSince: 1000 });
  assert.equal(soakStart(controlOf(m, SVC)), 1000);
  const later = recordWouldDeny(m, SVC, 5000);
  assert.equal(soakStart(controlOf(later, SVC)), 5000);
  assert.equal(recordWouldDeny(later, SVC, 4000), later, 'an older would-deny changes nothing');
  const rows = [
    { name: 'converged learn → monitor', c: { mode: 'learn' as const }, converged: true, now: 0, to: 'monitor' },
    { name: 'unconverged learn stays', c: { mode: 'learn' as const }, converged: false, now: 0, to: undefined },
    {
      name: 'monitor before the soak ends stays',
      c: controlOf(later, SVC),
      converged: true,
      now: 5000 + 599,
      to: undefined,
    },
    {
      name: 'monitor after a full soak → enforce',
      c: controlOf(later, SVC),
      converged: true,
      now: 5000 + 600,
      to: 'enforce',
    },
    {
      name: 'monitor without a start stays',
      c: { mode: 'monitor' as const },
      converged: true,
      now: 1e12,
      to: undefined,
    },
    { name: 'enforce stays', c: { mode: 'enforce' as const }, converged: true, now: 1e12, to: undefined },
  ];
  for (const r of rows) {
    const p = promotion({ inboundGenerations: {}, ...r.c }, r.converged, r.now, 600);
    assert.equal(p?.to, r.to, r.name);
  }
  assert.equal(soakStart(controlOf(withService({ mode: 'enforce', monitorSince: 5 }), SVC)), undefined);
});

test('policyInForce: the policy, else learned edges in learn mode, else nothing', () => {
  const none: ServicePolicy = { ...learned, egress: [], origin: 'learned', updatedAt: 0 };
  assert.equal(
    policyInForce(
      controlOf(EMPTY_MESH, SVC),
      () => learned,
      () => none,
    ),
    learned,
  );
  assert.equal(
    policyInForce(
      { mode: 'enforce', inboundGenerations: {} },
      () => learned,
      () => none,
    ),
    none,
  );
  assert.equal(
    policyInForce(
      { mode: 'learn', policy: applied, inboundGenerations: {} },
      () => learned,
      () => none,
    ),
    applied,
  );
});

test('holds: hold once, release some or all', () => {
  const a = hold(EMPTY_MESH, 'web-1.shop', { since: 1, reason: 'r' });
  assert.equal(hold(a, 'web-1.shop', { since: 2, reason: 'other' }), a, 'a held node keeps its first hold');
  const b = hold(a, 'web-2.shop', { since: 3, reason: 'r' });
  assert.deepEqual([...release(b, ['web-1.shop', 'nobody']).held.keys()], ['web-2.shop']);
  assert.equal(release(b, ['nobody']), b);
  assert.equal(EMPTY_MESH.held.size, 0);
});
