// The node agent's stream to the control plane (`/nanoseg.v1.NodeAgent/Connect`, one bidirectional gRPC stream per
// agent, on the authenticated TLS listener): JSON messages, checked here on both ends. Pure: no I/O.
//
//   agent → control plane   {hello: {node}}            first, once: the Kubernetes node the agent runs on
//                           {status: {...}}            after each apply: what is in force on the node
//                           {lines: [...]}             NFLOG reader lines, as the reader printed them
//   control plane → agent   {rules, version}           the node's whole desired kernel rules, on every change
//
// The control plane turns the lines into flows itself (kernel/flow-source.ts KernelLines) with its own identity
// index, so learning and alerts are the same as with the kernel point hosted in the control plane.
import type { ServiceDefinition } from '@grpc/grpc-js';
import { KERNEL_TABLE, type KernelRules, type NftObject, type NftTable } from '../generate/kernel.js';

export const NODE_AGENT_PATH = '/nanoseg.v1.NodeAgent/Connect';
/** the service account the node agents' DaemonSet runs as (manifests/base/node-agent.yaml) */
export const NODE_AGENT_SERVICE_ACCOUNT = 'nanoseg-node-agent';
/** at most this many lines in one message (the agent batches, and drops beyond its buffer with a count) */
export const MAX_LINES_PER_MESSAGE = 1024;
const MAX_LINE = 1024;
const MAX_NODE_NAME = 253;

export interface AgentStatus {
  readonly state: 'pending' | 'ok' | 'failed';
  /** the rules version in force (the last one applied without error) */
  readonly version?: number;
  readonly applies: number;
  readonly failures: number;
  readonly rulesBytes: number;
  readonly lastApplyMs?: number;
  readonly error?: string;
  /** lines the agent could not send (its buffer was full while disconnected or slow) */
  readonly droppedLines: number;
}

export type AgentMessage =
  | { readonly hello: { readonly node: string } }
  | { readonly status: AgentStatus }
  | { readonly lines: readonly string[] };

export interface RulesMessage {
  readonly version: number;
  readonly rules: KernelRules;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const bad = <T>(error: string): Parsed<T> => ({ ok: false, error });
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const count = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
/** a Kubernetes node name: a DNS subdomain */
const NODE_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function json(buf: Buffer): Parsed<unknown> {
  try {
    return { ok: true, value: JSON.parse(buf.toString('utf8')) as unknown };
  } catch (e) {
    return bad(`not JSON: ${(e as Error).message}`);
  }
}

/** What an agent sent, checked field by field; an error names the field. */
export function parseAgentMessage(buf: Buffer): Parsed<AgentMessage> {
  const j = json(buf);
  if (!j.ok) return j;
  const m = j.value;
  if (!isObj(m)) return bad('the message is not an object');
  const keys = Object.keys(m);
  if (keys.length !== 1)
    return bad(`the message must have exactly one of hello, status, lines (got ${keys.join(', ') || 'none'})`);
  if (isObj(m.hello)) {
    const node = m.hello.node;
    if (typeof node !== 'string' || node.length > MAX_NODE_NAME || !NODE_RE.test(node))
      return bad('hello.node: a Kubernetes node name');
    return { ok: true, value: { hello: { node } } };
  }
  if (isObj(m.status)) {
    const s = m.status;
    if (s.state !== 'pending' && s.state !== 'ok' && s.state !== 'failed')
      return bad('status.state: pending, ok or failed');
    for (const f of ['applies', 'failures', 'rulesBytes', 'droppedLines'] as const)
      if (!count(s[f])) return bad(`status.${f}: a count`);
    if (s.version !== undefined && !count(s.version)) return bad('status.version: a count');
    if (s.lastApplyMs !== undefined && (typeof s.lastApplyMs !== 'number' || !(s.lastApplyMs >= 0)))
      return bad('status.lastApplyMs: milliseconds');
    if (s.error !== undefined && typeof s.error !== 'string') return bad('status.error: a string');
    return {
      ok: true,
      value: {
        status: {
          state: s.state,
          applies: s.applies as number,
          failures: s.failures as number,
          rulesBytes: s.rulesBytes as number,
          droppedLines: s.droppedLines as number,
          ...(s.version !== undefined && { version: s.version as number }),
          ...(s.lastApplyMs !== undefined && { lastApplyMs: s.lastApplyMs as number }),
          ...(s.error !== undefined && { error: (s.error as string).slice(0, 500) }),
        },
      },
    };
  }
  if (Array.isArray(m.lines)) {
    if (m.lines.length > MAX_LINES_PER_MESSAGE) return bad(`lines: at most ${MAX_LINES_PER_MESSAGE} per message`);
    for (const [i, l] of m.lines.entries())
      if (typeof l !== 'string' || l.length > MAX_LINE)
        return bad(`lines[${i}]: a line of at most ${MAX_LINE} characters`);
    return { ok: true, value: { lines: m.lines as string[] } };
  }
  return bad(`unknown message ${keys[0]}: expected hello, status or lines`);
}

const plain = (s: unknown): s is string => typeof s === 'string' && !/[\n\r]/.test(s);
const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every(plain);

/**
 * What the control plane sent, checked before any of it reaches nft: only the table the agent owns
 * (`inet nanoseg`, `bridge nanoseg`), objects of a known kind, one-line strings (no rule can start another table).
 */
export function parseRulesMessage(buf: Buffer): Parsed<RulesMessage> {
  const j = json(buf);
  if (!j.ok) return j;
  const m = j.value;
  if (!isObj(m) || !count(m.version) || !isObj(m.rules) || !Array.isArray(m.rules.tables))
    return bad('expected {version, rules: {tables}}');
  const tables: NftTable[] = [];
  for (const [i, t] of (m.rules.tables as unknown[]).entries()) {
    const at = `rules.tables[${i}]`;
    if (!isObj(t) || (t.family !== 'inet' && t.family !== 'bridge')) return bad(`${at}.family: inet or bridge`);
    if (t.name !== KERNEL_TABLE) return bad(`${at}.name: only the table ${KERNEL_TABLE} is the agent's`);
    if (!Array.isArray(t.objects)) return bad(`${at}.objects: a list`);
    const objects: NftObject[] = [];
    for (const [k, o] of (t.objects as unknown[]).entries()) {
      if (!isObj(o) || (o.kind !== 'set' && o.kind !== 'map' && o.kind !== 'chain'))
        return bad(`${at}.objects[${k}].kind: set, map or chain`);
      if (!plain(o.name) || !/^[A-Za-z0-9_./-]+$/.test(o.name)) return bad(`${at}.objects[${k}].name: an nft name`);
      if (!strings(o.head) || !strings(o.items)) return bad(`${at}.objects[${k}]: head and items are one-line strings`);
      objects.push({ kind: o.kind, name: o.name, head: o.head, items: o.items });
    }
    tables.push({ family: t.family, name: t.name, objects });
  }
  return { ok: true, value: { version: m.version, rules: { tables } } };
}

const encode = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const raw = (b: Buffer): Buffer => b;

/** The service on the control plane's side: messages stay raw buffers, parsed by the handler. */
export const NODE_AGENT_SERVICE: ServiceDefinition = {
  connect: {
    path: NODE_AGENT_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  },
} as unknown as ServiceDefinition;

export const encodeAgentMessage = (m: AgentMessage): Buffer => encode(m);
export const encodeRulesMessage = (m: RulesMessage): Buffer => encode(m);
