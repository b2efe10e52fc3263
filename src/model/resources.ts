// Typed views of the kcm resources chaingate reads. Both API versions (v1alpha1, v1beta1)
// share these fields, so one shape serves both; everything else on the objects is ignored.

export const GROUP = 'k0rdent.mirantis.com';
export const DEFAULT_SERVICE_NAMESPACE = 'default';

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  uid?: string;
  [key: string]: unknown;
}

export interface AvailableUpgrade {
  name: string;
  version?: string;
}

export interface SupportedTemplate {
  name: string;
  availableUpgrades?: AvailableUpgrade[];
}

export interface ServiceTemplateChain {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: { supportedTemplates?: SupportedTemplate[] };
  status?: { valid?: boolean; validationError?: string };
}

export interface Service {
  name: string;
  namespace?: string;
  template: string;
  templateChain?: string;
  /** kcm v1.6+: the version to deploy; unset means the template's resolved version. */
  version?: string;
  [key: string]: unknown;
}


export type OwnerKind = 'ClusterDeployment' | 'MultiClusterService';

/** A service is identified by namespace/name; an empty namespace means "default". */
export function serviceKey(service: Pick<Service, 'name' | 'namespace'>): string {
  return `${service.namespace || DEFAULT_SERVICE_NAMESPACE}/${service.name}`;
}

export function chainKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/**
 * Where kcm looks up the chains a kind's services name: a ClusterDeployment's own namespace;
 * for a MultiClusterService (cluster-scoped), the system namespace.
 */
export function chainNamespaceOf(kind: string | undefined, objectNamespace: string, systemNamespace: string): string {
  return kind === 'MultiClusterService' ? systemNamespace : objectNamespace;
}
