// The kernel ObservationSource: the NFLOG reader (ebpf-redirect/nflog/nflog-reader.c) run in the namespace whose
// rules log, its lines turned into ObservedFlows (learn/kernel-flows.ts) and handed to the sink in batches. The
// reader is restarted when it exits (the namespace may not exist yet). Loss is counted, never hidden: the reader
// reports gaps in NFLOG's sequence numbers and socket overflows. The two halves are apart because a node agent
// runs the reader on its node and sends the lines to the control plane, which turns them into flows (KernelLines).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { IdentityIndex } from '../inventory/identity.js';
import { kernelFlow, parseKernelLine } from '../learn/kernel-flows.js';
import type { ObservationSink, ObservationSource } from '../learn/source.js';
import type { ObservedFlow } from '../model/index.js';
import type { Logger } from '../util/logger.js';
import { ensureReader, inNetns } from './nft.js';

export interface KernelFlowStats {
  lines: number;
  flows: number;
  spoofed: number;
  /** log messages the kernel could not deliver (counted from sequence gaps) */
  lost: number;
  /** overflows whose size the kernel did not say */
  overflows: number;
  readerRestarts: number;
}

export const emptyKernelFlowStats = (): KernelFlowStats => ({
  lines: 0,
  flows: 0,
  spoofed: 0,
  lost: 0,
  overflows: 0,
  readerRestarts: 0,
});

export interface KernelLinesOptions {
  readonly index: () => IdentityIndex;
  readonly now: () => number;
  /** who saw the flows, for evidence: `kernel:nsg-lab`, `kernel:node/NAME` */
  readonly reporter: string;
  readonly onLost?: (n: number) => void;
  readonly stats?: KernelFlowStats;
}

/** The reader's lines → flows for a sink, in batches (at most 512, or what one turn of the event loop brought). */
export class KernelLines {
  readonly stats: KernelFlowStats;
  private batch: ObservedFlow[] = [];
  private flushScheduled = false;

  constructor(
    private readonly opts: KernelLinesOptions,
    private readonly sink: () => ObservationSink | undefined,
  ) {
    this.stats = opts.stats ?? emptyKernelFlowStats();
  }

  line(l: string): void {
    this.stats.lines++;
    const p = parseKernelLine(l);
    if (p.type === 'lost') {
      if (p.count === undefined) this.stats.overflows++;
      else this.stats.lost += p.count;
      this.opts.onLost?.(p.count ?? 0);
      return;
    }
    if (p.type === 'rejected') {
      this.sink()?.rejected(p.kind, 1, p.detail);
      return;
    }
    if (p.event.kind === 'spoof') {
      this.stats.spoofed++;
      return;
    }
    const r = kernelFlow(p.event, this.opts.index(), this.opts.now(), this.opts.reporter);
    if (!r.ok) {
      if (r.kind !== undefined) this.sink()?.rejected(r.kind, 1, r.detail);
      return;
    }
    this.stats.flows++;
    this.batch.push(r.flow);
    if (this.batch.length >= 512) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.batch.length === 0) return;
    const b = this.batch;
    this.batch = [];
    this.sink()?.observe(b);
  }
}

export interface NflogReaderOptions {
  readonly netns?: string;
  readonly group: number;
  readonly logger: Logger;
  /** each line the reader prints */
  readonly line: (l: string) => void;
  /** the reader exited on its own and is restarted in 1 s */
  readonly restarted?: () => void;
}

/** The NFLOG reader process: started, restarted when it exits, stopped. */
export class NflogReader {
  private child?: ChildProcess;
  private stopped = true;
  private restart?: NodeJS.Timeout;

  constructor(private readonly opts: NflogReaderOptions) {}

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    const binary = await ensureReader();
    this.spawn(binary);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restart) clearTimeout(this.restart);
    const c = this.child;
    this.child = undefined;
    if (c && c.exitCode === null) {
      await new Promise<void>((resolve) => {
        c.once('close', () => resolve());
        c.kill('SIGTERM');
      });
    }
  }

  private spawn(binary: string): void {
    const argv = inNetns(this.opts.netns, [binary, String(this.opts.group)]);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-500)));
    child.on('error', (e) => (err += e.message));
    createInterface({ input: child.stdout! }).on('line', (l) => this.opts.line(l));
    child.on('close', (code) => {
      if (this.child !== child || this.stopped) return;
      this.opts.restarted?.();
      this.opts.logger.warn(
        { code, stderr: err.trim(), netns: this.opts.netns },
        'kernel flow reader exited; restarting in 1 s',
      );
      this.restart = setTimeout(() => this.spawn(binary), 1000);
      this.restart.unref();
    });
  }
}

export interface KernelFlowSourceOptions {
  readonly netns?: string;
  readonly group: number;
  readonly index: () => IdentityIndex;
  readonly now: () => number;
  readonly logger: Logger;
  readonly onLost?: (n: number) => void;
}

export class KernelFlowSource implements ObservationSource {
  readonly name = 'kernel';
  readonly stats: KernelFlowStats;
  private sink?: ObservationSink;
  private readonly lines: KernelLines;
  private readonly reader: NflogReader;

  constructor(opts: KernelFlowSourceOptions) {
    this.lines = new KernelLines(
      {
        index: opts.index,
        now: opts.now,
        reporter: `kernel:${opts.netns ?? 'host'}`,
        ...(opts.onLost && { onLost: opts.onLost }),
      },
      () => this.sink,
    );
    this.stats = this.lines.stats;
    this.reader = new NflogReader({
      ...(opts.netns !== undefined && { netns: opts.netns }),
      group: opts.group,
      logger: opts.logger,
      line: (l) => this.lines.line(l),
      restarted: () => this.stats.readerRestarts++,
    });
  }

  async start(sink: ObservationSink): Promise<void> {
    this.sink = sink;
    await this.reader.start();
  }

  async stop(): Promise<void> {
    await this.reader.stop();
    this.lines.flush();
  }
}
