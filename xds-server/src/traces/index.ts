// Public surface of traces/: the bounded recent-traces store and its views. No I/O.
export { TraceStore, MAX_SPANS_PER_TRACE } from './store.js';
export type { StoredSpan, SpanVerdict, TraceSummary, TraceQuery, TraceStoreStats } from './types.js';
export { spanView, traceTree } from './views.js';
export type { TraceSpanView } from './views.js';
