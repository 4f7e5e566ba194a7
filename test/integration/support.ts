// A real Envoy for integration tests, alone in a network namespace of its own (`nsgt-…`), so its admin (15000)
// and listener ports never touch the root namespace. It reaches the control plane over a unix socket, which works
// across network namespaces.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findEnvoy } from '../../xds-server/src/util/envoy.js';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ADS_SERVICE, AdsServer, SnapshotCache } from '../../xds-server/src/xds/index.js';
import { SILENT } from '../../xds-server/src/util/logger.js';
import { tempDir, waitFor } from '../support/cli.js';

const exec = promisify(execFile);

/** Why a test that needs root is skipped, or false when it can run. */
export const NEEDS_ROOT: string | false = process.getuid?.() === 0 ? false : 'needs root (network namespaces)';

export interface EnvoyOptions {
  /** Short label, part of the namespace name and the log file name. */
  readonly name: string;
  readonly nodeId: string;
  /** node.cluster: the service, `namespace/name`. */
  readonly cluster: string;
  /** The control plane's ADS unix socket. */
  readonly xdsSocket: string;
  readonly api: 'sotw' | 'delta';
  /** Where the bootstrap and the log go (the caller removes it). */
  readonly dir: string;
  /** Run in this existing namespace (its owner deletes it) instead of a new one of its own. */
  readonly netns?: string;
  /** The admin port (default 15000; two Envoys in one namespace need two). */
  readonly adminPort?: number;
  /** Runtime keys of a static layer (e.g. the tracer's flush interval, as the sidecar bootstrap sets it). */
  readonly runtime?: Readonly<Record<string, unknown>>;
}

let seq = 0;

export class NetnsEnvoy {
  readonly ns: string;
  readonly log: string;
  private readonly bootstrap: string;
  private readonly baseId: number;
  private proc?: ChildProcess;
  private nsCreated = false;

  constructor(readonly opts: EnvoyOptions) {
    seq++;
    this.ns = opts.netns ?? `nsgt-${opts.name}-${process.pid}-${seq}`;
    this.log = join(opts.dir, `envoy-${opts.name}.log`);
    this.bootstrap = join(opts.dir, `envoy-${opts.name}.json`);
    // unique per process and Envoy, so parallel test files never share shared-memory regions
    this.baseId = (process.pid % 100_000) * 10 + (seq % 10);
  }

  /** Creates the namespace, starts Envoy in it and waits until its admin answers. */
  async start(timeoutMs = 15_000): Promise<void> {
    if (this.opts.netns === undefined) {
      await exec('ip', ['netns', 'add', this.ns]);
      this.nsCreated = true;
      await exec('ip', ['-n', this.ns, 'link', 'set', 'lo', 'up']);
    }
    writeFileSync(this.bootstrap, JSON.stringify(bootstrap(this.opts)));
    // `ip netns exec` execs Envoy in place: the child's pid is Envoy's
    const p = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.ns,
        findEnvoy(),
        '-c',
        this.bootstrap,
        '--disable-hot-restart',
        '--concurrency',
        '1',
        '--base-id',
        String(this.baseId),
        '--log-path',
        this.log,
        '-l',
        'info',
      ],
      { stdio: 'ignore' },
    );
    this.proc = p;
    p.on('error', () => {}); // reported through exitCode below
    await waitFor(
      `Envoy ${this.opts.name}'s admin`,
      async () => {
        if (p.exitCode !== null || p.signalCode !== null)
          throw new Error(`Envoy exited (${p.exitCode ?? p.signalCode}):\n${this.logTail()}`);
        return (await this.admin('/server_info')).includes('"state"');
      },
      timeoutMs,
      100,
    );
  }

  /** GET on the admin interface inside the namespace; the body as text. */
  async admin(path: string): Promise<string> {
    const r = await exec(
      'ip',
      [
        'netns',
        'exec',
        this.ns,
        'curl',
        '-sS',
        '--max-time',
        '2',
        `http://127.0.0.1:${this.opts.adminPort ?? 15000}${path}`,
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    return r.stdout;
  }

  async adminJson<T>(path: string): Promise<T> {
    return JSON.parse(await this.admin(path)) as T;
  }

  /** One counter or gauge by exact name (0 when Envoy has not created it). */
  async stat(name: string): Promise<number> {
    const body = await this.adminJson<{ stats: { name: string; value?: number }[] }>(
      `/stats?format=json&filter=${encodeURIComponent(`^${escapeRegExp(name)}$`)}`,
    );
    return body.stats.find((s) => s.name === name)?.value ?? 0;
  }

  /** The dynamic listeners of /config_dump: name → the active one's port, plus Envoy's error for a rejected one. */
  async listeners(): Promise<Map<string, { port?: number; error?: string }>> {
    const dump = await this.adminJson<ConfigDump>('/config_dump?resource=dynamic_listeners');
    const out = new Map<string, { port?: number; error?: string }>();
    for (const l of dump.configs) {
      const port = l.active_state?.listener.address?.socket_address?.port_value;
      out.set(l.name, { ...(port !== undefined && { port }), ...(l.error_state && { error: l.error_state.details }) });
    }
    return out;
  }

  /** /clusters?format=json: cluster name → its hosts as `ip:port`, sorted. */
  async clusters(): Promise<Map<string, string[]>> {
    const body = await this.adminJson<ClustersJson>('/clusters?format=json');
    const out = new Map<string, string[]>();
    for (const c of body.cluster_statuses ?? []) {
      const hosts = (c.host_statuses ?? []).map((h) =>
        h.address.socket_address
          ? `${h.address.socket_address.address}:${h.address.socket_address.port_value}`
          : `pipe:${h.address.pipe?.path}`,
      );
      out.set(c.name, hosts.sort());
    }
    return out;
  }

  logTail(lines = 30): string {
    if (!existsSync(this.log)) return '(no Envoy log)';
    return readFileSync(this.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** Stops Envoy (TERM, KILL after 3 s) and deletes the namespace. Idempotent; safe after a failed start. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    if (this.nsCreated) {
      this.nsCreated = false;
      await exec('ip', ['netns', 'del', this.ns]).catch(() => {});
    }
  }
}

interface ConfigDump {
  configs: {
    name: string;
    active_state?: { version_info?: string; listener: { address?: { socket_address?: { port_value?: number } } } };
    error_state?: { details: string };
  }[];
}

interface ClustersJson {
  cluster_statuses?: {
    name: string;
    host_statuses?: {
      address: { socket_address?: { address: string; port_value: number }; pipe?: { path: string } };
    }[];
  }[];
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Node identity and the way to the control plane; everything else arrives over ADS. */
function bootstrap(o: EnvoyOptions): object {
  const ads = { ads: {}, resource_api_version: 'V3' };
  return {
    node: { id: o.nodeId, cluster: o.cluster },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: o.adminPort ?? 15000 } } },
    ...(o.runtime && { layered_runtime: { layers: [{ name: 'test', static_layer: o.runtime }] } }),
    dynamic_resources: {
      ads_config: {
        api_type: o.api === 'delta' ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }],
      },
      lds_config: ads,
      cds_config: ads,
    },
    static_resources: {
      clusters: [
        {
          name: 'xds_cluster',
          type: 'STATIC',
          connect_timeout: '1s',
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          load_assignment: {
            cluster_name: 'xds_cluster',
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: o.xdsSocket } } } }] }],
          },
        },
      ],
    },
  };
}

/** An in-process ADS server on a unix socket and one real Envoy in a namespace of its own, fed from `cache`. */
export interface AdsWithEnvoy {
  readonly cache: SnapshotCache;
  /** `TYPE VERSION` per ACK, in order */
  readonly acks: string[];
  /** `TYPE VERSION: message` per NACK */
  readonly nacks: string[];
  readonly envoy: NetnsEnvoy;
  readonly dir: string;
}

/** Starts both; `t.after` stops Envoy, the server and removes the folder, also when the test fails. */
export async function startAdsWithEnvoy(
  t: { after(fn: () => Promise<void>): void },
  o: { readonly prefix: string; readonly name: string; readonly nodeId: string; readonly cluster: string },
): Promise<AdsWithEnvoy> {
  const tmp = tempDir(o.prefix);
  const cache = new SnapshotCache();
  const acks: string[] = [];
  const nacks: string[] = [];
  const server = new AdsServer(cache, {
    logger: SILENT,
    onAck: (_n, type, version) => void acks.push(`${type} ${version}`),
    onNack: (_n, type, version, msg) => void nacks.push(`${type} ${version}: ${msg}`),
  });
  const grpc = new Server();
  grpc.addService(ADS_SERVICE, server.handlers());
  const socket = join(tmp.dir, 'xds.sock');
  await new Promise<void>((res, rej) =>
    grpc.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())),
  );
  const envoy = new NetnsEnvoy({
    name: o.name,
    nodeId: o.nodeId,
    cluster: o.cluster,
    xdsSocket: socket,
    api: 'sotw',
    dir: tmp.dir,
  });
  t.after(async () => {
    await envoy.stop();
    server.stop();
    grpc.forceShutdown();
    tmp.remove();
  });
  return { cache, acks, nacks, envoy, dir: tmp.dir };
}
