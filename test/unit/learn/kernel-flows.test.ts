// Kernel log lines → observed flows: parsing, attribution, one flow counted once, TCP left to Envoy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kernelFlow, parseKernelLine, type KernelEvent } from '../../../xds-server/src/learn/kernel-flows.js';
import { Learner } from '../../../xds-server/src/learn/index.js';
import { IdentityIndex } from '../../../xds-server/src/inventory/identity.js';

const INDEX = IdentityIndex.build({
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11'], ports: [] },
    { name: 'db-1', service: 'data/db', addresses: ['10.213.0.31'], ports: [] },
  ],
  externals: [],
  vips: [],
});
const line = (prefix: string, proto: number, src: string, dst: string, sport: number, dport: number, t = -1, id = -1) =>
  ['P', prefix, proto, src, dst, sport, dport, t, id].join('\t');
const event = (l: string): KernelEvent => {
  const p = parseKernelLine(l);
  assert.equal(p.type, 'event', JSON.stringify(p));
  return (p as { event: KernelEvent }).event;
};

test('parses events, loss and rejects malformed lines', () => {
  assert.deepEqual(parseKernelLine('L\t12'), { type: 'lost', count: 12 });
  assert.deepEqual(parseKernelLine('L\t?'), { type: 'lost', count: undefined });
  assert.equal(parseKernelLine('P\tnsg obs\t17').type, 'rejected');
  assert.equal(parseKernelLine(line('nsg deny sideways', 17, 'a', 'b', 1, 2)).type, 'rejected');
  assert.equal(parseKernelLine(line('other', 17, 'a', 'b', 1, 2)).type, 'rejected');
  const e = event(line('nsg deny egress', 17, '10.213.0.11', '203.0.113.20', 40000, 53));
  assert.deepEqual([e.kind, e.side, e.proto, e.dport], ['deny', 'egress', 17, 53]);
});

test('a new udp flow is an observation of an edge; icmp has no port', () => {
  const r = kernelFlow(event(line('nsg obs', 17, '10.213.0.11', '10.213.0.31', 40000, 6000)), INDEX, 5, 'kernel:x');
  assert.ok(r.ok);
  assert.deepEqual(r.flow.obs.source, { service: 'shop/web' });
  assert.deepEqual(r.flow.obs.destination, { service: 'data/db' });
  assert.equal(r.flow.obs.protocol, 'udp');
  assert.equal(r.flow.obs.port, 6000);
  assert.equal(r.flow.obs.sourceWorkload, 'web-1');
  const i = kernelFlow(event(line('nsg obs', 1, '203.0.113.10', '10.213.0.11', 0, 0, 8, 77)), INDEX, 5, 'k');
  assert.ok(i.ok);
  assert.equal(i.flow.obs.protocol, 'icmp');
  assert.equal(i.flow.obs.port, 0);
  assert.deepEqual(i.flow.obs.source, { cidr: '203.0.113.10/32' });
});

test('ignored: icmp errors, tcp observations (Envoy learns TCP), flows between two externals, spoofed frames', () => {
  for (const l of [
    line('nsg obs', 1, '10.213.0.11', '203.0.113.10', 0, 0, 3, 0),
    line('nsg obs', 6, '10.213.0.11', '203.0.113.10', 4000, 80),
    line('nsg obs', 17, '198.51.100.1', '203.0.113.10', 4000, 53),
    line('nsg spoof', 17, '10.213.0.31', '203.0.113.10', 4000, 53),
  ]) {
    const r = kernelFlow(event(l), INDEX, 0, 'k');
    assert.equal(r.ok, false, l);
    assert.equal((r as { kind?: string }).kind, undefined, l);
  }
  const sctp = kernelFlow(event(line('nsg deny egress', 132, '10.213.0.11', '203.0.113.10', 1, 2)), INDEX, 0, 'k');
  assert.equal((sctp as { kind?: string }).kind, 'kernel:protocol');
});

test('verdicts: the enforcer is the source for egress, the destination for ingress; TCP is verdict only', () => {
  const e = kernelFlow(event(line('nsg deny egress', 6, '10.213.0.11', '203.0.113.20', 4000, 2000)), INDEX, 0, 'k');
  assert.ok(e.ok);
  assert.equal(e.flow.verdict?.point, 'kernel');
  assert.equal(e.flow.verdict?.verdict, 'denied');
  assert.equal(e.flow.verdict?.enforcer, 'shop/web');
  assert.equal(e.flow.verdictOnly, true);
  const w = kernelFlow(event(line('nsg wd ingress', 17, '203.0.113.20', '10.213.0.31', 4000, 6000)), INDEX, 0, 'k');
  assert.ok(w.ok);
  assert.equal(w.flow.verdict?.verdict, 'would-deny');
  assert.equal(w.flow.verdict?.enforcer, 'data/db');
  assert.equal(w.flow.obs.side, 'inbound');
  assert.equal(w.flow.verdictOnly, undefined, 'a would-deny udp flow is evidence too, like Envoy’s');
});

test('one flow counts once: its would-deny line and its observation line are deduplicated by the learner', () => {
  const learner = new Learner();
  const wd = kernelFlow(event(line('nsg wd egress', 17, '10.213.0.11', '10.213.0.31', 4000, 6000)), INDEX, 1, 'k');
  const obs = kernelFlow(event(line('nsg obs', 17, '10.213.0.11', '10.213.0.31', 4000, 6000)), INDEX, 1, 'k');
  const other = kernelFlow(event(line('nsg obs', 17, '10.213.0.11', '10.213.0.31', 4001, 6000)), INDEX, 1, 'k');
  assert.ok(wd.ok && obs.ok && other.ok);
  learner.observe(wd.flow.obs);
  learner.observe(obs.flow.obs);
  assert.equal(learner.edges()[0]?.evidence.count, 1);
  learner.observe(other.flow.obs);
  assert.equal(learner.edges()[0]?.evidence.count, 2);
});

test('IPv6: flows are attributed by IPv6 address; ICMPv6 is icmp, its echo request (128) only', () => {
  const dual = IdentityIndex.build({
    workloads: [{ name: 'web-1', service: 'shop/web', addresses: ['10.213.0.11', 'fd6e::b'], ports: [] }],
    externals: [],
    vips: [],
  });
  const u = kernelFlow(event(line('nsg obs', 17, 'fd6e::b', '2001:db8::10', 40000, 53)), dual, 5, 'k');
  assert.ok(u.ok);
  assert.deepEqual(u.flow.obs.source, { service: 'shop/web' });
  assert.equal(u.flow.obs.sourceWorkload, 'web-1');
  assert.deepEqual(u.flow.obs.destination, { cidr: '2001:db8::10/128' });
  const echo = kernelFlow(event(line('nsg obs', 58, '2001:db8::10', 'fd6e::b', 0, 0, 128, 9)), dual, 5, 'k');
  assert.ok(echo.ok);
  assert.equal(echo.flow.obs.protocol, 'icmp');
  assert.equal(echo.flow.obs.port, 0);
  // an ICMPv6 echo reply or neighbour solicitation is no new flow; IPv4's echo request number means nothing here
  for (const t of [129, 135, 8]) {
    const r = kernelFlow(event(line('nsg obs', 58, '2001:db8::10', 'fd6e::b', 0, 0, t, 9)), dual, 5, 'k');
    assert.equal(r.ok, false, `icmpv6 type ${t}`);
  }
  const deny = kernelFlow(event(line('nsg deny ingress', 58, '2001:db8::10', 'fd6e::b', 0, 0, 128, 9)), dual, 5, 'k');
  assert.ok(deny.ok);
  assert.equal(deny.flow.verdict?.enforcer, 'shop/web');
});
