// How every command that reads the cluster connects, kubectl's way: --kubeconfig (else
// $KUBECONFIG, else in-cluster), --context (else the current context), and the namespace that
// context names as the default of -n. Bad flags are UsageErrors (exit 2), not stack traces.
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../kube/kubeconfig.ts';
import { CLUSTER_DEPLOYMENTS, MULTI_CLUSTER_SERVICES, type KcmClient, type KcmResource } from '../kube/client.ts';
import { MalformedObjectError, parseServices } from '../model/parse.ts';
import type { Service } from '../model/resources.ts';
import { UsageError, requireReadableFile } from './command.ts';

export interface ClusterConnection {
  kc: KubeConfig;
  /** The namespace of the context in use, if it names one. */
  contextNamespace: string | undefined;
}

export function connectCluster(flags: { kubeconfig?: string | undefined; context?: string | undefined }): ClusterConnection {
  if (flags.kubeconfig) requireReadableFile(flags.kubeconfig, '--kubeconfig');
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(flags.kubeconfig);
  } catch (err) {
    throw new UsageError(`${flags.kubeconfig ? `--kubeconfig ${flags.kubeconfig}` : 'kubeconfig'}: cannot load: ${(err as Error).message}`);
  }
  if (flags.context) {
    if (!kc.getContextObject(flags.context)) throw new UsageError(`--context ${flags.context}: no such context in the kubeconfig`);
    kc.setCurrentContext(flags.context);
  }
  return { kc, contextNamespace: kc.getContextObject(kc.getCurrentContext())?.namespace || undefined };
}

const OBJECT_KINDS: Record<string, { resource: KcmResource; kind: 'ClusterDeployment' | 'MultiClusterService' }> = {
  clusterdeployment: { resource: CLUSTER_DEPLOYMENTS, kind: 'ClusterDeployment' },
  clusterdeployments: { resource: CLUSTER_DEPLOYMENTS, kind: 'ClusterDeployment' },
  cld: { resource: CLUSTER_DEPLOYMENTS, kind: 'ClusterDeployment' },
  multiclusterservice: { resource: MULTI_CLUSTER_SERVICES, kind: 'MultiClusterService' },
  multiclusterservices: { resource: MULTI_CLUSTER_SERVICES, kind: 'MultiClusterService' },
  mcs: { resource: MULTI_CLUSTER_SERVICES, kind: 'MultiClusterService' },
};

export interface ObjectRef {
  resource: KcmResource;
  kind: 'ClusterDeployment' | 'MultiClusterService';
  name: string;
}

/** KIND/NAME as kubectl reads it (kind, plural, short name or kind.group); `what` prefixes the error. */
export function parseObjectRef(target: string, what = ''): ObjectRef {
  const [kindText, name, ...rest] = target.split('/');
  const entry = OBJECT_KINDS[(kindText ?? '').toLowerCase().replace(/\.k0rdent\.mirantis\.com$/, '')];
  if (!entry || !name || rest.length > 0) {
    throw new UsageError(`${what}expected clusterdeployment/NAME or multiclusterservice/NAME, got ${JSON.stringify(target)}`);
  }
  return { ...entry, name };
}

/** The object `ref` names in `namespace` ('' for a MultiClusterService); a UsageError when it is not there. */
export async function readObject(client: KcmClient, ref: ObjectRef, namespace: string): Promise<Record<string, unknown>> {
  const object = (await client.get(ref.resource, namespace, ref.name)) as Record<string, unknown> | undefined;
  if (!object) throw new UsageError(`${ref.kind} ${namespace ? `${namespace}/` : ''}${ref.name} not found`);
  return object;
}

/** The object's services; malformed ones are a UsageError naming the object. */
export function servicesOf(ref: ObjectRef, object: unknown): Service[] {
  try {
    return parseServices(object);
  } catch (err) {
    if (err instanceof MalformedObjectError) throw new UsageError(`${ref.kind} ${ref.name}: ${err.message}`);
    throw err;
  }
}
