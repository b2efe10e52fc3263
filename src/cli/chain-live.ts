// The cluster side of `chaingate chain`: ServiceTemplates to generate from, chains to compare,
// and the ClusterDeployments and MultiClusterServices whose services name a chain.
import { isRecord, parseChain, parseServices } from '../model/parse.ts';
import type { ServiceTemplateChain } from '../model/resources.ts';
import { clusterDeploymentOwner, multiClusterServiceOwner } from '../model/deployments.ts';
import { CHAINS, CLUSTER_DEPLOYMENTS, KcmClient, MULTI_CLUSTER_SERVICES, SERVICE_TEMPLATES } from '../kube/client.ts';
import { preferredVersion } from '../kube/discovery.ts';
import type { ChainUser } from '../rules/chain-diff.ts';
import { UsageError } from './command.ts';
import { connectCluster } from './cluster-connection.ts';

export interface Cluster {
  client: KcmClient;
  /** -n, else the context's namespace, else "default" (as kubectl). */
  namespace: string;
}

export async function connect(kubeconfig: string | undefined, context: string | undefined, namespace: string | undefined): Promise<Cluster> {
  const { kc, contextNamespace } = connectCluster({ kubeconfig, context });
  return { client: new KcmClient(kc, await preferredVersion(kc)), namespace: namespace ?? contextNamespace ?? 'default' };
}

export async function listServiceTemplates(cluster: Cluster): Promise<unknown[]> {
  return (await cluster.client.list(SERVICE_TEMPLATES, cluster.namespace)).items;
}

export async function readLiveChain(cluster: Cluster, name: string): Promise<ServiceTemplateChain> {
  const object = await cluster.client.get(CHAINS, cluster.namespace, name);
  if (!object) throw new UsageError(`ServiceTemplateChain ${cluster.namespace}/${name} not found`);
  return parseChain(object);
}

/**
 * The objects whose services can name a chain of `namespace`: its ClusterDeployments, and
 * MultiClusterServices when it is the system namespace (where their chains live).
 */
export async function chainUsers(cluster: Cluster, namespace: string, systemNamespace: string): Promise<ChainUser[]> {
  const users: ChainUser[] = [];
  const add = (owner: string, object: unknown) => {
    try {
      users.push({ owner, services: parseServices(object) });
    } catch {
      // a malformed object names no chain kcm could use
    }
  };
  for (const item of (await cluster.client.list(CLUSTER_DEPLOYMENTS, namespace)).items) {
    const meta = isRecord(item) && isRecord(item.metadata) ? item.metadata : {};
    add(clusterDeploymentOwner(String(meta.namespace ?? namespace), String(meta.name)), item);
  }
  if (namespace === systemNamespace) {
    for (const item of (await cluster.client.list(MULTI_CLUSTER_SERVICES)).items) {
      const meta = isRecord(item) && isRecord(item.metadata) ? item.metadata : {};
      add(multiClusterServiceOwner(String(meta.name)), item);
    }
  }
  return users;
}
