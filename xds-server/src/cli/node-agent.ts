// `nanoseg node-agent`: the node agent the DaemonSet runs on every node (nodeagent/agent.ts). It needs the node's
// network (hostNetwork), CAP_NET_ADMIN (nft, NFLOG), its pod's projected token and the control plane's CA: from a
// file, or read from the injector's MutatingWebhookConfiguration, whose caBundle the control plane keeps on its CA.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { pino } from 'pino';
import { NodeAgent } from '../nodeagent/agent.js';
import { XDS_TOKEN_FILE } from '../sidecar/index.js';
import { CliError } from './client.js';
import { bridgeNetfilter } from './kernel-flags.js';

const NODE_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The CA (PEM) in the caBundle of a MutatingWebhookConfiguration, read with the pod's own ServiceAccount. */
async function caFromWebhook(name: string, kubeconfig?: string): Promise<Buffer> {
  const { AdmissionregistrationV1Api } = await import('@kubernetes/client-node');
  const { loadKubeConfig } = await import('../inventory/kubernetes/kubeconfig.js');
  const api = loadKubeConfig(kubeconfig).makeApiClient(AdmissionregistrationV1Api);
  const mwc = await api.readMutatingWebhookConfiguration({ name });
  const bundle = mwc.webhooks?.[0]?.clientConfig.caBundle;
  if (!bundle) throw new Error(`MutatingWebhookConfiguration ${name} has no caBundle yet`);
  return Buffer.from(bundle, 'base64');
}

export function registerNodeAgent(program: Command): void {
  program
    .command('node-agent')
    .description(
      "apply this node's kernel rules (every protocol, outside the pods) as the control plane sends them, and send " +
        "the node's UDP/ICMP flows back; run by the node agent DaemonSet (docs/kubernetes.md)",
    )
    .option(
      '--control-plane <host:port>',
      "the control plane's authenticated TLS listener",
      'nanoseg-control-plane.nanoseg-system.svc:15012',
    )
    .option('--tls-server-name <name>', "the name the control plane's certificate must carry (default: the host)")
    .option('--ca-file <path>', "the control plane's CA (PEM); default: the caBundle of --ca-from-webhook")
    .option(
      '--ca-from-webhook <name>',
      "the MutatingWebhookConfiguration whose caBundle is the control plane CA (read with the pod's ServiceAccount)",
      'nanoseg-injector',
    )
    .option('--kubeconfig <file>', 'for --ca-from-webhook outside a pod')
    .option('--token-file <path>', "the pod's projected service-account token (audience nanoseg)", XDS_TOKEN_FILE)
    .option('--node-name <name>', 'the node this agent runs on (default: env NODE_NAME, from spec.nodeName)')
    .option('--kernel-log-group <n>', 'NFLOG group of the kernel rules', (v) => Number(v), 15)
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .action(
      async (o: {
        controlPlane: string;
        tlsServerName?: string;
        caFile?: string;
        caFromWebhook: string;
        kubeconfig?: string;
        tokenFile: string;
        nodeName?: string;
        kernelLogGroup: number;
        logLevel: string;
      }) => {
        if (!/^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):\d{1,5}$/.test(o.controlPlane))
          throw new CliError(`--control-plane: "${o.controlPlane}" is not HOST:PORT`, 2);
        const node = o.nodeName ?? process.env.NODE_NAME;
        if (!node)
          throw new CliError('--node-name: not given and NODE_NAME is not set (downward API spec.nodeName)', 2);
        if (!NODE_RE.test(node)) throw new CliError(`--node-name: "${node}" is not a node name`, 2);
        if (!Number.isInteger(o.kernelLogGroup) || o.kernelLogGroup < 0 || o.kernelLogGroup > 65535)
          throw new CliError('--kernel-log-group: an integer 0-65535', 2);
        if (!['debug', 'info', 'warn', 'error'].includes(o.logLevel))
          throw new CliError(`--log-level: unknown level "${o.logLevel}"`, 2);
        // the rules would be in place and see nothing: refused, never left to fail open
        const bridge = bridgeNetfilter(readFileSync);
        if (bridge) throw new CliError(`node-agent: ${bridge}`, 1);
        const logger = pino({ level: o.logLevel, base: undefined });
        const agent = new NodeAgent({
          target: o.controlPlane,
          ...(o.tlsServerName !== undefined && { serverName: o.tlsServerName }),
          node,
          logGroup: o.kernelLogGroup,
          logger,
          credentials: async () => {
            const read = (flag: string, path: string) => {
              try {
                return readFileSync(path);
              } catch (e) {
                throw new Error(`${flag} ${path}: ${(e as Error).message}`);
              }
            };
            const token = read('--token-file', o.tokenFile).toString('utf8').trim();
            const ca = o.caFile ? read('--ca-file', o.caFile) : await caFromWebhook(o.caFromWebhook, o.kubeconfig);
            return { ca, token };
          },
        });
        await agent.start();
        logger.info({ node, controlPlane: o.controlPlane }, 'nanoseg node agent started');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        // the rules stay in force: an agent that stops (or is replaced) never opens what was closed
        await agent.stop();
      },
    );
}
