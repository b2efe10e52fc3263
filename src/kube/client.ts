// Connection to the API server: kubeconfig loading, discovery of the served kcm version,
// and a deadline on every outbound call (shorter than the apiserver's webhook timeout, so
// a slow API server never turns into a webhook timeout).
import { Readable } from 'node:stream';
import {
  ApisApi,
  CustomObjectsApi,
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  PatchStrategy,
  RequestContext,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { GROUP } from '../model/resources.ts';
import { isRecord } from '../model/parse.ts';
import { readListStream } from './list-stream.ts';

export const CALL_TIMEOUT_MS = 3_000;

/** Objects per list page: client-go's reflector uses the same. */
export const LIST_PAGE_SIZE = 500;

/** A non-2xx answer of the API server, with its HTTP status as `code` (like client-node's ApiException). */
export class ApiStatusError extends Error {
  override name = 'ApiStatusError';
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

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
  plural: 'servicetemplatechains' | 'clusterdeployments' | 'multiclusterservices' | 'servicetemplates' | 'servicesets';
  namespaced: boolean;
}

export const CHAINS: KcmResource = { plural: 'servicetemplatechains', namespaced: true };
export const CLUSTER_DEPLOYMENTS: KcmResource = { plural: 'clusterdeployments', namespaced: true };
export const MULTI_CLUSTER_SERVICES: KcmResource = { plural: 'multiclusterservices', namespaced: false };
export const SERVICE_TEMPLATES: KcmResource = { plural: 'servicetemplates', namespaced: true };
/** kcm v1.6+ only: written by kcm, read for what it has deployed. */
export const SERVICE_SETS: KcmResource = { plural: 'servicesets', namespaced: true };

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
   * Lists in pages of LIST_PAGE_SIZE; the pages form one consistent snapshot, and if it
   * expires between pages (410) the list starts again unpaged, as client-go's pager does.
   * `timeoutMs` bounds the whole list, every page included.
   *
   * `fromCache` asks for resourceVersion=0, as client-go's reflector does for its list: the
   * API server answers from its watch cache instead of etcd. Watches want that: a list of
   * 10,000 chains took 3.3 s from the cache and 10 s paged from etcd (whose page reads grow
   * with what is left to read). Servers that cannot page their cache answer it in one piece.
   * Reads that must see the latest state (delete protection) leave it off.
   */
  async list(resource: KcmResource, namespace?: string, timeoutMs = 30_000, fromCache = false): Promise<KubeList> {
    const deadline = Date.now() + timeoutMs;
    const remaining = () => Math.max(1, deadline - Date.now());
    const items: KubeList['items'] = [];
    let page: KubeList | undefined;
    let token: string | undefined;
    do {
      try {
        page = await this.listPage(resource, namespace, remaining(), items, { limit: LIST_PAGE_SIZE, token, fromCache: fromCache && token === undefined });
      } catch (err) {
        if (token === undefined || statusCode(err) !== 410) throw err;
        items.length = 0;
        const whole = await this.listPage(resource, namespace, remaining(), items, {});
        return { ...whole, items };
      }
      token = page.metadata?.continue || undefined;
    } while (token !== undefined);
    return { ...page, metadata: { ...page.metadata, continue: undefined }, items };
  }

  /**
   * One page, read as a stream (list-stream.ts): its items are appended to `items` one by
   * one, without managedFields and kubectl's last-applied annotation, which nothing in
   * chaingate reads and which were half of every chain's bytes.
   */
  private async listPage(
    resource: KcmResource,
    namespace: string | undefined,
    timeoutMs: number,
    items: KubeList['items'],
    paging: { limit?: number; token?: string; fromCache?: boolean },
  ): Promise<KubeList> {
    const server = this.kc.getCurrentCluster()?.server ?? '';
    const context = new RequestContext(`${server}${this.path(resource, namespace)}`, HttpMethod.GET);
    if (paging.limit !== undefined) context.setQueryParam('limit', String(paging.limit));
    if (paging.token !== undefined) context.setQueryParam('continue', paging.token);
    if (paging.fromCache) context.setQueryParam('resourceVersion', '0');
    context.setHeaderParam('Accept', 'application/json');
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new CallTimeoutError(`list ${resource.plural} took longer than ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    context.setSignal(abort.signal);
    try {
      await this.kc.applySecurityAuthentication(context);
      const response = await new IsomorphicFetchHttpLibrary().send(context).toPromise();
      const body = response.body.stream();
      if (response.httpStatusCode !== 200) {
        const text = await new Response(body).text().catch(() => '');
        let message = `list ${resource.plural}: HTTP ${response.httpStatusCode}`;
        try {
          const status = JSON.parse(text) as { message?: unknown };
          if (typeof status.message === 'string') message += `: ${status.message}`;
        } catch {
          // not a Status object: the code says enough
        }
        throw new ApiStatusError(response.httpStatusCode, message);
      }
      const rest = await readListStream(Readable.fromWeb(body as never), (item) => {
        items.push(stripBookkeeping(item));
      });
      if (!Array.isArray(rest.items)) throw new Error(`list ${resource.plural}: response has no items`);
      // Elements that were not objects stay in the list, for the caller to report and skip.
      for (const leftover of rest.items) items.push(leftover as KubeList['items'][number]);
      return rest as unknown as KubeList;
    } catch (err) {
      throw abort.signal.aborted && abort.signal.reason instanceof CallTimeoutError ? abort.signal.reason : err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * JSON merge patch of the status subresource. No resourceVersion is sent: the patch
   * names only the fields it owns, so it cannot conflict with other writers.
   */
  /** A JSON merge patch of the object itself (chaingate's own annotation), as field manager chaingate. */
  patch(resource: KcmResource, namespace: string | undefined, name: string, body: unknown, timeoutMs = CALL_TIMEOUT_MS): Promise<unknown> {
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const common = { group: GROUP, version: this.version, plural: resource.plural, name, body, fieldManager: 'chaingate' };
    const request =
      resource.namespaced && namespace
        ? this.api.patchNamespacedCustomObject({ ...common, namespace }, options)
        : this.api.patchClusterCustomObject(common, options);
    return withTimeout(request as Promise<unknown>, timeoutMs, `patch ${resource.plural} ${namespace ?? ''}/${name}`);
  }

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

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** Where stripBookkeeping leaves the field managers of status.servicesUpgradePaths (never sent anywhere). */
export const UPGRADE_PATHS_OWNERS = 'chaingate/upgradePathsOwners';

/** Field managers owning status.servicesUpgradePaths, from metadata.managedFields. */
export function upgradePathsOwners(managedFields: unknown): string[] {
  if (!Array.isArray(managedFields)) return [];
  const owners: string[] = [];
  for (const entry of managedFields) {
    if (!isRecord(entry) || typeof entry.manager !== 'string') continue;
    const fields = isRecord(entry.fieldsV1) ? entry.fieldsV1 : undefined;
    const status = fields && isRecord(fields['f:status']) ? fields['f:status'] : undefined;
    if (status && Object.hasOwn(status, 'f:servicesUpgradePaths')) owners.push(entry.manager);
  }
  return owners;
}

/**
 * The object without the bookkeeping nothing in chaingate reads (controller-runtime's
 * TransformStripManagedFields does the same); the object itself when it has none.
 */
export function stripBookkeeping<T extends { metadata?: unknown }>(object: T): T {
  const meta = object.metadata;
  if (!isRecord(meta)) return object;
  const annotations = isRecord(meta.annotations) ? meta.annotations : undefined;
  const lastApplied = annotations !== undefined && Object.hasOwn(annotations, LAST_APPLIED);
  if (meta.managedFields === undefined && !lastApplied) return object;
  const { managedFields, ...metadata } = meta;
  // The one ownership fact chaingate reads: who owns status.servicesUpgradePaths (one writer
  // per field). Kept as bare manager names, so the cache stays as lean as without them.
  const owners = upgradePathsOwners(managedFields);
  if (owners.length > 0) metadata[UPGRADE_PATHS_OWNERS] = owners;
  if (lastApplied) {
    const { [LAST_APPLIED]: _lastApplied, ...rest } = annotations;
    metadata.annotations = rest;
  }
  return { ...object, metadata };
}

/** HTTP status of a client-node error (ApiException.code) or of a watch error (statusCode). */
export function statusCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}
