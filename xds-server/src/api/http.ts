// The JSON HTTP API on a unix socket (mode 0600). Routes are plain handlers; errors become JSON with a status. This
// is the edge where domain outcomes (model/errors.ts) become HTTP statuses: domain code never sees HTTP.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, mkdirSync, unlinkSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DomainErrorKind, Outcome } from '../model/errors.js';
import type { Logger } from '../util/logger.js';
import { closeServer, socketAnswers } from '../util/net.js';
import { NOOP_TRACER, type Span, type Tracer } from '../util/tracing.js';

/** An HTTP error raised at the edge (a body that is not JSON, an unknown path) or mapped from a domain error. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

const STATUS: Readonly<Record<DomainErrorKind, number>> = { invalid: 400, 'not-found': 404, conflict: 409 };

/** The value of a domain outcome, or the ApiError its error kind maps to. */
export function unwrap<T>(o: Outcome<T>): T {
  if (o.ok) return o.value;
  throw new ApiError(STATUS[o.error.kind], o.error.message, o.error.details);
}

export type Handler = (req: {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  raw: IncomingMessage;
  res: ServerResponse;
}) => Promise<unknown> | unknown;

interface Route {
  method: string;
  /** as registered (`/v1/services/:ns/:name/policy`): the span's `http.route` */
  path: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

const MAX_BODY = 8 * 1024 * 1024;

export class HttpApi {
  private readonly routes: Route[] = [];
  private server?: Server;

  constructor(
    private readonly log: Logger,
    private readonly tracer: Tracer = NOOP_TRACER,
  ) {}

  /** path like /v1/services/:ns/:name/policy */
  route(method: string, path: string, handler: Handler): this {
    const keys: string[] = [];
    const pattern = new RegExp(
      '^' +
        path.replace(/:(\w+)/g, (_, k: string) => {
          keys.push(k);
          return '([^/]+)';
        }) +
        '$',
    );
    this.routes.push({ method, path, pattern, keys, handler });
    return this;
  }

  /** Listens on a unix socket (0600). Refuses to take over a socket another live server answers on. */
  async listen(socketPath: string): Promise<void> {
    if (this.server) return;
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
    if (existsSync(socketPath)) {
      if (await socketAnswers(socketPath))
        throw new Error(`${socketPath}: another nanoseg control plane is already serving here`);
      unlinkSync(socketPath);
    }
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(socketPath, 0o600);
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await closeServer(s);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return this.serve(req, res, this.tracer.enabled ? this.requestSpan(req, res) : undefined);
  }

  /**
   * A request's span, `METHOD ROUTE` (the route as registered, never the path with its names), ended when the
   * response is done: a streaming response (`alerts --follow`) is one span for as long as it streams.
   */
  private requestSpan(req: IncomingMessage, res: ServerResponse): Span {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://nanoseg').pathname;
    const route = this.routes.find((r) => r.method === method && r.pattern.test(path))?.path;
    const span = this.tracer.start(route ? `${method} ${route}` : method, {
      kind: 'server',
      attributes: { 'http.request.method': method, ...(route && { 'http.route': route }) },
    });
    res.once('close', () => {
      span.setAttributes({ 'http.response.status_code': res.statusCode });
      if (res.statusCode >= 500) span.fail(`HTTP ${res.statusCode}`);
      span.end();
    });
    return span;
  }

  private async serve(req: IncomingMessage, res: ServerResponse, span?: Span): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://nanoseg');
    try {
      const match = this.match(req.method ?? 'GET', url.pathname);
      const body = await readJson(req);
      const call = () => match.route.handler({ params: match.params, query: url.searchParams, body, raw: req, res });
      // the request's span is active while the handler runs synchronously: the changes it makes link to it
      const result = await (span ? this.tracer.with(span, call) : call());
      if (res.headersSent) return; // streaming handler wrote its own response
      send(res, 200, result ?? { ok: true });
    } catch (e) {
      if (e instanceof ApiError) {
        send(res, e.status, { error: e.message, details: e.details });
      } else {
        this.log.error({ err: e, path: url.pathname }, 'API handler failed');
        if (!res.headersSent) send(res, 500, { error: 'internal error: ' + (e as Error).message });
      }
    }
  }

  private match(method: string, path: string): { route: Route; params: Record<string, string> } {
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== method) continue;
      const params: Record<string, string> = {};
      r.keys.forEach((k, i) => {
        params[k] = decodeURIComponent(m[i + 1]!);
      });
      return { route: r, params };
    }
    throw new ApiError(
      pathMatched ? 405 : 404,
      pathMatched ? `${method} not allowed on ${path}` : `no such API path: ${path}`,
    );
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  if (req.method === 'GET' || req.method === 'HEAD') return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, `request body over ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new ApiError(400, `request body is not JSON: ${(e as Error).message}`);
  }
}
