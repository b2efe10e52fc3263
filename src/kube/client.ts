// Typed-enough access to kcm's custom resources at the API version discovery found: get,
// (paged) list, and merge patches as field manager chaingate. Every call has a deadline
// (timeouts.ts).
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { GROUP } from '../model/resources.ts';
import { statusCode } from './errors.ts';
import { readListPage, type KubeList } from './list-page.ts';
import { unlessNotFound } from './not-found.ts';
import { CALL_TIMEOUT_MS, withTimeout } from './timeouts.ts';

/** Objects per list page: client-go's reflector uses the same. */
export const LIST_PAGE_SIZE = 500;

export interface KcmResource {
  plural: 'servicetemplatechains' | 'clusterdeployments' | 'multiclusterservices' | 'servicetemplates' | 'servicesets';
  namespaced: boolean;
}

export const CHAINS: KcmResource = { plural: 'servicetemplatechains', namespaced: true };
export const CLUSTER_DEPLOYMENTS: KcmResource = { plural: 'clusterdeployments', namespaced: true };
export const MULTI_CLUSTER_SERVICES: KcmResource = { plural: 'multiclusterservices', namespaced: false };
export const SERVICE_TEMPLATES: KcmResource = { plural: 'servicetemplates', namespaced: true };
/** kcm v1.6+ only: written by kcm, read for what it has deployed. */
export const SERVICE_SETS: KcmResource = { plural: 'servicesets', namespaced: true };

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
   * Lists in pages of LIST_PAGE_SIZE; the pages form one consistent snapshot, and if it
   * expires between pages (410) the list starts again unpaged, as client-go's pager does.
   * `timeoutMs` bounds the whole list, every page included.
   *
   * `fromCache` asks for resourceVersion=0, as client-go's reflector does for its list: the
   * API server answers from its watch cache instead of etcd, whose page reads grow with what
   * is left to read. Watches want that. Servers that cannot page their cache answer it in
   * one piece. Reads that must see the latest state (delete protection) leave it off.
   */
  async list(resource: KcmResource, namespace?: string, timeoutMs = 30_000, fromCache = false, onItem?: (item: KubeList['items'][number]) => void): Promise<KubeList> {
    const deadline = Date.now() + timeoutMs;
    const remaining = () => Math.max(1, deadline - Date.now());
    const path = this.path(resource, namespace);
    const items: KubeList['items'] = [];
    let page: KubeList | undefined;
    let token: string | undefined;
    do {
      try {
        page = await readListPage(this.kc, path, resource.plural, remaining(), items, { limit: LIST_PAGE_SIZE, token, fromCache: fromCache && token === undefined }, onItem);
      } catch (err) {
        if (token === undefined || statusCode(err) !== 410) throw err;
        items.length = 0;
        const whole = await readListPage(this.kc, path, resource.plural, remaining(), items, {}, onItem);
        return { ...whole, items };
      }
      token = page.metadata?.continue || undefined;
    } while (token !== undefined);
    return { ...page, metadata: { ...page.metadata, continue: undefined }, items };
  }

  /** undefined when the object does not exist. */
  async get(resource: KcmResource, namespace: string, name: string, timeoutMs = CALL_TIMEOUT_MS): Promise<unknown> {
    const request = resource.namespaced
      ? this.api.getNamespacedCustomObject({ group: GROUP, version: this.version, namespace, plural: resource.plural, name })
      : this.api.getClusterCustomObject({ group: GROUP, version: this.version, plural: resource.plural, name });
    return unlessNotFound(withTimeout(request as Promise<unknown>, timeoutMs, `get ${resource.plural} ${namespace}/${name}`));
  }

  /** A JSON merge patch of the object itself (chaingate's own annotation). */
  patch(resource: KcmResource, namespace: string | undefined, name: string, body: unknown, timeoutMs = CALL_TIMEOUT_MS): Promise<unknown> {
    return this.mergePatch('object', resource, namespace, name, body, timeoutMs);
  }

  /**
   * A JSON merge patch of the status subresource. No resourceVersion is sent: the patch
   * names only the fields it owns, so it cannot conflict with other writers.
   */
  patchStatus(resource: KcmResource, namespace: string | undefined, name: string, body: unknown, timeoutMs = CALL_TIMEOUT_MS): Promise<unknown> {
    return this.mergePatch('status', resource, namespace, name, body, timeoutMs);
  }

  private mergePatch(
    target: 'object' | 'status',
    resource: KcmResource,
    namespace: string | undefined,
    name: string,
    body: unknown,
    timeoutMs: number,
  ): Promise<unknown> {
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const common = { group: GROUP, version: this.version, plural: resource.plural, name, body, fieldManager: 'chaingate' };
    const namespaced = resource.namespaced && namespace;
    const request =
      target === 'status'
        ? namespaced
          ? this.api.patchNamespacedCustomObjectStatus({ ...common, namespace }, options)
          : this.api.patchClusterCustomObjectStatus(common, options)
        : namespaced
          ? this.api.patchNamespacedCustomObject({ ...common, namespace }, options)
          : this.api.patchClusterCustomObject(common, options);
    const what = `patch ${resource.plural} ${namespace ?? ''}/${name}${target === 'status' ? ' status' : ''}`;
    return withTimeout(request as Promise<unknown>, timeoutMs, what);
  }
}
