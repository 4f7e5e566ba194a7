// The control plane's gRPC server: ADS and the Access Log Service (later OTLP) on a unix socket (group 1337, so
// sidecars running as uid/gid 1337 reach it) and optionally a plaintext TCP address.
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
      // sidecars run as uid/gid 1337: let that group (and only it, besides root) connect
      chownSync(path, 0, ENVOY_GID);
      chmodSync(path, 0o660);
    }
    if (l.address) this.port = await bind(l.address);
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
