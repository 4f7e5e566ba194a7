// A lean apiserver client for the cluster benchmarks: HTTPS with the test cluster's admin token and CA (read from its
// kubeconfig), keep-alive connections, a bound on requests in flight. kubectl costs a process start per call
// (≈ 0.3 s), far too slow to create 10,000 pods or to fire 50 creations at once; client-node would work but decodes
// every answer into its typed models, which is the load generator's CPU, not the cluster's.
import { Agent, request } from 'node:https';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export interface ApiAnswer {
  readonly status: number;
  readonly body: string;
}

interface KubeconfigFile {
  clusters?: { cluster?: { server?: string; 'certificate-authority'?: string } }[];
  users?: { user?: { token?: string } }[];
}

export class KubeApi {
  private readonly url: URL;
  private readonly ca: Buffer;
  private readonly token: string;
  private readonly agent: Agent;
  private inFlight = 0;
  private readonly queue: (() => void)[] = [];

  /** `maxInFlight` requests at once; more wait their turn. */
  constructor(
    kubeconfig: string,
    private readonly maxInFlight = 32,
  ) {
    const kc = parse(readFileSync(kubeconfig, 'utf8')) as KubeconfigFile;
    const server = kc.clusters?.[0]?.cluster?.server;
    const caFile = kc.clusters?.[0]?.cluster?.['certificate-authority'];
    const token = kc.users?.[0]?.user?.token;
    if (!server || !caFile || !token) throw new Error(`${kubeconfig}: expected a server, a CA file and a token`);
    this.url = new URL(server);
    this.ca = readFileSync(caFile);
    this.token = token;
    this.agent = new Agent({ keepAlive: true, maxSockets: maxInFlight, ca: this.ca });
  }

  async call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<ApiAnswer> {
    if (this.inFlight >= this.maxInFlight) await new Promise<void>((r) => this.queue.push(r));
    this.inFlight++;
    try {
      return await this.once(method, path, body === undefined ? undefined : JSON.stringify(body), contentType);
    } finally {
      this.inFlight--;
      this.queue.shift()?.();
    }
  }

  /** A call that must answer 2xx; returns the parsed body. */
  async ok<T = unknown>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const a = await this.call(method, path, body, contentType);
    if (a.status < 200 || a.status > 299)
      throw new Error(`${method} ${path}: HTTP ${a.status}: ${a.body.slice(0, 300)}`);
    return (a.body ? JSON.parse(a.body) : undefined) as T;
  }

  private once(method: string, path: string, body: string | undefined, contentType: string): Promise<ApiAnswer> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.url.hostname,
          port: this.url.port,
          method,
          path,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            ...(body !== undefined && { 'content-type': contentType, 'content-length': Buffer.byteLength(body) }),
          },
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 60 s`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `f` over `items` with at most `n` calls pending (the client bounds requests in flight on its own too). */
export async function eachLimited<T>(items: readonly T[], n: number, f: (x: T, i: number) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await f(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}
