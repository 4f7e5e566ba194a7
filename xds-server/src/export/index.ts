// Exports of a nanoseg policy for other enforcers (pure): Kubernetes NetworkPolicy, Istio AuthorizationPolicy.
export {
  exportPolicy,
  toNetworkPolicy,
  toIstioAuthorizationPolicy,
  EXPORT_FORMATS,
  WORKLOAD_LABEL,
  NAMESPACE_LABEL,
} from './kubernetes.js';
export type { ExportFormat } from './kubernetes.js';
