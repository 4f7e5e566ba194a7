// A fake of our own tracing seam (util/tracing.ts) that keeps every span in memory: names, attributes, events,
// parents and links, for tests of what the control plane traces without an SDK or a collector.
import type { Attributes, Span, SpanOptions, Tracer } from '../../xds-server/src/util/tracing.js';

export class RecordedSpan implements Span {
  readonly recording = true;
  readonly attributes: Record<string, string | number | boolean> = {};
  readonly events: { name: string; attributes: Attributes }[] = [];
  error?: string;
  ended = 0;
  constructor(
    readonly name: string,
    readonly kind: string,
    readonly parent: RecordedSpan | undefined,
    readonly links: readonly RecordedSpan[],
  ) {}
  setAttributes(a: Attributes): void {
    Object.assign(this.attributes, a);
  }
  addEvent(name: string, attributes: Attributes = {}): void {
    this.events.push({ name, attributes });
  }
  fail(message: string): void {
    this.error = message;
  }
  end(): void {
    this.ended++;
  }
}

export class RecordingTracer implements Tracer {
  readonly enabled = true;
  readonly spans: RecordedSpan[] = [];
  private current: RecordedSpan | undefined;

  start(name: string, o: SpanOptions = {}): Span {
    const parent = (o.parent ?? (o.root ? undefined : this.current)) as RecordedSpan | undefined;
    const s = new RecordedSpan(name, o.kind ?? 'internal', parent, (o.links ?? []) as RecordedSpan[]);
    if (o.attributes) s.setAttributes(o.attributes);
    this.spans.push(s);
    return s;
  }
  /** like the OTLP adapter: active while fn runs synchronously */
  with<T>(span: Span, fn: () => T): T {
    const outer = this.current;
    this.current = span as RecordedSpan;
    try {
      return fn();
    } finally {
      this.current = outer;
    }
  }
  active(): Span | undefined {
    return this.current;
  }
  named(name: string): RecordedSpan[] {
    return this.spans.filter((s) => s.name === name);
  }
}
