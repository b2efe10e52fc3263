// Live mode of `chaingate paths`: what the controller published on the object, or, when
// nothing is published yet, the same computation over the cluster's chains.
import { parseChain, parseServices, MalformedObjectError } from '../model/parse.ts';
import { ChainRegistry } from '../graph/chain-registry.ts';
import { computeUpgradePaths, type ServiceUpgradePaths } from '../status/upgrade-paths.ts';
import { CHAINS, CLUSTER_DEPLOYMENTS, KcmClient, MULTI_CLUSTER_SERVICES, loadKubeConfig, preferredVersion, type KcmResource } from '../kube/client.ts';
import { UsageError, requireReadableFile } from './command.ts';

const KINDS: Record<string, { resource: KcmResource; kind: 'ClusterDeployment' | 'MultiClusterService' }> = {
  clusterdeployment: { resource: CLUSTER_DEPLOYMENTS, kind: 'ClusterDeployment' },
  clusterdeployments: { resource: CLUSTER_DEPLOYMENTS, kind: 'ClusterDeployment' },
  cld: { resource: CLUSTER_DEPLOYMENTS, kind: 'ClusterDeployment' },
  multiclusterservice: { resource: MULTI_CLUSTER_SERVICES, kind: 'MultiClusterService' },
  multiclusterservices: { resource: MULTI_CLUSTER_SERVICES, kind: 'MultiClusterService' },
  mcs: { resource: MULTI_CLUSTER_SERVICES, kind: 'MultiClusterService' },
};

export interface LivePathsRequest {
  target: string;
  namespace: string;
  kubeconfig: string | undefined;
  systemNamespace: string;
}

export interface LivePathsResult {
  paths: ServiceUpgradePaths[];
  source: 'published' | 'computed';
  problems: string[];
}

export async function livePaths(request: LivePathsRequest): Promise<LivePathsResult> {
  const [kindText, name, ...rest] = request.target.split('/');
  const entry = KINDS[(kindText ?? '').toLowerCase().replace(/\.k0rdent\.mirantis\.com$/, '')];
  if (!entry || !name || rest.length > 0) {
    throw new UsageError(`expected clusterdeployment/NAME or multiclusterservice/NAME, got ${JSON.stringify(request.target)}`);
  }
  if (request.kubeconfig) requireReadableFile(request.kubeconfig, '--kubeconfig');
  let kc;
  try {
    kc = loadKubeConfig(request.kubeconfig);
  } catch (err) {
    throw new UsageError(`${request.kubeconfig ? `--kubeconfig ${request.kubeconfig}` : 'kubeconfig'}: cannot load: ${(err as Error).message}`);
  }
  const client = new KcmClient(kc, await preferredVersion(kc));
  const namespace = entry.kind === 'ClusterDeployment' ? request.namespace : '';
  const object = (await client.get(entry.resource, namespace, name)) as Record<string, unknown> | undefined;
  if (!object) throw new UsageError(`${entry.kind} ${namespace ? `${namespace}/` : ''}${name} not found`);

  const published = (object.status as { servicesUpgradePaths?: ServiceUpgradePaths[] } | undefined)?.servicesUpgradePaths;
  if (Array.isArray(published)) return { paths: published, source: 'published', problems: [] };

  let services;
  try {
    services = parseServices(object);
  } catch (err) {
    if (err instanceof MalformedObjectError) throw new UsageError(`${entry.kind} ${name}: ${err.message}`);
    throw err;
  }
  const chainNamespace = entry.kind === 'ClusterDeployment' ? namespace : request.systemNamespace;
  const chains = new ChainRegistry();
  for (const item of (await client.list(CHAINS, chainNamespace)).items) {
    try {
      chains.set(parseChain(item));
    } catch {
      // an unreadable chain simply offers no paths; computeUpgradePaths says so
    }
  }
  const { paths, problems } = computeUpgradePaths(services, chainNamespace, chains);
  return { paths, source: 'computed', problems: problems.filter((p) => p.type === 'Warning').map((p) => p.message) };
}
