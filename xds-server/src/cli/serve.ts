// `nanoseg serve`: runs the control plane until SIGINT/SIGTERM.
import type { Command } from 'commander';
import { pino } from 'pino';
import { parseDuration } from '../util/duration.js';
import { CliError, apiSocket } from './client.js';
import { ControlPlane, DEFAULT_CONTROL_PLANE_OPTIONS } from '../controlplane/controlplane.js';
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { readFileSync } from 'node:fs';
import { kernelHosting } from './kernel-flags.js';
import { parseWebhookUrl } from '../alerts/index.js';
import { FileInventorySource } from '../inventory/index.js';
import {
  DEFAULT_VALIDATING_CONFIGURATION,
  DEFAULT_WEBHOOK_CONFIGURATION,
  DEFAULT_WEBHOOK_DNS_NAMES,
  DEFAULT_XDS_TLS_NAMES,
} from '../../../injector/config.js';
import { TOKEN_AUDIENCE } from '../auth/index.js';

function durationFlag(flag: string) {
  return (v: string): number => {
    const d = parseDuration(v);
    if (!d.ok) throw new CliError(`${flag}: ${d.error}`, 2);
    return d.ms;
  };
}

function intFlag(flag: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new CliError(`${flag}: "${v}" is not an integer ≥ ${min}`, 2);
    return n;
  };
}

function fractionFlag(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0 && n < 1)) throw new CliError(`${flag}: "${v}" is not a number between 0 and 1`, 2);
    return n;
  };
}

function percentFlag(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(v.trim() !== '' && n >= 0 && n <= 100)) throw new CliError(`${flag}: "${v}" is not a percentage 0-100`, 2);
    return n;
  };
}

function mibFlag(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(Number.isInteger(n) && n >= 1 && n <= 65536)) throw new CliError(`${flag}: "${v}" is not MiB 1-65536`, 2);
    return n;
  };
}

function addressFlag(flag: string) {
  return (v: string): string => {
    if (v === 'off') return v;
    const m = /^(\[[0-9a-fA-F:]+\]|[0-9.]+|localhost):(\d{1,5})$/.exec(v);
    if (!m || Number(m[2]) > 65535) throw new CliError(`${flag}: "${v}" is not HOST:PORT (or "off")`, 2);
    return v;
  };
}

function hostPortFlag(flag: string) {
  return (v: string): { host: string; port: number } => {
    const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(v);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new CliError(`${flag}: "${v}" is not HOST:PORT`, 2);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  };
}

/** HOST:PORT kept as given (a name, an IPv4 address or a bracketed IPv6 one), validated like hostPortFlag */
function endpointFlag(flag: string) {
  const parse = hostPortFlag(flag);
  return (v: string): string => {
    parse(v);
    return v;
  };
}

const listFlag = (v: string): string[] =>
  v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');

function webhookFlag(v: string): string {
  const r = parseWebhookUrl(v);
  if (!r.valid) throw new CliError(`--alert-webhook: ${r.errors.map((e) => e.message).join('; ')}`, 2);
  return r.result.toString();
}

export function registerServe(program: Command): void {
  const d = DEFAULT_CONTROL_PLANE_OPTIONS;
  program
    .command('serve')
    .description('run the control plane: ADS, access logs and traces (OTLP) for Envoy sidecars, learning, the API')
    .option('--state-dir <dir>', 'where learned state is kept (SQLite, WAL)', d.stateDir)
    .option(
      '--quiet-period <duration>',
      'time without a new edge before a service can converge',
      durationFlag('--quiet-period'),
      d.convergence.quietPeriodMs,
    )
    .option(
      '--min-observations <n>',
      'connections/requests a service needs before it can converge',
      intFlag('--min-observations', 1),
      d.convergence.minObservations,
    )
    .option(
      '--max-missing-mass <p>',
      'largest estimated chance that the next connection is a new edge, to converge',
      fractionFlag('--max-missing-mass'),
      d.convergence.maxMissingMass,
    )
    .option(
      '--xds-address <host:port>',
      'ADS + ALS gRPC (plaintext) TCP address, or "off"',
      addressFlag('--xds-address'),
      d.xdsAddress,
    )
    .option('--xds-socket <path>', "ADS + ALS gRPC unix socket (the lab's Envoys use it)", d.xdsSocket)
    .option(
      '--metrics-address <host:port>',
      'Prometheus /metrics and /healthz, or "off"',
      addressFlag('--metrics-address'),
      d.metricsAddress,
    )
    .option(
      '--auto-promote',
      'converged services go to monitor, then to enforce after a soak period with zero would-deny',
      false,
    )
    .option(
      '--soak-period <duration>',
      'monitor time without a would-deny before auto-promotion to enforce',
      durationFlag('--soak-period'),
      d.soakPeriodMs,
    )
    .option(
      '--alert-webhook <url>',
      'POST every alert as JSON to this http(s) URL (retries with backoff, bounded queue)',
      webhookFlag,
    )
    .option(
      '--inventory <file>',
      'workloads, externals and VIPs outside the lab (hosts, VMs) from a YAML file, reloaded when it changes',
    )
    .option(
      '--kernel-netns <ns>',
      "enforce every protocol in the kernel (nftables) in this network namespace — the lab's host namespace " +
        'nsg-lab, where every pod is routed — and learn UDP/ICMP flows there (off when not given)',
    )
    .option(
      '--kernel-node',
      'with --kubernetes: enforce every protocol in the kernel for the pods on this node (nftables, table inet ' +
        'nanoseg in this namespace; needs net.bridge.bridge-nf-call-iptables=1) and learn their UDP/ICMP flows',
    )
    .option(
      '--node-agents',
      'with --kubernetes: the node agent DaemonSet (`nanoseg node-agent`) enforces every protocol in the kernel on ' +
        "each node: agents connect to the TLS listener and get their node's rules, and send its UDP/ICMP flows",
    )
    .option(
      '--kernel-control-plane <ip:port>',
      "with --kernel-node/--node-agents: the control plane's address as the pods' frames carry it once a Service's " +
        "DNAT is done (its pod IP), which every pod's kernel rules let through; default: --sidecar-xds-address",
      hostPortFlag('--kernel-control-plane'),
    )
    .option(
      '--node-agent-account <ns/sa>',
      'the service account node agents run as; no other pod may connect as one',
      'nanoseg-system/nanoseg-node-agent',
    )
    .option('--kernel-log-group <n>', 'NFLOG group of the kernel rules', (v) => Number(v), 15)
    .option(
      '--trace-sampling <percent>',
      'requests every sidecar traces (OpenTelemetry, OTLP to this control plane); 0 turns tracing off',
      percentFlag('--trace-sampling'),
      100,
    )
    .option(
      '--trace-buffer <MiB>',
      'memory for recent traces (`nanoseg traces`); the oldest traces go first',
      mibFlag('--trace-buffer'),
      64,
    )
    .option(
      '--otlp-forward <host:port>',
      'send every span on to this OTLP/gRPC collector (Jaeger, Tempo, an OpenTelemetry Collector), plaintext',
      addressFlag('--otlp-forward'),
    )
    .option(
      '--otlp-endpoint <host:port>',
      "export the control plane's own traces (ADS pushes, ingest batches, convergence, API requests) to this " +
        'OTLP/gRPC collector, plaintext (off when not given)',
      endpointFlag('--otlp-endpoint'),
    )
    .option('--kubernetes', 'watch a cluster (pods → owners, Services) and serve the sidecar injector webhook', false)
    .option('--kubeconfig <file>', 'the cluster (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option(
      '--kubernetes-timeout <duration>',
      'how long to wait for the first lists of the cluster before giving up',
      durationFlag('--kubernetes-timeout'),
      10_000,
    )
    .option('--webhook-port <n>', 'sidecar injector HTTPS port (0: no injector)', intFlag('--webhook-port', 0), 9443)
    .option('--webhook-host <host>', 'address the injector listens on', '0.0.0.0')
    .option(
      '--webhook-dns-names <names>',
      "the injector certificate's names, comma-separated (what the apiserver dials)",
      listFlag,
      [...DEFAULT_WEBHOOK_DNS_NAMES],
    )
    .option(
      '--webhook-configuration <name>',
      'the MutatingWebhookConfiguration whose caBundle is kept on the control plane CA',
      DEFAULT_WEBHOOK_CONFIGURATION,
    )
    .option(
      '--validating-webhook-configuration <name>',
      'the NanoSegment ValidatingWebhookConfiguration whose caBundle is kept on the control plane CA',
      DEFAULT_VALIDATING_CONFIGURATION,
    )
    .option(
      '--xds-tls-address <host:port>',
      'with --kubernetes: the authenticated ADS + ALS + OTLP listener (TLS; sidecars prove who they are with their ' +
        'service-account token), or "off"',
      addressFlag('--xds-tls-address'),
      '0.0.0.0:15012',
    )
    .option(
      '--xds-tls-names <names>',
      "the TLS listener certificate's names, comma-separated: what sidecars dial (a name, or an IP address)",
      listFlag,
      [...DEFAULT_XDS_TLS_NAMES],
    )
    .option('--xds-token-audience <audience>', "the audience of the sidecars' projected tokens", TOKEN_AUDIENCE)
    .option(
      '--sidecar-xds-address <host:port>',
      "the control plane's ADS address as injected sidecars reach it (the TLS listener in Kubernetes)",
      hostPortFlag('--sidecar-xds-address'),
      { host: 'nanoseg-control-plane.nanoseg-system.svc', port: 15012 },
    )
    .option('--proxy-image <image>', 'the injected sidecar image (Envoy)', 'envoyproxy/envoy:v1.40.0')
    .option('--init-image <image>', 'the capture init container image (nft, sh)', 'nanoseg/init:0.1.0')
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .action(
      async (
        o: {
          stateDir: string;
          quietPeriod: number;
          minObservations: number;
          maxMissingMass: number;
          xdsAddress: string;
          xdsSocket: string;
          metricsAddress: string;
          logLevel: string;
          autoPromote: boolean;
          soakPeriod: number;
          alertWebhook?: string;
          inventory?: string;
          kernelNetns?: string;
          kernelNode?: boolean;
          nodeAgents?: boolean;
          nodeAgentAccount: string;
          kernelControlPlane?: { host: string; port: number };
          kernelLogGroup: number;
          traceSampling: number;
          traceBuffer: number;
          otlpForward?: string;
          otlpEndpoint?: string;
          kubernetes: boolean;
          kubeconfig?: string;
          kubernetesTimeout: number;
          webhookPort: number;
          webhookHost: string;
          webhookDnsNames: string[];
          webhookConfiguration: string;
          validatingWebhookConfiguration: string;
          sidecarXdsAddress: { host: string; port: number };
          xdsTlsAddress: string;
          xdsTlsNames: string[];
          xdsTokenAudience: string;
          proxyImage: string;
          initImage: string;
        },
        cmd: Command,
      ) => {
        if (!Number.isInteger(o.kernelLogGroup) || o.kernelLogGroup < 0 || o.kernelLogGroup > 65535)
          throw new CliError('--kernel-log-group: an integer 0-65535', 2);
        if (!['debug', 'info', 'warn', 'error'].includes(o.logLevel))
          throw new CliError(`--log-level: unknown level "${o.logLevel}"`, 2);
        if (o.webhookPort > 65535) throw new CliError('--webhook-port: 0-65535', 2);
        if (o.webhookDnsNames.length === 0) throw new CliError('--webhook-dns-names: at least one name', 2);
        if (!o.kubernetes && o.kubeconfig) throw new CliError('--kubeconfig needs --kubernetes', 2);
        // in Kubernetes V8 favours memory over speed (smaller heap growth, more frequent GC): 10,000 pods' control
        // plane measured 387 MB RSS without, 273 MB with (k8s-churn; docs/kubernetes.md), for ~1 point more CPU
        if (o.kubernetes) setFlagsFromString('--optimize-for-size');
        if (!o.kubernetes && cmd.getOptionValueSource('xdsTlsAddress') === 'cli')
          throw new CliError('--xds-tls-address needs --kubernetes (the lab uses the unix socket)', 2);
        // in Kubernetes nothing answers xDS without authentication: the plaintext TCP listener is off unless asked
        // for on loopback (the unix socket stays, for the host's own tools)
        let xdsAddress: string | undefined = o.xdsAddress === 'off' ? undefined : o.xdsAddress;
        if (o.kubernetes && xdsAddress !== undefined) {
          if (cmd.getOptionValueSource('xdsAddress') !== 'cli') xdsAddress = undefined;
          else if (!/^(127\.[0-9.]+|\[::1\]|localhost):/.test(xdsAddress))
            throw new CliError(
              `--xds-address ${xdsAddress}: with --kubernetes plaintext xDS may listen on loopback only; ` +
                'sidecars use the authenticated --xds-tls-address',
              2,
            );
        }
        const xdsTls =
          o.kubernetes && o.xdsTlsAddress !== 'off'
            ? { address: o.xdsTlsAddress, dnsNames: o.xdsTlsNames, audience: o.xdsTokenAudience }
            : undefined;
        const kernel = kernelHosting({ ...o, xdsTls: xdsTls !== undefined }, readFileSync);
        if (xdsTls && xdsTls.dnsNames.length === 0) throw new CliError('--xds-tls-names: at least one name', 2);
        const g = cmd.optsWithGlobals() as { apiSocket?: string };
        const logger = pino({ level: o.logLevel, base: undefined });
        const cp = new ControlPlane({
          ...d,
          stateDir: o.stateDir,
          apiSocket: apiSocket(g.apiSocket),
          xdsAddress,
          xdsSocket: o.xdsSocket,
          metricsAddress: o.metricsAddress === 'off' ? undefined : o.metricsAddress,
          convergence: {
            quietPeriodMs: o.quietPeriod,
            minObservations: o.minObservations,
            maxMissingMass: o.maxMissingMass,
          },
          autoPromote: o.autoPromote,
          soakPeriodMs: o.soakPeriod,
          alertWebhook: o.alertWebhook,
          inventorySources: o.inventory ? [new FileInventorySource({ file: resolve(o.inventory), logger })] : [],
          ...(kernel && { kernel }),
          traceSamplingPercent: o.traceSampling,
          traceBufferBytes: o.traceBuffer * 2 ** 20,
          ...(o.otlpForward !== undefined && o.otlpForward !== 'off' && { otlpForward: o.otlpForward }),
          ...(o.otlpEndpoint !== undefined && { otlpEndpoint: o.otlpEndpoint }),
          ...(o.kubernetes && {
            kubernetes: {
              ...(o.kubeconfig !== undefined && { kubeconfig: resolve(o.kubeconfig) }),
              syncTimeoutMs: o.kubernetesTimeout,
              ...(xdsTls && { xdsTls }),
              ...(o.webhookPort > 0 && {
                webhook: {
                  host: o.webhookHost,
                  port: o.webhookPort,
                  dnsNames: o.webhookDnsNames,
                  configuration: o.webhookConfiguration,
                  validatingConfiguration: o.validatingWebhookConfiguration,
                  injector: { proxyImage: o.proxyImage, initImage: o.initImage, xdsAddress: o.sidecarXdsAddress },
                },
              }),
            },
          }),
          logger,
        });
        try {
          await cp.start();
        } catch (e) {
          await cp.stop().catch(() => undefined);
          throw new CliError((e as Error).message);
        }
        await new Promise<void>((resolve) => {
          const done = (sig: string) => {
            logger.info({ signal: sig }, 'stopping');
            resolve();
          };
          process.once('SIGINT', () => done('SIGINT'));
          process.once('SIGTERM', () => done('SIGTERM'));
        });
        await cp.stop();
      },
    );
}
