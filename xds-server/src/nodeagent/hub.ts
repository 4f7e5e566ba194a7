// The control plane's side of the node agents (protocol.ts): each authenticated agent's stream gets its node's
// whole desired kernel rules now and after every change (bursts merged; a slow agent gets only the newest, once it
// drains), and its NFLOG lines become flows through the control plane's own identity index, so learning and
// denied alerts (`point: "kernel"`) are the same as with the kernel point hosted here. A peer's bad message is
// counted and ends its stream (the agent reconnects); it never throws here. One stream per node: a newer one
// replaces the older.
import { status as GrpcStatus, type ServerDuplexStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { KernelRules } from '../generate/kernel.js';
import { renderRuleset } from '../generate/kernel.js';
import type { IdentityIndex } from '../inventory/identity.js';
import { KernelLines, emptyKernelFlowStats, type KernelFlowStats } from '../kernel/flow-source.js';
import type { ObservationSink, ObservationSource } from '../learn/source.js';
import type { EnforcementPoint, ServiceName } from '../model/index.js';
import type { WorkloadIdentity } from '../auth/decide.js';
import type { Logger } from '../util/logger.js';
import { encodeRulesMessage, parseAgentMessage, type AgentStatus } from './protocol.js';

/** who a call's token named (the authenticated listener's identityOf); undefined: no verified identity */
export type IdentityOfCall = (call: object) => WorkloadIdentity | undefined;

export interface NodeAgentHubOptions {
  /** the service account node agents run as: no other pod may connect as one */
  readonly account: { readonly namespace: string; readonly serviceAccount: string };
  /** the whole desired kernel rules now */
  readonly desired: () => KernelRules;
  readonly index: () => IdentityIndex;
  readonly now: () => number;
  readonly logger: Logger;
  readonly onLost?: (n: number) => void;
  /** a stream refused or ended for a bad message, by reason */
  readonly refused?: (reason: string) => void;
  /** an agent must say hello within this (default 10 s) */
  readonly helloTimeoutMs?: number;
}

export interface NodeAgentView {
  readonly node: string;
  readonly pod: string;
  readonly connected: boolean;
  readonly since: number;
  /** the rules version last sent to it */
  readonly sentVersion?: number;
  /** what the agent last said is in force on its node */
  readonly status?: AgentStatus;
  readonly flows: KernelFlowStats;
}

type Call = ServerDuplexStream<Buffer, Buffer>;

interface Agent {
  readonly node: string;
  readonly pod: string;
  readonly call: Call;
  readonly lines: KernelLines;
  since: number;
  connected: boolean;
  sentVersion?: number;
  sentText?: string;
  blocked: boolean;
  status?: AgentStatus;
}

export class NodeAgentHub implements EnforcementPoint, ObservationSource {
  readonly name = 'kernel' as const;
  private readonly agents = new Map<string, Agent>();
  private sink?: ObservationSink;
  private version = 0;
  private current?: { readonly version: number; readonly rules: KernelRules; readonly text: string };
  private last?: { readonly version: number; readonly rules: KernelRules; readonly text: string };
  private scheduled = false;

  constructor(private readonly opts: NodeAgentHubOptions) {}

  start(sink: ObservationSink): Promise<void> {
    this.sink = sink;
    return Promise.resolve();
  }

  stop(): Promise<void> {
    for (const a of this.agents.values()) {
      a.lines.flush();
      if (a.connected) a.call.end();
    }
    return Promise.resolve();
  }

  changed(_reason: string, _services?: readonly ServiceName[]): void {
    this.current = undefined;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const a of this.agents.values()) if (a.connected) this.send(a);
    });
  }

  agentsView(): NodeAgentView[] {
    return [...this.agents.values()]
      .map((a) => ({
        node: a.node,
        pod: a.pod,
        connected: a.connected,
        since: a.since,
        ...(a.sentVersion !== undefined && { sentVersion: a.sentVersion }),
        ...(a.status && { status: a.status }),
        flows: { ...a.lines.stats },
      }))
      .sort((x, y) => x.node.localeCompare(y.node));
  }

  /** Handlers for NODE_AGENT_SERVICE behind the authenticated listener (auth/grpc.ts `authenticated`). */
  handlers(identityOf: IdentityOfCall): UntypedServiceImplementation {
    return { connect: (call: Call) => this.connect(call, identityOf(call)) };
  }

  private connect(call: Call, id: WorkloadIdentity | undefined): void {
    call.on('error', () => undefined);
    const { namespace, serviceAccount } = this.opts.account;
    if (id?.namespace !== namespace || id.serviceAccount !== serviceAccount) {
      this.opts.refused?.('not-an-agent');
      const who = id
        ? `pod ${id.namespace}/${id.pod} (service account ${id.serviceAccount})`
        : 'a call with no identity';
      call.emit('error', {
        code: GrpcStatus.PERMISSION_DENIED,
        details: `nanoseg: ${who} is not a node agent: only service account ${namespace}/${serviceAccount} is`,
      });
      return;
    }
    const who = { pod: `${id.namespace}/${id.pod}` };
    let agent: Agent | undefined;
    let over = false;
    const refuse = (reason: string, detail: string): void => {
      if (over) return;
      over = true;
      if (agent && agent.call === call) agent.connected = false;
      this.refuse(call, reason, detail, agent?.node);
    };
    const hello = setTimeout(
      () => refuse('no-hello', 'no hello within the first seconds'),
      this.opts.helloTimeoutMs ?? 10_000,
    );
    hello.unref();
    call.on('data', (buf: Buffer) => {
      if (over) return;
      const p = parseAgentMessage(buf);
      if (!p.ok) return refuse('malformed', p.error);
      const m = p.value;
      if ('hello' in m) {
        if (agent) return refuse('malformed', 'hello sent twice');
        clearTimeout(hello);
        agent = this.register(m.hello.node, who.pod, call);
        return;
      }
      if (!agent) return refuse('malformed', 'the first message must be hello');
      if ('status' in m) agent.status = m.status;
      else for (const l of m.lines) agent.lines.line(l);
    });
    const closed = () => {
      clearTimeout(hello);
      if (!agent || !agent.connected || agent.call !== call) return;
      agent.connected = false;
      agent.since = this.opts.now();
      agent.lines.flush();
      this.opts.logger.warn({ node: agent.node, pod: agent.pod }, 'node agent disconnected; its rules stay in force');
    };
    call.on('end', () => {
      closed();
      call.end();
    });
    call.on('close', closed);
    call.on('cancelled', closed);
  }

  private register(node: string, pod: string, call: Call): Agent {
    const old = this.agents.get(node);
    if (old?.connected) {
      old.connected = false;
      old.lines.flush();
      old.call.emit('error', { code: GrpcStatus.ABORTED, details: `nanoseg: a newer agent of node ${node} connected` });
    }
    const lines = new KernelLines(
      {
        index: this.opts.index,
        now: this.opts.now,
        reporter: `kernel:node/${node}`,
        ...(this.opts.onLost && { onLost: this.opts.onLost }),
        // the node's counts go on across its agent's reconnections
        stats: old?.lines.stats ?? emptyKernelFlowStats(),
      },
      () => this.sink,
    );
    const a: Agent = { node, pod, call, lines, since: this.opts.now(), connected: true, blocked: false };
    this.agents.set(node, a);
    call.on('drain', () => {
      a.blocked = false;
      if (a.connected) this.send(a);
    });
    this.opts.logger.info({ node, pod }, 'node agent connected');
    this.send(a);
    return a;
  }

  private rules(): { readonly version: number; readonly rules: KernelRules; readonly text: string } {
    // current: undefined after a change, until recomputed; last: the newest rules sent anywhere
    if (!this.current) {
      const rules = this.opts.desired();
      const text = renderRuleset(rules);
      // a new version only for new rules: a change that changes nothing here is not one
      if (text !== this.last?.text) this.last = { version: ++this.version, rules, text };
      this.current = this.last;
    }
    return this.current;
  }

  private send(a: Agent): void {
    if (a.blocked) return;
    let r;
    try {
      r = this.rules();
    } catch (e) {
      this.opts.logger.error({ error: (e as Error).message }, 'node agents: kernel rules could not be generated');
      return;
    }
    if (r.text === a.sentText) return;
    a.sentText = r.text;
    a.sentVersion = r.version;
    if (!a.call.write(encodeRulesMessage({ version: r.version, rules: r.rules }))) a.blocked = true;
  }

  private refuse(call: Call, reason: string, detail: string, node?: string): void {
    this.opts.refused?.(reason);
    this.sink?.rejected(`node-agent-${reason}`, 1, detail, node);
    call.emit('error', { code: GrpcStatus.INVALID_ARGUMENT, details: `nanoseg: ${detail}` });
  }
}
