// One ADS push as a bounded set of spans, whatever the number of streams. Per push:
//
//   xds.push      from the debounced push to the last answer (ACK, NACK, stream gone) or ANSWER_TIMEOUT_MS; counts of
//                 streams, responses, bytes, ACKs, NACKs and unanswered responses; one event per NACK (at most
//                 MAX_EVENTS, the rest counted); links to the changes it merged (API requests, ingest batches,
//                 convergence transitions)
//   ├ xds.generate   the regeneration of every stale group: how many, the slowest, rejected/failed ones as events
//   └ xds.send       the first response written to the last (sliced writes), streams and bytes
//
// A span per stream would be 2,000 spans (×5 types) per push at 2,000 streams: more than the push itself costs to
// read, and past any exporter's queue. Three spans and a few events say when it went out, how long it took to reach
// everyone, and who refused it.
import type { Scheduler } from '../util/scheduler.js';
import { clip, type Span, type Tracer } from '../util/tracing.js';
import type { NodeInfo } from './ads-types.js';
import type { Nack } from './decide.js';
import type { PushRequest } from './push.js';
import { typeName, type TypeUrl } from './types.js';

/** What the ADS server tells a traced push about the responses it caused. */
export interface PushTracking {
  /** a response to a stream was queued (a parked watch fired) */
  queued(): void;
  /** a queued response was written (its bytes), or there was nothing new to send (undefined) */
  written(streamId: number, bytes: number | undefined): void;
  /** the stream answered a written response */
  answered(node: NodeInfo, t: TypeUrl, nack?: Nack): void;
  /** a written response will never be answered: its stream closed, or a newer response replaced it */
  lost(): void;
}

/** Per stream: the last traced response of each type, until the stream answers it. */
export interface TrackedStream {
  readonly id: number;
  readonly nonce: number;
  /** bytes of the last response written */
  readonly lastBytes: number;
  traced?: Map<TypeUrl, { readonly nonce: string; readonly push: PushTracking }>;
}

/** After a queued response ran: was a response written (the nonce moved)? */
export function trackSend(c: TrackedStream, t: TypeUrl, push: PushTracking, nonceBefore: number): void {
  if (c.nonce === nonceBefore) return push.written(c.id, undefined);
  const traced = (c.traced ??= new Map());
  traced.get(t)?.push.lost();
  traced.set(t, { nonce: String(c.nonce), push });
  push.written(c.id, c.lastBytes);
}

/** A request answered the traced response when it ACKs or NACKs its nonce. */
export function trackAnswer(
  c: TrackedStream,
  node: NodeInfo,
  t: TypeUrl,
  nonce: string,
  d: { readonly acked?: string; readonly nacked?: Nack },
): void {
  const tr = c.traced?.get(t);
  if (!tr || tr.nonce !== nonce || (d.acked === undefined && !d.nacked)) return;
  c.traced!.delete(t);
  tr.push.answered(node, t, d.nacked);
}

export function trackClose(c: TrackedStream): void {
  if (!c.traced) return;
  for (const x of c.traced.values()) x.push.lost();
  c.traced.clear();
}

export const MAX_EVENTS = 16;
/** a push's span ends at the latest this long after its generation, answered or not */
export const ANSWER_TIMEOUT_MS = 30_000;

export class PushTrace implements PushTracking {
  private readonly span: Span;
  private readonly generation: Span;
  private send?: Span;
  private sendEnded = false;
  private readonly startedAt: number;
  private generating = true;
  private waiting = 0;
  private responses = 0;
  private bytes = 0;
  private readonly streams = new Set<number>();
  private acks = 0;
  private nacks = 0;
  private lostCount = 0;
  private events = 0;
  private lastAnswerMs = 0;
  private groups = 0;
  private problems = 0;
  private slowest?: { readonly group: string; readonly ms: number };
  private timer: unknown;
  private finished = false;

  constructor(
    private readonly tracer: Tracer,
    req: PushRequest,
    nodes: number,
    private readonly sched: Scheduler,
    private readonly onFinished: (p: PushTrace) => void,
  ) {
    this.startedAt = sched.now();
    this.span = tracer.start('xds.push', {
      root: true,
      ...(req.links && { links: req.links }),
      attributes: {
        'nanoseg.xds.full': req.full,
        'nanoseg.xds.reasons': clip(req.reasons.join('; ')),
        'nanoseg.xds.reason_count': req.reasons.length,
        'nanoseg.xds.nodes': nodes,
      },
    });
    this.generation = tracer.start('xds.generate', { parent: this.span });
  }

  /** One group regenerated in `ms`; `problem`: it failed or its snapshot was refused (the last good one stays). */
  generated(group: string, ms: number, problem?: string): void {
    this.groups++;
    if (!this.slowest || ms > this.slowest.ms) this.slowest = { group, ms };
    if (problem === undefined) return;
    this.problems++;
    this.event(this.generation, 'xds.generate.refused', { 'nanoseg.xds.group': group, message: clip(problem) });
  }

  /** Generation is over (all groups, or the push stopped): from now on the push ends when every response is answered. */
  generationDone(): void {
    if (!this.generating) return;
    this.generating = false;
    this.generation.setAttributes({
      'nanoseg.xds.groups': this.groups,
      'nanoseg.xds.refused': this.problems,
      ...(this.slowest && {
        'nanoseg.xds.slowest_group': this.slowest.group,
        'nanoseg.xds.slowest_ms': round(this.slowest.ms),
      }),
    });
    this.generation.end();
    this.timer = this.sched.schedule(() => this.finish(), ANSWER_TIMEOUT_MS);
    this.check();
  }

  queued(): void {
    this.waiting++;
  }

  written(streamId: number, bytes: number | undefined): void {
    this.waiting--;
    if (bytes !== undefined) {
      this.send ??= this.tracer.start('xds.send', { parent: this.span });
      this.responses++;
      this.bytes += bytes;
      this.streams.add(streamId);
    }
    this.check();
  }

  answered(node: NodeInfo, t: TypeUrl, nack?: Nack): void {
    this.lastAnswerMs = this.sched.now() - this.startedAt;
    if (!nack) this.acks++;
    else {
      this.nacks++;
      this.event(this.span, 'xds.nack', {
        'nanoseg.xds.node': node.id,
        'nanoseg.xds.type': typeName(t),
        'nanoseg.xds.version': nack.version,
        message: clip(nack.message),
      });
    }
    this.check();
  }

  lost(): void {
    this.lostCount++;
    this.check();
  }

  /** Ends every span now (the server stops, or the answers took too long). Idempotent. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer !== undefined) this.sched.cancel(this.timer);
    if (this.generating) this.generation.end();
    this.endSend();
    const answered = this.acks + this.nacks;
    this.span.setAttributes({
      'nanoseg.xds.streams': this.streams.size,
      'nanoseg.xds.responses': this.responses,
      'nanoseg.xds.bytes': this.bytes,
      'nanoseg.xds.acks': this.acks,
      'nanoseg.xds.nacks': this.nacks,
      'nanoseg.xds.unanswered': this.responses - answered,
      ...(answered > 0 && { 'nanoseg.xds.last_answer_ms': this.lastAnswerMs }),
      ...(this.events > MAX_EVENTS && { 'nanoseg.xds.events_dropped': this.events - MAX_EVENTS }),
    });
    if (this.nacks > 0) this.span.fail(`${this.nacks} response(s) rejected (NACK)`);
    this.span.end();
    this.onFinished(this);
  }

  private check(): void {
    if (this.generating || this.finished || this.waiting > 0) return;
    this.endSend();
    if (this.acks + this.nacks + this.lostCount >= this.responses) this.finish();
  }

  private endSend(): void {
    if (!this.send || this.sendEnded) return;
    this.sendEnded = true;
    this.send.setAttributes({
      'nanoseg.xds.streams': this.streams.size,
      'nanoseg.xds.responses': this.responses,
      'nanoseg.xds.bytes': this.bytes,
    });
    this.send.end();
  }

  private event(span: Span, name: string, attributes: Readonly<Record<string, string>>): void {
    if (++this.events <= MAX_EVENTS) span.addEvent(name, attributes);
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100;
