// The tracing seam: the control plane's own spans (ADS pushes, ingest batches, convergence transitions, API requests)
// go through this interface. NOOP_TRACER, the default everywhere, does nothing and allocates nothing; the OTLP adapter
// (serve/otel-export.ts) implements it with opentelemetry-js and is loaded by a dynamic import only when
// `serve --otlp-endpoint` is set. Nothing else imports @opentelemetry (eslint.config.mjs), so the core stays pure and
// a control plane without the flag never even loads the SDK.

export type AttributeValue = string | number | boolean;
export type Attributes = Readonly<Record<string, AttributeValue>>;
/** `server` for work a client asked for (an API request), `internal` for the rest */
export type SpanKind = 'internal' | 'server';

export interface Span {
  /** false for the no-op span: callers skip building attributes that would only be thrown away */
  readonly recording: boolean;
  setAttributes(attributes: Attributes): void;
  addEvent(name: string, attributes?: Attributes): void;
  /** marks the span failed (status error, with the message) */
  fail(message: string): void;
  /** idempotent */
  end(): void;
}

export interface SpanOptions {
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  /** the parent; default: the active span (`Tracer.with`), else the span starts a trace of its own */
  readonly parent?: Span;
  /** start a trace of its own even when a span is active (work that merges many causes links them instead) */
  readonly root?: boolean;
  /** spans this one follows from without being their child (a push and the changes it merged) */
  readonly links?: readonly Span[];
}

export interface Tracer {
  /** false for the no-op tracer */
  readonly enabled: boolean;
  start(name: string, options?: SpanOptions): Span;
  /**
   * Runs fn with `span` as the active span while fn runs synchronously (not across its awaits: no async context is
   * kept, which would cost every promise in the process); returns what fn returns.
   */
  with<T>(span: Span, fn: () => T): T;
  /** The active span, if any. */
  active(): Span | undefined;
}

export const NOOP_SPAN: Span = Object.freeze({
  recording: false,
  setAttributes(): void {},
  addEvent(): void {},
  fail(): void {},
  end(): void {},
});

export const NOOP_TRACER: Tracer = Object.freeze({
  enabled: false,
  start: (): Span => NOOP_SPAN,
  with: <T>(_span: Span, fn: () => T): T => fn(),
  active: (): Span | undefined => undefined,
});

/** At most this many links on a span (a push that merged many changes links the first ones). */
export const MAX_LINKS = 16;

/** `a` and `b` combined without repeats, at most MAX_LINKS; undefined when there is none. */
export function mergeLinks(
  a: readonly Span[] | undefined,
  b: readonly Span[] | undefined,
): readonly Span[] | undefined {
  if (!b?.length) return a;
  if (!a?.length) return b.slice(0, MAX_LINKS);
  if (a.length >= MAX_LINKS) return a;
  const out = [...a];
  for (const s of b) if (out.length < MAX_LINKS && !out.includes(s)) out.push(s);
  return out;
}

/** A string attribute cut to `max` characters (reasons and error messages can be long). */
export function clip(s: string, max = 256): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
