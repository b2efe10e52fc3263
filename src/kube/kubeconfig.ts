// Which API server to talk to, and as whom: the kubeconfig named on the command line, or
// client-node's default search (KUBECONFIG, ~/.kube/config, the in-cluster service account).
import { KubeConfig } from '@kubernetes/client-node';

/** Fails early when the kubeconfig names no cluster, rather than at the first request. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('kubeconfig has no current cluster');
  return kc;
}
