// A real one-node Kubernetes cluster for tests (scripts/k8s/): prepare (binaries built from the Go module proxy once,
// cached by version in .cache/k8s; Debian's containerd, runc and CNI plugins unpacked; images built locally), start,
// and tear down completely — also when the start fails (up.sh cleans up after itself) or a test fails (t.after).
// Needs root, and the lab lock held by whoever runs the suite (`flock /tmp/nanoseg-lab.lock`).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../xds-server/src/util/envoy.js';

const SCRIPTS = join(projectRoot(), 'scripts', 'k8s');

export interface ClusterInfo {
  readonly kubeconfig: string;
  readonly kubectlBin: string;
  /** the node's address on its bridge: pods reach the host (control plane, webhook) here */
  readonly nodeIp: string;
  readonly nodeName: string;
  readonly podCidr: string;
}

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function script(name: string, args: readonly string[], timeoutMs: number): KubectlResult {
  const r = spawnSync(join(SCRIPTS, name), args, { encoding: 'utf8', timeout: timeoutMs });
  const timedOut = r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
  return {
    code: r.status ?? -1,
    stdout: r.stdout ?? '',
    stderr: (r.stderr ?? '') + (timedOut ? `\n${name} timed out after ${timeoutMs} ms` : ''),
  };
}

export class TestCluster implements ClusterInfo {
  private constructor(
    readonly kubeconfig: string,
    readonly kubectlBin: string,
    readonly nodeIp: string,
    readonly nodeName: string,
    readonly podCidr: string,
  ) {}

  /** Prepares what is missing (cold: the binaries take many minutes) and starts the cluster. */
  static start(): TestCluster {
    const prep = script('prepare.sh', [], 45 * 60_000);
    if (prep.code !== 0) throw new Error(`scripts/k8s/prepare.sh failed (${prep.code}):\n${prep.stderr}`);
    const up = script('up.sh', [], 5 * 60_000);
    if (up.code !== 0) throw new Error(`scripts/k8s/up.sh failed (${up.code}):\n${up.stderr}`);
    const envFile = /env: (\S+)\)/.exec(up.stderr)?.[1];
    if (!envFile) throw new Error(`scripts/k8s/up.sh did not say where its env is:\n${up.stderr}`);
    const env = Object.fromEntries(
      readFileSync(envFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    ) as Record<string, string>;
    const need = (k: string) => {
      const v = env[k];
      if (!v) throw new Error(`${envFile} has no ${k}`);
      return v;
    };
    return new TestCluster(need('KUBECONFIG'), need('KUBECTL'), need('NODE_IP'), need('NODE_NAME'), need('POD_CIDR'));
  }

  /** Everything removed; throws when something was left behind. Idempotent. */
  stop(): void {
    const r = script('down.sh', [], 3 * 60_000);
    if (r.code !== 0) throw new Error(`scripts/k8s/down.sh failed (${r.code}):\n${r.stderr}`);
  }

  kubectl(args: readonly string[], input?: string, timeoutMs = 60_000): KubectlResult {
    const r = spawnSync(this.kubectlBin, args, {
      encoding: 'utf8',
      input,
      timeout: timeoutMs,
      maxBuffer: 256 * 1024 * 1024, // the apiserver's /metrics alone is several MB
      env: { ...process.env, KUBECONFIG: this.kubeconfig },
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** kubectl that must succeed; returns stdout. */
  k(args: readonly string[], input?: string): string {
    const r = this.kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** kubectl get -o json, parsed. */
  getJson<T>(args: readonly string[]): T {
    return JSON.parse(this.k(['get', ...args, '-o', 'json'])) as T;
  }
}
