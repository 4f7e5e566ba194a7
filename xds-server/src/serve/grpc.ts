// The control plane's gRPC server: ADS, the Access Log Service and OTLP on a unix socket (group 1337, so
// sidecars running as uid/gid 1337 reach it) and optionally a plaintext TCP address (the lab); or, as a second server,
// on a TLS address (Kubernetes: 15012) whose serving certificate can be replaced while it serves.
import { chmodSync, chownSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { socketAnswers } from '../util/net.js';

export const ENVOY_GID = 1337;
/** grpc-js's receive limit, raised deliberately: an access-log batch of a busy sidecar can exceed the 4 MiB default */
const MAX_RECEIVE_BYTES = 16 * 1024 * 1024;

export interface GrpcListen {
  /** unix socket path */
  readonly socket?: string;
  /** HOST:PORT (plaintext) */
  readonly address?: string;
  /** HOST:PORT with TLS (then neither socket nor address: one server per kind of listener) */
  readonly tls?: { readonly address: string; readonly certificate: ServingCertificate };
}

/**
 * The serving certificate of a TLS listener, replaceable while it serves (the control plane's rotator renews it).
 * grpc-js re-reads a credentials object's secure context when it changes (the watcher its servers register), but
 * only through a protected method; its certificate-provider credentials, the public way, fail every handshake in
 * 1.14 (checked: the client sees the socket close), so this drives the protected method of plain SSL credentials.
 */
export class ServingCertificate {
  private current: { readonly certPem: string; readonly keyPem: string } | undefined;
  private creds: ServerCredentials | undefined;

  set(tls: { readonly certPem: string; readonly keyPem: string }): void {
    if (this.current?.certPem === tls.certPem) return;
    this.current = { certPem: tls.certPem, keyPem: tls.keyPem };
    const update = (this.creds as unknown as { updateSecureContextOptions?: (o: object) => void } | undefined)
      ?.updateSecureContextOptions;
    update?.call(this.creds, { cert: [Buffer.from(tls.certPem)], key: [Buffer.from(tls.keyPem)] });
  }

  /** Server credentials over the current certificate (set() must have been called). */
  credentials(): ServerCredentials {
    const c = this.current;
    if (!c) throw new Error('ServingCertificate: no certificate yet');
    this.creds ??= ServerCredentials.createSsl(
      null,
      [{ cert_chain: Buffer.from(c.certPem), private_key: Buffer.from(c.keyPem) }],
      false,
    );
    return this.creds;
  }
}

export class GrpcServer {
  private readonly server = new Server({ 'grpc.max_receive_message_length': MAX_RECEIVE_BYTES });
  private started = false;
  /** the bound TCP port (useful with HOST:0) */
  port?: number;

  add(def: ServiceDefinition, impl: UntypedServiceImplementation): this {
    this.server.addService(def, impl);
    return this;
  }

  async listen(l: GrpcListen): Promise<void> {
    if (this.started) return;
    this.started = true;
    const bind = (addr: string) =>
      new Promise<number>((res, rej) =>
        this.server.bindAsync(addr, ServerCredentials.createInsecure(), (e, port) =>
          e ? rej(new Error(`cannot listen on ${addr}: ${e.message}`)) : res(port),
        ),
      );
    if (l.socket) {
      const path = resolve(l.socket);
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      if (existsSync(path)) {
        if (await socketAnswers(path))
          throw new Error(`${path}: another nanoseg control plane is already serving here`);
        unlinkSync(path);
      }
      await bind(`unix:${path}`);
      // sidecars run as uid/gid 1337: let that group (and only it, besides root) connect. Not root (the control
      // plane's image runs as 10001, its sidecars dial the TLS listener): only its own user may.
      if (process.getuid?.() === 0) {
        chownSync(path, 0, ENVOY_GID);
        chmodSync(path, 0o660);
      } else chmodSync(path, 0o600);
    }
    if (l.address) this.port = await bind(l.address);
    if (l.tls) {
      const creds = l.tls.certificate.credentials();
      this.port = await new Promise<number>((res, rej) =>
        this.server.bindAsync(l.tls!.address, creds, (e, port) =>
          e ? rej(new Error(`cannot listen on ${l.tls!.address} (TLS): ${e.message}`)) : res(port),
        ),
      );
    }
  }

  /** Lets in-flight calls finish for a moment (access-log streams never end on their own), then forces. */
  async stop(graceMs = 1000): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await new Promise<void>((r) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        r();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(t);
        r();
      });
    });
  }
}
