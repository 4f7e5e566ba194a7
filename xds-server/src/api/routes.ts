// The API's routes: parse the request at the edge, call the backend (controllers and views), turn domain outcomes
// into HTTP statuses (http.ts unwrap). Nothing here decides anything.
import type { IncomingMessage } from 'node:http';
import { validateInventory } from '../inventory/validate.js';
import type { Outcome } from '../model/errors.js';
import type { Alert, AuditEvent, Inventory } from '../model/index.js';
import { parsePolicyFile, type ParsedPolicy, type PolicyDocument } from '../policy/index.js';
import type { ModeChange } from '../controllers/policy.js';
import { ApiError, unwrap, type HttpApi } from './http.js';
import type { ServiceView, StatusView } from './views.js';
import type { TraceQuery, TraceSpanView, TraceSummary } from '../traces/index.js';

/** `GET /v1/traces/:id`: the summary, the hops, and each hop's span kind (for the tree's arrows). */
export interface TraceView {
  readonly trace: TraceSummary;
  readonly spans: readonly TraceSpanView[];
  readonly kinds: Readonly<Record<string, string>>;
}

/** What the routes need from the control plane. */
export interface ApiBackend {
  info(): Record<string, unknown>;
  status(): StatusView;
  services(): ServiceView[];
  policy(service: string): Outcome<PolicyDocument>;
  applyPolicy(p: ParsedPolicy, actor: string): Outcome<{ service: string; changed: boolean }>;
  setMode(service: string, mode: string, actor: string, l7?: boolean): Outcome<ModeChange>;
  setAllModes(mode: string, actor: string): Outcome<ModeChange[]>;
  alerts(sinceMs: number): Alert[];
  subscribeAlerts(fn: (a: Alert) => void): () => void;
  audit(sinceMs: number): AuditEvent[];
  release(nodes: 'all' | readonly string[], actor: string): Outcome<string[]>;
  inventory(): Inventory;
  putInventory(source: string, inv: Inventory): void;
  deleteInventory(source: string): void;
  traces(q: TraceQuery): TraceSummary[];
  trace(id: string): Outcome<TraceView>;
}

export function routes(api: HttpApi, b: ApiBackend): HttpApi {
  return api
    .route('GET', '/v1/health', () => ({ ok: true }))
    .route('GET', '/v1/info', () => b.info())
    .route('GET', '/v1/status', () => b.status())
    .route('GET', '/v1/services', () => b.services())
    .route('GET', '/v1/services/:ns/:name/policy', ({ params }) => unwrap(b.policy(`${params.ns}/${params.name}`)))
    .route('PUT', '/v1/services/:ns/:name/policy', ({ params, body, raw }) => {
      const v = parsePolicyBody(body);
      if (v.service !== `${params.ns}/${params.name}`) {
        throw new ApiError(400, `service: the document is for ${v.service}, not ${params.ns}/${params.name}`);
      }
      return unwrap(b.applyPolicy(v, actorOf(raw)));
    })
    .route('PUT', '/v1/services/:ns/:name/mode', ({ params, body, raw }) =>
      unwrap(b.setMode(`${params.ns}/${params.name}`, modeOfBody(body), actorOf(raw), l7OfBody(body))),
    )
    .route('PUT', '/v1/modes', ({ body, raw }) => unwrap(b.setAllModes(modeOfBody(body), actorOf(raw))))
    .route('GET', '/v1/alerts', ({ query, res }) => {
      const since = sinceOf(query);
      if (query.get('follow') !== '1') return b.alerts(since);
      // NDJSON stream: what is there, then every new alert, until the client goes away
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      for (const a of b.alerts(since)) res.write(JSON.stringify(a) + '\n');
      const off = b.subscribeAlerts((a) => res.write(JSON.stringify(a) + '\n'));
      res.on('close', off);
      return undefined;
    })
    .route('GET', '/v1/audit', ({ query }) => b.audit(sinceOf(query)))
    .route('GET', '/v1/traces', ({ query }) => b.traces(traceQuery(query)))
    .route('GET', '/v1/traces/:id', ({ params }) => unwrap(b.trace(params.id!)))
    .route('POST', '/v1/release', ({ body, raw }) => {
      const n = (body as { nodes?: unknown } | undefined)?.nodes;
      const nodes = n === 'all' ? 'all' : Array.isArray(n) && n.every((x) => typeof x === 'string') ? n : undefined;
      if (!nodes) throw new ApiError(400, 'nodes: expected "all" or a list of node ids');
      return { released: unwrap(b.release(nodes, actorOf(raw))) };
    })
    .route('GET', '/v1/inventory', () => b.inventory())
    .route('PUT', '/v1/inventory/:source', ({ params, body }) => {
      const v = validateInventory(body);
      if (!v.valid) {
        const what = v.errors.map((e) => `${e.path}: ${e.message}`).join('; ');
        throw new ApiError(400, `inventory ${params.source}: ${what}`, v.errors);
      }
      b.putInventory(params.source!, v.result);
      return { ok: true, workloads: v.result.workloads.length };
    })
    .route('DELETE', '/v1/inventory/:source', ({ params }) => {
      b.deleteInventory(params.source!);
      return { ok: true };
    });
}

function actorOf(req: IncomingMessage): string {
  const a = req.headers['x-nanoseg-actor'];
  return (typeof a === 'string' && a.trim() ? a.trim() : 'unknown').slice(0, 200);
}

function traceQuery(query: URLSearchParams): TraceQuery {
  const service = query.get('service') ?? undefined;
  const slower = query.get('slowerThanMs');
  const limit = query.get('limit');
  const slowerThanMs = slower === null ? undefined : Number(slower);
  if (slowerThanMs !== undefined && !(slowerThanMs >= 0)) throw new ApiError(400, 'slowerThanMs: expected ms ≥ 0');
  const n = limit === null ? undefined : Number(limit);
  if (n !== undefined && !(Number.isInteger(n) && n > 0 && n <= 10_000))
    throw new ApiError(400, 'limit: expected an integer 1-10000');
  return {
    ...(service !== undefined && { service }),
    ...(query.get('errors') === '1' && { errors: true }),
    ...(slowerThanMs !== undefined && { slowerThanMs }),
    ...(n !== undefined && { limit: n }),
  };
}

function sinceOf(query: URLSearchParams): number {
  const since = Number(query.get('since') ?? 0);
  if (!Number.isFinite(since)) throw new ApiError(400, 'since: expected ms since epoch');
  return since;
}

/** `l7` in a mode body: true/false, or absent (unchanged). */
function l7OfBody(body: unknown): boolean | undefined {
  const v = (body as { l7?: unknown } | undefined)?.l7;
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new ApiError(400, `l7: expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

function modeOfBody(body: unknown): string {
  const m = (body as { mode?: unknown } | undefined)?.mode;
  if (typeof m !== 'string') throw new ApiError(400, `mode: expected a string, got ${JSON.stringify(m)}`);
  return m;
}

/** The API takes the policy file's text (the CLI sends it as is) so the server validates with the same parser. */
function parsePolicyBody(body: unknown): ParsedPolicy {
  const b = body as { text?: unknown; file?: unknown } | undefined;
  if (typeof b?.text !== 'string') throw new ApiError(400, 'expected {"text": "<policy file>", "file": "<name>"}');
  const r = parsePolicyFile(b.text, typeof b.file === 'string' ? b.file : 'policy');
  if (!r.valid) throw new ApiError(400, r.errors.map((e) => e.message).join('\n'), r.errors);
  return r.result;
}
