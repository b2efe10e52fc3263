// Connection to the API server: kubeconfig loading, discovery of the served kcm version,
// and a deadline on every outbound call (shorter than the apiserver's webhook timeout, so
// a slow API server never turns into a webhook timeout).
import { ApisApi, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP } from '../model/resources.ts';

export const CALL_TIMEOUT_MS = 3_000;

/** Objects per list page: client-go's reflector uses the same. */
export const LIST_PAGE_SIZE = 500;

export class CallTimeoutError extends Error {
  override name = 'CallTimeoutError';
}

export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('kubeconfig has no current cluster');
  return kc;
}

/** Resolves or rejects within `ms`; the underlying request is left to finish on its own. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CallTimeoutError(`${what} took longer than ${ms} ms`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The API server answered, and kcm's CRDs are not installed: a configuration error, not an outage. */
export class GroupNotServedError extends Error {
  override name = 'GroupNotServedError';
}

/** What to use until discovery succeeds: every kcm release since v1.0 serves v1beta1. */
export const ASSUMED_VERSION = 'v1beta1';

/** The kcm API version the server prefers (v1beta1 on current kcm, either on v1.0). */
export async function preferredVersion(kc: KubeConfig): Promise<string> {
  const groups = await withTimeout(kc.makeApiClient(ApisApi).getAPIVersions(), CALL_TIMEOUT_MS, 'API discovery');
  const group = groups.groups.find((g) => g.name === GROUP);
  if (!group) throw new GroupNotServedError(`the API server does not serve ${GROUP}: install the kcm CRDs first`);
  return group.preferredVersion?.version ?? group.versions[0]!.version;
}

export interface KcmResource {
  plural: 'servicetemplatechains' | 'clusterdeployments' | 'multiclusterservices' | 'servicetemplates';
  namespaced: boolean;
}

export const CHAINS: KcmResource = { plural: 'servicetemplatechains', namespaced: true };
export const CLUSTER_DEPLOYMENTS: KcmResource = { plural: 'clusterdeployments', namespaced: true };
export const MULTI_CLUSTER_SERVICES: KcmResource = { plural: 'multiclusterservices', namespaced: false };
export const SERVICE_TEMPLATES: KcmResource = { plural: 'servicetemplates', namespaced: true };

/** Typed-enough access to kcm custom resources at one API version. */
export class KcmClient {
  readonly kc: KubeConfig;
  /** Mutable: set again when discovery, failed at start-up, succeeds later. */
  version: string;
  readonly api: CustomObjectsApi;

  constructor(kc: KubeConfig, version: string) {
    this.kc = kc;
    this.version = version;
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  path(resource: KcmResource, namespace?: string): string {
    const scope = resource.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `/apis/${GROUP}/${this.version}${scope}/${resource.plural}`;
  }

  /**
   * Lists in pages of LIST_PAGE_SIZE, as client-go's reflector does: the API server builds
   * and this process parses one page at a time, instead of one response holding every object
   * (28 MiB of JSON for 10,000 chains). The pages form one consistent snapshot. If the
   * snapshot expires between pages (410), the list starts again unpaged, as client-go's pager does.
   * `timeoutMs` bounds the whole list, every page included.
   */
  async list(resource: KcmResource, namespace?: string, timeoutMs = 30_000): Promise<KubeList> {
    const deadline = Date.now() + timeoutMs;
    const remaining = () => Math.max(1, deadline - Date.now());
    const items: KubeList['items'] = [];
    let page: KubeList | undefined;
    let token: string | undefined;
    do {
      try {
        page = await withTimeout(this.listPage(resource, namespace, LIST_PAGE_SIZE, token), remaining(), `list ${resource.plural}`);
      } catch (err) {
        if (token === undefined || statusCode(err) !== 410) throw err;
        return withTimeout(this.listPage(resource, namespace), remaining(), `list ${resource.plural}`);
      }
      if (!Array.isArray(page?.items)) return page; // the caller reports the malformed response
      for (const item of page.items) items.push(item);
      token = page.metadata?.continue || undefined;
    } while (token !== undefined);
    return { ...page, metadata: { ...page.metadata, continue: undefined }, items };
  }

  private listPage(resource: KcmResource, namespace?: string, limit?: number, token?: string): Promise<KubeList> {
    const paging = { ...(limit !== undefined ? { limit } : {}), ...(token !== undefined ? { _continue: token } : {}) };
    const request =
      resource.namespaced && namespace
        ? this.api.listNamespacedCustomObject({ group: GROUP, version: this.version, namespace, plural: resource.plural, ...paging })
        : this.api.listClusterCustomObject({ group: GROUP, version: this.version, plural: resource.plural, ...paging });
    return request as Promise<KubeList>;
  }

  /**
   * JSON merge patch of the status subresource. No resourceVersion is sent: the patch
   * names only the fields it owns, so it cannot conflict with other writers.
   */
  patchStatus(resource: KcmResource, namespace: string | undefined, name: string, body: unknown, timeoutMs = CALL_TIMEOUT_MS): Promise<unknown> {
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const common = { group: GROUP, version: this.version, plural: resource.plural, name, body, fieldManager: 'chaingate' };
    const request =
      resource.namespaced && namespace
        ? this.api.patchNamespacedCustomObjectStatus({ ...common, namespace }, options)
        : this.api.patchClusterCustomObjectStatus(common, options);
    return withTimeout(request as Promise<unknown>, timeoutMs, `patch ${resource.plural} ${namespace ?? ''}/${name} status`);
  }

  /** undefined when the object does not exist. */
  async get(resource: KcmResource, namespace: string, name: string, timeoutMs = CALL_TIMEOUT_MS): Promise<unknown> {
    const request = resource.namespaced
      ? this.api.getNamespacedCustomObject({ group: GROUP, version: this.version, namespace, plural: resource.plural, name })
      : this.api.getClusterCustomObject({ group: GROUP, version: this.version, plural: resource.plural, name });
    try {
      return await withTimeout(request as Promise<unknown>, timeoutMs, `get ${resource.plural} ${namespace}/${name}`);
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }
}

export interface KubeList {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: Array<{ metadata?: { name?: string; namespace?: string; resourceVersion?: string } } & Record<string, unknown>>;
}

/** HTTP status of a client-node error (ApiException.code) or of a watch error (statusCode). */
export function statusCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}
