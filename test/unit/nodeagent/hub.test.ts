// The node agents' stream on the control plane's side (nodeagent/hub.ts) with fake calls of our own seam, and the
// protocol's checks on both ends (nodeagent/protocol.ts): only the agents' service account, rules sent on connect
// and on every real change, lines turned into flows as the node's kernel saw them, a bad message refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { IdentityIndex } from '../../../xds-server/src/inventory/identity.js';
import { NodeAgentHub } from '../../../xds-server/src/nodeagent/hub.js';
import { parseAgentMessage, parseRulesMessage } from '../../../xds-server/src/nodeagent/protocol.js';
import type { WorkloadIdentity } from '../../../xds-server/src/auth/decide.js';
import type { KernelRules } from '../../../xds-server/src/generate/kernel.js';
import type { ObservedFlow } from '../../../xds-server/src/model/index.js';
import { SILENT } from '../../../xds-server/src/util/logger.js';

const INDEX = IdentityIndex.build({
  workloads: [
    { name: 'web-1', service: 'shop/web', addresses: ['10.244.0.11'], ports: [] },
    { name: 'db-1', service: 'shop/db', addresses: ['10.244.0.31'], ports: [] },
  ],
  externals: [],
  vips: [],
});
const AGENT: WorkloadIdentity = { namespace: 'nanoseg-system', serviceAccount: 'nanoseg-node-agent', pod: 'agent-x' };
const rules = (rule: string): KernelRules => ({
  tables: [{ family: 'inet', name: 'nanoseg', objects: [{ kind: 'chain', name: 'forward', head: [], items: [rule] }] }],
});

class FakeCall extends EventEmitter {
  written: Buffer[] = [];
  errors: { code: number; details: string }[] = [];
  ended = false;
  constructor() {
    super();
    this.on('error', (e: { code: number; details: string }) => this.errors.push(e));
  }
  write(b: Buffer): boolean {
    this.written.push(b);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  send(m: unknown): void {
    this.emit('data', Buffer.from(JSON.stringify(m)));
  }
  messages(): { version: number; rules: KernelRules }[] {
    return this.written.map((b) => JSON.parse(b.toString()) as { version: number; rules: KernelRules });
  }
}
const tick = () => new Promise((r) => setImmediate(r));

function hub() {
  let desired = rules('accept');
  const flows: ObservedFlow[] = [];
  const rejected: string[] = [];
  const refused: string[] = [];
  const h = new NodeAgentHub({
    account: { namespace: 'nanoseg-system', serviceAccount: 'nanoseg-node-agent' },
    desired: () => desired,
    index: () => INDEX,
    now: () => 1000,
    logger: SILENT,
    refused: (r) => refused.push(r),
    helloTimeoutMs: 50,
  });
  void h.start({ observe: (f) => flows.push(...f), rejected: (kind) => rejected.push(kind) });
  const connect = (id: WorkloadIdentity | undefined) => {
    const call = new FakeCall();
    (h.handlers(() => id).connect as (c: unknown) => void)(call);
    return call;
  };
  return { h, flows, rejected, refused, connect, set: (r: string) => (desired = rules(r)) };
}

test('node agents: only the agents service account; no identity or another pod is refused, named', () => {
  const { connect, refused } = hub();
  const other = connect({ namespace: 'shop', serviceAccount: 'default', pod: 'web-1' });
  assert.equal(other.errors[0]?.code, 7, 'PERMISSION_DENIED');
  assert.match(other.errors[0]!.details, /pod shop\/web-1 \(service account default\) is not a node agent/);
  const sameNameElsewhere = connect({ ...AGENT, namespace: 'shop' });
  assert.equal(sameNameElsewhere.errors[0]?.code, 7);
  assert.equal(connect(undefined).errors[0]?.code, 7);
  assert.equal(other.written.length, 0, 'nothing sent to a refused stream');
  assert.deepEqual(refused, ['not-an-agent', 'not-an-agent', 'not-an-agent']);
});

test('node agents: rules on hello and on every change that changes them; lines become the node kernel flows', async () => {
  const { h, connect, set, flows } = hub();
  const call = connect(AGENT);
  assert.equal(call.written.length, 0, 'nothing before hello');
  call.send({ hello: { node: 'node-1' } });
  assert.deepEqual(call.messages(), [{ version: 1, rules: rules('accept') }]);
  h.changed('no-op');
  await tick();
  assert.equal(call.written.length, 1, 'the same rules are not sent again');
  set('drop');
  h.changed('mode');
  h.changed('mode again');
  await tick();
  assert.deepEqual(
    call.messages().map((m) => m.version),
    [1, 2],
    'a burst is one message',
  );
  call.send({ status: { state: 'ok', version: 2, applies: 2, failures: 0, rulesBytes: 100, droppedLines: 0 } });
  call.send({ lines: ['P\tnsg obs\t17\t10.244.0.11\t10.244.0.31\t40000\t6000\t-1\t-1'] });
  await tick();
  assert.equal(flows.length, 1);
  assert.deepEqual(
    [flows[0]!.obs.source, flows[0]!.obs.destination],
    [{ service: 'shop/web' }, { service: 'shop/db' }],
  );
  const [v] = h.agentsView();
  assert.deepEqual(
    [v!.node, v!.pod, v!.connected, v!.sentVersion, v!.status?.version, v!.flows.flows],
    ['node-1', 'nanoseg-system/agent-x', true, 2, 2, 1],
  );
  call.emit('end');
  assert.equal(h.agentsView()[0]!.connected, false, 'disconnected, still listed');
});

test('node agents: a bad message ends the stream by name and counts; a newer agent of the node replaces the old', async () => {
  const { h, connect, rejected, refused } = hub();
  const noHello = connect(AGENT);
  noHello.send({ lines: [] });
  assert.equal(noHello.errors[0]?.code, 3, 'INVALID_ARGUMENT');
  assert.match(noHello.errors[0]!.details, /the first message must be hello/);
  const bad = connect(AGENT);
  bad.send({ hello: { node: 'node-1' } });
  bad.emit('data', Buffer.from('{"lines": [1]}'));
  assert.match(bad.errors[0]!.details, /lines\[0\]: a line of at most 1024 characters/);
  bad.send({ lines: [] });
  assert.equal(bad.errors.length, 1, 'nothing more is read from an ended stream');
  assert.deepEqual(rejected, ['node-agent-malformed', 'node-agent-malformed']);
  const silent = connect(AGENT);
  await new Promise((r) => setTimeout(r, 80));
  assert.match(silent.errors[0]!.details, /no hello/);
  assert.ok(refused.includes('no-hello'));
  const first = connect(AGENT);
  first.send({ hello: { node: 'node-2' } });
  const second = connect(AGENT);
  second.send({ hello: { node: 'node-2' } });
  assert.equal(first.errors[0]?.code, 10, 'ABORTED: replaced');
  assert.equal(second.written.length, 1);
  assert.equal(h.agentsView().find((a) => a.node === 'node-2')?.connected, true);
});

test('node agent protocol: each message checked, errors name the field', () => {
  const agent = (m: unknown) => parseAgentMessage(Buffer.from(JSON.stringify(m)));
  const err = (r: { ok: boolean; error?: string }) => (r.ok ? 'ok' : r.error);
  assert.deepEqual(agent({ hello: { node: 'node-1' } }), { ok: true, value: { hello: { node: 'node-1' } } });
  assert.match(err(agent({ hello: { node: 'Node_1' } }))!, /hello\.node: a Kubernetes node name/);
  assert.match(err(agent({ hello: { node: 'a' }, lines: [] }))!, /exactly one of hello, status, lines/);
  assert.match(err(agent({ status: { state: 'ok', applies: -1 } }))!, /status\.applies: a count/);
  assert.match(err(agent({ lines: new Array(1025).fill('x') }))!, /lines: at most 1024 per message/);
  assert.match(err(agent({ rules: {} }))!, /unknown message rules/);
  assert.match(err(parseAgentMessage(Buffer.from('{')))!, /not JSON/);
  const rulesMsg = (r: unknown) => parseRulesMessage(Buffer.from(JSON.stringify(r)));
  assert.ok(rulesMsg({ version: 1, rules: rules('accept') }).ok);
  const foreign = { tables: [{ family: 'inet', name: 'filter', objects: [] }] };
  assert.match(err(rulesMsg({ version: 1, rules: foreign }))!, /rules\.tables\[0\]\.name: only the table nanoseg/);
  assert.match(
    err(rulesMsg({ version: 1, rules: rules('accept\n}\ntable inet filter { chain x {') }))!,
    /head and items are one-line strings/,
    'no rule can start another table',
  );
  assert.match(err(rulesMsg({ rules: rules('accept') }))!, /expected \{version, rules: \{tables\}\}/);
});
