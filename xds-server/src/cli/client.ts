// A small client for the control plane's unix-socket API.
import { request } from 'node:http';
import { hostname, userInfo } from 'node:os';

export const DEFAULT_API_SOCKET = '/run/nanoseg/api.sock';

export function apiSocket(flag: string | undefined): string {
  return flag ?? process.env.NANOSEG_API ?? DEFAULT_API_SOCKET;
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Who is making changes, for the audit trail: $NANOSEG_ACTOR, else user@host. */
export function actor(): string {
  if (process.env.NANOSEG_ACTOR) return process.env.NANOSEG_ACTOR;
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return `${user}@${hostname()}`;
}

/**
 * Every call opens its own connection (`agent: false`). Node's global agent keeps sockets alive, and a request
 * written on a kept socket just as the server's keep-alive timeout closes it fails with EPIPE or ECONNRESET; on a
 * unix socket a fresh connection costs next to nothing and cannot race that way.
 */
export class ApiClient {
  constructor(readonly socketPath: string) {}

  /** GET a streaming NDJSON endpoint; calls onLine for each object until the server or the caller ends it. */
  stream(path: string, onLine: (value: unknown) => void, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          agent: false,
          method: 'GET',
          path,
          headers: { 'x-nanoseg-actor': actor() },
          signal,
        },
        (res) => {
          if ((res.statusCode ?? 500) >= 400) {
            res.resume();
            reject(new CliError(`HTTP ${res.statusCode} from ${path}`));
            return;
          }
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            buf += c;
            let i;
            while ((i = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, i);
              buf = buf.slice(i + 1);
              if (line.trim()) onLine(JSON.parse(line));
            }
          });
          res.on('end', () => resolve());
          res.on('error', reject);
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e.name === 'AbortError') resolve();
        else if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED')
          reject(
            new CliError(
              `cannot reach the control plane at ${this.socketPath} (${e.code}): is \`nanoseg serve\` running? (--api-socket or NANOSEG_API)`,
            ),
          );
        else reject(e);
      });
      req.end();
    });
  }

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          agent: false,
          method,
          path,
          headers: {
            'x-nanoseg-actor': actor(),
            ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = text;
            }
            if ((res.statusCode ?? 500) >= 400) {
              const msg = (parsed as { error?: string } | undefined)?.error ?? `HTTP ${res.statusCode}`;
              reject(new CliError(msg));
            } else resolve(parsed as T);
          });
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
          reject(
            new CliError(
              `cannot reach the control plane at ${this.socketPath} (${e.code}): is \`nanoseg serve\` running? (--api-socket or NANOSEG_API)`,
            ),
          );
        } else if (e.code === 'EACCES') {
          reject(
            new CliError(
              `${this.socketPath}: permission denied (the API socket is 0600: run as the user that runs \`nanoseg serve\`)`,
            ),
          );
        } else reject(e);
      });
      if (payload) req.write(payload);
      req.end();
    });
  }
}
