// The control plane's admission webhooks over HTTPS: POST /inject (the sidecar injector, answered by admission.ts)
// and POST /validate (NanoSegments, answered by the `validate` the control plane passes). Thin on purpose:
// it reads the body (bounded), looks the namespace up, and never lets a bad request take it down — every failure
// is an HTTP error or a refusal with a message, logged. Its certificate can be swapped while it runs (rotation).
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Namespace, ObjectMeta, OwnedObject } from '../xds-server/src/inventory/kubernetes/types.js';
import { controllerOf, type OwnerLookup } from '../xds-server/src/inventory/kubernetes/owner.js';
import { isObject } from '../xds-server/src/util/is-object.js';
import { SILENT, type Logger } from '../xds-server/src/util/logger.js';
import { admit, parseReview, reviewOf, type AdmissionRequest, type AdmissionResponse } from './admission.js';
import { INJECT_ENABLED, INJECT_LABEL } from './annotations.js';
import type { InjectorConfig } from './config.js';

export const INJECT_PATH = '/inject';
export const VALIDATE_PATH = '/validate';
/** The apiserver sends one pod; 3 MiB is etcd's object limit and then some. */
const MAX_BODY = 3 * 1024 * 1024;

export interface WebhookOptions {
  readonly config: InjectorConfig;
  readonly tls: { readonly certPem: string; readonly keyPem: string };
  /**
   * The namespace of a pod under admission. By default the namespaceSelector of the MutatingWebhookConfiguration is
   * trusted (only labelled namespaces are sent); the control plane passes its informer's view.
   */
  readonly namespaceOf?: (name: string) => Namespace | undefined | Promise<Namespace | undefined>;
  /**
   * A pod's owning ReplicaSet or Job (kind, namespace, name), so that its workload is read rather than inferred from
   * names; the control plane passes its informer's view (and the apiserver for a Job not seen yet).
   */
  readonly ownerOf?: (
    kind: 'ReplicaSet' | 'Job',
    namespace: string,
    name: string,
  ) => OwnedObject | undefined | Promise<OwnedObject | undefined>;
  /** the NanoSegment validating webhook (POST /validate); without it that path is not served */
  readonly validate?: (req: AdmissionRequest) => AdmissionResponse;
  readonly logger?: Logger;
}

export interface WebhookStats {
  readonly reviews: number;
  readonly injected: number;
  readonly refused: number;
  readonly malformed: number;
}

export class WebhookServer {
  private server: Server | undefined;
  private readonly log: Logger;
  private counts = { reviews: 0, injected: 0, refused: 0, malformed: 0 };

  private config: InjectorConfig;

  constructor(private readonly opts: WebhookOptions) {
    this.log = opts.logger ?? SILENT;
    this.config = opts.config;
  }

  /** What later admissions inject (the CA bundle handed to sidecars changes when the CA is renewed). */
  setConfig(config: InjectorConfig): void {
    this.config = config;
  }

  get stats(): WebhookStats {
    return { ...this.counts };
  }

  /** Listens; idempotent. Resolves with the bound port. */
  async start(port: number, host = '0.0.0.0'): Promise<number> {
    if (this.server) return (this.server.address() as AddressInfo).port;
    const server = createServer({ cert: this.opts.tls.certPem, key: this.opts.tls.keyPem }, (req, res) =>
      this.handle(req, res),
    );
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    server.on('tlsClientError', (err) => this.log.debug({ err: String(err) }, 'webhook TLS handshake failed'));
    server.on('clientError', (err, socket) => {
      this.log.debug({ err: String(err) }, 'webhook client error');
      socket.destroy();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  /** A new certificate (rotation): new connections get it, open ones keep theirs. */
  setCertificate(tls: { readonly certPem: string; readonly keyPem: string }): void {
    this.server?.setSecureContext({ cert: tls.certPem, key: tls.keyPem });
  }

  /** Idempotent. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.serve(req, res).catch((err: unknown) => {
      this.log.error({ err: String(err) }, 'webhook request failed');
      if (!res.headersSent) this.plain(res, 500, 'internal error');
      else res.destroy();
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const validate = this.opts.validate;
    const paths = validate ? [INJECT_PATH, VALIDATE_PATH] : [INJECT_PATH];
    if (!paths.includes(path)) return this.plain(res, 404, `not found (POST ${paths.join(' or ')})`);
    if (req.method !== 'POST') return this.plain(res, 405, `method ${req.method} not allowed (POST ${path})`);
    const body = await readBody(req, MAX_BODY);
    if (body === undefined) return this.plain(res, 413, `body larger than ${MAX_BODY} bytes`);
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (e) {
      this.counts.malformed++;
      return this.plain(res, 400, `the body is not JSON: ${(e as Error).message}`);
    }
    const parsed = parseReview(json);
    if (!parsed.ok) {
      this.counts.malformed++;
      return this.plain(res, 400, parsed.message);
    }
    this.counts.reviews++;
    const r = parsed.request;
    if (path === VALIDATE_PATH && validate)
      return this.answer(res, validate(r), r, 'change refused (validating webhook)');
    const nsName = r.namespace ?? '';
    const namespace: Namespace | undefined = this.opts.namespaceOf
      ? await this.opts.namespaceOf(nsName)
      : { metadata: { name: nsName, labels: { [INJECT_LABEL]: INJECT_ENABLED } } };
    const response: AdmissionResponse = namespace
      ? admit(r, namespace, this.config, await this.ownerLookup(r, nsName))
      : // not known yet (a namespace created a moment ago): refuse rather than let a pod out unprotected
        {
          uid: r.uid,
          allowed: false,
          status: { code: 503, message: `nanoseg: namespace ${nsName} is not known yet; retry` },
        };
    if (response.patch) this.counts.injected++;
    this.answer(res, response, r, 'pod refused');
  }

  /** The pod's owning ReplicaSet or Job, read through `ownerOf` before the pure admission runs. */
  private async ownerLookup(r: AdmissionRequest, ns: string): Promise<OwnerLookup | undefined> {
    const ownerOf = this.opts.ownerOf;
    const meta = isObject(r.object) && isObject(r.object.metadata) ? r.object.metadata : undefined;
    if (!ownerOf || !meta || !Array.isArray(meta.ownerReferences)) return undefined;
    const owner = controllerOf(meta as ObjectMeta);
    if (!owner || (owner.kind !== 'Job' && owner.kind !== 'ReplicaSet') || typeof owner.name !== 'string') return;
    const kind = owner.kind;
    const found = await ownerOf(kind, ns, owner.name);
    return found && ((k, n, name) => (k === kind && n === ns && name === owner.name ? found : undefined));
  }

  private answer(res: ServerResponse, response: AdmissionResponse, r: AdmissionRequest, refused: string): void {
    if (!response.allowed) {
      this.counts.refused++;
      this.log.info({ uid: r.uid, namespace: r.namespace, message: response.status?.message }, refused);
    }
    const text = JSON.stringify(reviewOf(response));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private plain(res: ServerResponse, code: number, message: string): void {
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`${message}\n`);
  }
}

/** The body, or undefined when it exceeds `max` (the rest is drained). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
