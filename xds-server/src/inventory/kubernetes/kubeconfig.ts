// Where the control plane finds its cluster: `--kubeconfig FILE`, else $KUBECONFIG, ~/.kube/config, or the pod's
// ServiceAccount (in-cluster). client-node would silently fall back to http://localhost:8080; this says what is
// missing instead.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

const SA_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  const load = (f: string) => {
    if (!existsSync(f)) throw new Error(`kubeconfig ${f}: no such file`);
    try {
      kc.loadFromFile(f);
    } catch (e) {
      throw new Error(`kubeconfig ${f}: ${(e as Error).message}`);
    }
  };
  if (file) load(file);
  else if (process.env.KUBECONFIG) {
    for (const f of process.env.KUBECONFIG.split(':'))
      if (f && !existsSync(f)) throw new Error(`KUBECONFIG: ${f}: no such file`);
    kc.loadFromDefault();
  } else if (existsSync(join(homedir(), '.kube', 'config'))) load(join(homedir(), '.kube', 'config'));
  else if (process.env.KUBERNETES_SERVICE_HOST && existsSync(SA_TOKEN)) kc.loadFromCluster();
  else {
    throw new Error(
      'kubernetes: no kubeconfig: give --kubeconfig FILE, set KUBECONFIG, create ~/.kube/config, ' +
        'or run in a pod with a ServiceAccount',
    );
  }
  if (!kc.getCurrentCluster()) throw new Error('kubernetes: the kubeconfig has no current context/cluster');
  return kc;
}
