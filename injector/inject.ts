// The pure part of the injector (Istio's injectPod apart from its webhook): a pod, its namespace and the injector's
// config in; a JSON patch (RFC 6902) out, or the reason the pod is left alone, or a refusal to say to the user.
//
// The patch adds, and never changes what the user wrote:
//   - a first init container (NET_ADMIN, root) that installs the same nft capture ruleset as the lab
//     (xds-server/src/sidecar/capture.ts), with the pod's exclusion annotations, before anything else of the pod runs;
//   - the sidecar, second, as a native sidecar (an init container with `restartPolicy: Always`, Kubernetes ≥ 1.30):
//     Envoy as uid/gid 1337, bootstrapped (sidecar/bootstrap.ts) with the node id `<pod>.<namespace>`, the service
//     `namespace/<owning workload>` and the control plane's ADS address — nothing else; startup and readiness probes
//     on 15021 that pass only once Envoy's first listeners and clusters arrived, so the user's init containers and
//     the app start with the policy in force, and a Job's pod completes when the Job's own containers have;
//   - with `config.xdsAuth` (Kubernetes): a projected volume with the pod's service-account token (audience
//     `nanoseg`) and the control plane's CA (the annotation `nanoseg.io/ca-bundle` through the downward API), which
//     the sidecar uses to reach the control plane over TLS and prove which pod it is;
//   - annotations `nanoseg.io/status: injected` (so a second admission leaves the pod alone) and
//     `nanoseg.io/service`, and the label `nanoseg.io/workload: <name>` (what exported policies select).
// Pod name and address are not known at admission: the kubelet substitutes `$(POD_NAME)` and `$(POD_IP)` (the
// container's downward-API environment) into the arguments when it starts Envoy.
import { SERVICE_NAME_RE, type ValidationError } from '../xds-server/src/model/index.js';
import {
  captureRuleset,
  envoyBootstrap,
  ENVOY_UID,
  INBOUND_CAPTURE_PORT,
  OUTBOUND_CAPTURE_PORT,
  READINESS_PATH,
  READINESS_PORT,
  XDS_AUTH_DIR,
  XDS_CA_FILE,
  XDS_TOKEN_FILE,
} from '../xds-server/src/sidecar/index.js';
import { WORKLOAD_LABEL } from '../xds-server/src/export/index.js';
import { workloadOf, type OwnerLookup } from '../xds-server/src/inventory/kubernetes/owner.js';
import type { Namespace, Pod } from '../xds-server/src/inventory/kubernetes/types.js';
import {
  captureExclusions,
  INJECT_ENABLED,
  INJECT_LABEL,
  INJECT_OPT_OUT,
  SERVICE_ANNOTATION,
  STATUS_ANNOTATION,
  STATUS_INJECTED,
} from './annotations.js';
import {
  CA_BUNDLE_ANNOTATION,
  DEFAULT_PROXY_RESOURCES,
  INIT_CONTAINER,
  PROXY_CONTAINER,
  XDS_AUTH_VOLUME,
  type InjectorConfig,
} from './config.js';

export interface JsonPatchOp {
  readonly op: 'add';
  readonly path: string;
  readonly value: unknown;
}

export type InjectResult =
  | { readonly action: 'inject'; readonly service: string; readonly patch: readonly JsonPatchOp[] }
  | { readonly action: 'skip'; readonly reason: string }
  | { readonly action: 'refuse'; readonly message: string; readonly errors: readonly ValidationError[] };

/** RFC 6901: `~` → `~0`, `/` → `~1`. */
export function pointerToken(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** How long the sidecar waits when it is stopped after the app, at most. */
const SIDECAR_DRAIN_SECONDS = 2;

/**
 * The sidecar's preStop: stopped after the app, Envoy gets up to 2 s to flush its last access logs (every second)
 * while the pod, still listed with its address, is attributed to its service. The apiserver wants the sleep shorter
 * than the pod's grace period (30 s unless set): a shorter grace period gets a shorter sleep, 0 or 1 s none.
 */
function drain(grace = 30): { lifecycle?: { preStop: { sleep: { seconds: number } } } } {
  const seconds = Math.min(SIDECAR_DRAIN_SECONDS, Math.floor(grace) - 1);
  return seconds >= 1 ? { lifecycle: { preStop: { sleep: { seconds } } } } : {};
}

/**
 * `lookup` finds the pod's owning ReplicaSet or Job (the webhook passes what the informer or the apiserver has):
 * with it a Job made from a CronJob by hand (`kubectl create job --from=cronjob/...`) belongs to the CronJob; without
 * it the owner is inferred from names (inventory/kubernetes/owner.ts).
 */
export function inject(pod: Pod, namespace: Namespace, config: InjectorConfig, lookup?: OwnerLookup): InjectResult {
  const ns = namespace.metadata?.name ?? pod.metadata?.namespace ?? '';
  const labels = pod.metadata?.labels ?? {};
  const annotations = pod.metadata?.annotations ?? {};
  if (namespace.metadata?.labels?.[INJECT_LABEL] !== INJECT_ENABLED) {
    return { action: 'skip', reason: `namespace ${ns} is not labelled ${INJECT_LABEL}=${INJECT_ENABLED}` };
  }
  if (labels[INJECT_LABEL] === INJECT_OPT_OUT || annotations[INJECT_LABEL] === INJECT_OPT_OUT) {
    return { action: 'skip', reason: `the pod opts out (${INJECT_LABEL}: "${INJECT_OPT_OUT}")` };
  }
  const containers = pod.spec?.containers ?? [];
  const inits = pod.spec?.initContainers ?? [];
  if (
    annotations[STATUS_ANNOTATION] === STATUS_INJECTED ||
    containers.some((c) => c.name === PROXY_CONTAINER) ||
    inits.some((c) => c.name === INIT_CONTAINER || c.name === PROXY_CONTAINER)
  ) {
    return { action: 'skip', reason: 'already injected' };
  }
  if (pod.spec?.hostNetwork) {
    return { action: 'skip', reason: "the pod uses the node's network (hostNetwork): capture would change the node" };
  }

  const exclusions = captureExclusions(annotations);
  if (!exclusions.valid) {
    return {
      action: 'refuse',
      message: `nanoseg cannot inject this pod: ${exclusions.errors.map((e) => e.message).join('; ')}`,
      errors: exclusions.errors,
    };
  }
  const workload = workloadOf(pod, ns, lookup);
  if (!SERVICE_NAME_RE.test(workload.service)) {
    const message =
      `nanoseg cannot inject this pod: its ${workload.kind} "${workload.name}" gives the service ` +
      `"${workload.service}", which is not a nanoseg service name (lower-case DNS labels, no dots); ` +
      `opt the pod out with ${INJECT_LABEL}: "${INJECT_OPT_OUT}" or rename the workload`;
    return { action: 'refuse', message, errors: [{ path: 'metadata.ownerReferences', message }] };
  }
  const ex = exclusions.result;

  const bootstrap = envoyBootstrap({
    pod: '$(POD_NAME)',
    service: workload.service,
    address: '$(POD_IP)',
    nodeId: `$(POD_NAME).${ns}`,
    xdsAddress: config.xdsAddress,
    readinessPort: READINESS_PORT,
    ...(config.xdsAuth && { xdsTls: { caFile: XDS_CA_FILE, tokenFile: XDS_TOKEN_FILE } }),
  });
  const auth = config.xdsAuth;
  const rules = captureRuleset({
    excludeInboundPorts: [READINESS_PORT, ...ex.inboundPorts],
    excludeOutboundPorts: ex.outboundPorts,
    excludeOutboundCidrs: ex.outboundCidrs,
  });

  const initContainer = {
    name: INIT_CONTAINER,
    image: config.initImage,
    command: ['/bin/sh', '-c', 'printf "%s" "$NANOSEG_CAPTURE_RULES" | nft -f -'],
    env: [{ name: 'NANOSEG_CAPTURE_RULES', value: rules }],
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] },
    },
    resources: { requests: { cpu: '10m', memory: '10Mi' }, limits: { memory: '64Mi' } },
  };
  const proxy = {
    name: PROXY_CONTAINER,
    image: config.proxyImage,
    command: ['envoy'],
    args: [
      '--config-yaml',
      JSON.stringify(bootstrap),
      '--log-level',
      config.envoyLogLevel ?? 'warning',
      '--concurrency',
      String(config.envoyConcurrency ?? 2),
      '--disable-hot-restart',
    ],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ],
    ports: [
      { name: 'nanoseg-out', containerPort: OUTBOUND_CAPTURE_PORT, protocol: 'TCP' },
      { name: 'nanoseg-in', containerPort: INBOUND_CAPTURE_PORT, protocol: 'TCP' },
      { name: 'nanoseg-health', containerPort: READINESS_PORT, protocol: 'TCP' },
    ],
    // a native sidecar (an init container that keeps running): the kubelet starts the app containers, and the
    // user's init containers, only once its startup probe passed — Envoy has its first config —, stops it after them,
    // and a Job's pod completes when its own containers have
    restartPolicy: 'Always',
    ...drain(pod.spec?.terminationGracePeriodSeconds),
    startupProbe: {
      httpGet: { path: READINESS_PATH, port: READINESS_PORT },
      periodSeconds: 1,
      timeoutSeconds: 1,
      failureThreshold: 600,
    },
    readinessProbe: {
      httpGet: { path: READINESS_PATH, port: READINESS_PORT },
      periodSeconds: 2,
      timeoutSeconds: 1,
      failureThreshold: 3,
    },
    securityContext: {
      runAsUser: ENVOY_UID,
      runAsGroup: ENVOY_UID,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    resources: config.proxyResources ?? DEFAULT_PROXY_RESOURCES,
    ...(auth && { volumeMounts: [{ name: XDS_AUTH_VOLUME, mountPath: XDS_AUTH_DIR, readOnly: true }] }),
  };

  // capture first, then the sidecar, then the user's init containers in their order: nothing of the pod runs
  // uncaptured, and the user's init containers reach the network through Envoy like the app does
  const patch: JsonPatchOp[] =
    inits.length === 0
      ? [{ op: 'add', path: '/spec/initContainers', value: [initContainer, proxy] }]
      : [
          { op: 'add', path: '/spec/initContainers/0', value: initContainer },
          { op: 'add', path: '/spec/initContainers/1', value: proxy },
        ];
  if (auth) {
    // the token (rotated by the kubelet) and the CA the sidecar checks the control plane with, as files
    const volume = {
      name: XDS_AUTH_VOLUME,
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: auth.audience,
              expirationSeconds: auth.tokenSeconds ?? 3600,
              path: 'token',
            },
          },
          {
            downwardAPI: {
              items: [{ path: 'ca.pem', fieldRef: { fieldPath: `metadata.annotations['${CA_BUNDLE_ANNOTATION}']` } }],
            },
          },
        ],
      },
    };
    patch.push(
      pod.spec?.volumes === undefined
        ? { op: 'add', path: '/spec/volumes', value: [volume] }
        : { op: 'add', path: '/spec/volumes/-', value: volume },
    );
  }
  const added: Record<string, string> = {
    [STATUS_ANNOTATION]: STATUS_INJECTED,
    [SERVICE_ANNOTATION]: workload.service,
    ...(auth && { [CA_BUNDLE_ANNOTATION]: auth.caBundle }),
  };
  const defaultContainer = 'kubectl.kubernetes.io/default-container';
  const first = containers[0];
  if (first && annotations[defaultContainer] === undefined) added[defaultContainer] = first.name;
  // the label NetworkPolicy / Istio exports select the service's pods by (label values are at most 63 characters)
  if (workload.name.length <= 63 && labels[WORKLOAD_LABEL] === undefined) {
    patch.push(
      pod.metadata?.labels === undefined
        ? { op: 'add', path: '/metadata/labels', value: { [WORKLOAD_LABEL]: workload.name } }
        : { op: 'add', path: `/metadata/labels/${pointerToken(WORKLOAD_LABEL)}`, value: workload.name },
    );
  }
  if (pod.metadata?.annotations === undefined) {
    patch.push({ op: 'add', path: '/metadata/annotations', value: added });
  } else {
    for (const [k, v] of Object.entries(added)) {
      patch.push({ op: 'add', path: `/metadata/annotations/${pointerToken(k)}`, value: v });
    }
  }
  return { action: 'inject', service: workload.service, patch };
}
