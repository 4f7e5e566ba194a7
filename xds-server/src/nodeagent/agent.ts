// The node agent (`nanoseg node-agent`, the DaemonSet of manifests/base/node-agent.yaml): on each Kubernetes node it
// holds one authenticated stream to the control plane (protocol.ts), applies the rules it is sent with the same
// kernel enforcement point the lab uses (kernel/point.ts: one `nft -f` transaction each, the last good rules kept
// on failure), says what is in force after each apply, and sends the node's NFLOG lines up. The rules stay in force
// while the control plane is away and when the agent stops: an agent restart never opens what was closed.
// Reconnects with backoff (1 s doubling to 30 s); the token and CA are read again on each attempt (rotation).
import { Client, Metadata, credentials as grpcCredentials, type ClientDuplexStream } from '@grpc/grpc-js';
import type { KernelRules } from '../generate/kernel.js';
import { KernelEnforcementPoint } from '../kernel/point.js';
import { NflogReader } from '../kernel/flow-source.js';
import type { NftResult } from '../kernel/nft.js';
import type { Logger } from '../util/logger.js';
import {
  MAX_LINES_PER_MESSAGE,
  NODE_AGENT_PATH,
  encodeAgentMessage,
  parseRulesMessage,
  type AgentMessage,
  type AgentStatus,
} from './protocol.js';

/** lines kept while the control plane is away or slow; beyond this they are dropped and counted */
const LINE_BUFFER = 50_000;

export interface AgentCredentials {
  /** the control plane's CA (PEM) */
  readonly ca: Buffer;
  /** the pod's projected service-account token (audience nanoseg) */
  readonly token: string;
}

export interface NodeAgentOptions {
  /** the control plane's authenticated listener, HOST:PORT */
  readonly target: string;
  /** the name its certificate must carry (default: the host of `target`) */
  readonly serverName?: string;
  readonly node: string;
  readonly credentials: () => Promise<AgentCredentials>;
  readonly logGroup: number;
  readonly logger: Logger;
  /** how rules are applied (default `nft -f -` here) */
  readonly apply?: (text: string) => Promise<NftResult>;
  /** false: no NFLOG reader (tests of the stream alone) */
  readonly reader?: boolean;
  readonly maxBackoffMs?: number;
}

export class NodeAgent {
  private client?: Client;
  private call?: ClientDuplexStream<AgentMessage, Buffer>;
  private stopped = true;
  private backoffMs = 1000;
  private retry?: NodeJS.Timeout;
  private readonly point: KernelEnforcementPoint;
  private readonly reader?: NflogReader;
  private desired?: { readonly version: number; readonly rules: KernelRules };
  private applying?: number;
  private applied?: number;
  private lines: string[] = [];
  private droppedLines = 0;
  private writable = false;
  private flushScheduled = false;
  /** the control plane's messages that were refused here (never applied) */
  rejectedMessages = 0;

  constructor(private readonly opts: NodeAgentOptions) {
    this.point = new KernelEnforcementPoint({
      logger: opts.logger,
      desired: () => {
        this.applying = this.desired!.version;
        return this.desired!.rules;
      },
      ...(opts.apply && { apply: opts.apply }),
      hooks: { failed: () => this.sendStatus() },
    });
    if (opts.reader !== false) {
      this.reader = new NflogReader({ group: opts.logGroup, logger: opts.logger, line: (l) => this.line(l) });
    }
  }

  /** What is in force on the node, as the agent reports it. */
  status(): AgentStatus {
    const s = this.point.status();
    return {
      state: s.state,
      applies: s.applies,
      failures: s.failures,
      rulesBytes: s.rulesBytes,
      droppedLines: this.droppedLines,
      ...(this.applied !== undefined && { version: this.applied }),
      ...(s.lastApplyMs !== undefined && { lastApplyMs: Math.round(s.lastApplyMs * 10) / 10 }),
      ...(s.error !== undefined && { error: s.error }),
    };
  }

  /** Resolves once every rules message received so far is applied (or failed). */
  settled(): Promise<void> {
    return this.point.settled();
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    await this.reader?.start();
    void this.connect();
  }

  /** Closes the stream; the rules in force stay. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.point.stop();
    await this.reader?.stop();
    this.call?.end();
    this.client?.close();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let creds: AgentCredentials;
    try {
      creds = await this.opts.credentials();
    } catch (e) {
      this.opts.logger.error({ error: (e as Error).message }, 'node agent: no credentials yet; retrying');
      return this.reconnect();
    }
    this.client?.close();
    // the certificate is checked against the target's host unless another name is given
    const name = this.opts.serverName;
    const client = new Client(this.opts.target, grpcCredentials.createSsl(creds.ca), {
      ...(name !== undefined && { 'grpc.ssl_target_name_override': name, 'grpc.default_authority': name }),
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.keepalive_time_ms': 30_000,
    });
    this.client = client;
    const md = new Metadata();
    md.set('authorization', `Bearer ${creds.token}`);
    const call = client.makeBidiStreamRequest<AgentMessage, Buffer>(
      NODE_AGENT_PATH,
      encodeAgentMessage,
      (b: Buffer) => b,
      md,
    );
    this.call = call;
    let gotRules = false;
    call.on('data', (b: Buffer) => {
      const p = parseRulesMessage(b);
      if (!p.ok) {
        this.rejectedMessages++;
        this.opts.logger.error({ error: p.error }, 'node agent: refused a rules message; the rules in force stay');
        return;
      }
      if (!gotRules) {
        gotRules = true;
        this.backoffMs = 1000;
        this.opts.logger.info({ target: this.opts.target, version: p.value.version }, 'node agent: rules received');
      }
      this.desired = p.value;
      this.point.start();
      this.point.changed(`rules version ${p.value.version}`);
      // in force once the point settles ok: applied now, or already (a restarted control plane's same rules)
      void this.point.settled().then(() => {
        if (this.point.status().state === 'ok') this.applied = this.applying;
        this.sendStatus();
      });
    });
    call.on('drain', () => {
      this.writable = true;
      this.flushLines();
    });
    let over = false;
    const ended = (e?: Error) => {
      if (over || this.call !== call) return;
      over = true;
      this.writable = false;
      if (this.stopped) return;
      this.opts.logger.warn(
        { target: this.opts.target, error: e?.message },
        'node agent: stream to the control plane ended; the rules in force stay; reconnecting',
      );
      this.reconnect();
    };
    call.on('error', (e) => ended(e));
    call.on('end', () => ended());
    call.on('status', () => ended());
    this.writable = call.write({ hello: { node: this.opts.node } });
    if (this.applied !== undefined) this.sendStatus();
    this.flushLines();
  }

  private reconnect(): void {
    if (this.stopped || this.retry) return;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs ?? 30_000);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, wait);
    this.retry.unref();
  }

  private sendStatus(): void {
    if (!this.call || this.stopped) return;
    this.writable = this.call.write({ status: this.status() }) && this.writable;
  }

  private line(l: string): void {
    if (this.lines.length >= LINE_BUFFER) {
      this.droppedLines++;
      return;
    }
    this.lines.push(l);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushLines());
    }
  }

  private flushLines(): void {
    this.flushScheduled = false;
    while (this.writable && this.call && this.lines.length > 0) {
      const batch = this.lines.splice(0, MAX_LINES_PER_MESSAGE);
      this.writable = this.call.write({ lines: batch });
    }
  }
}
