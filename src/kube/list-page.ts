// One page of a list, read as a stream (list-stream.ts) rather than parsed whole: its items
// are handed over one by one, already without their bookkeeping (bookkeeping.ts), which
// nothing in chaingate reads. Their managedFields, three quarters of a chain's bytes, are
// not even parsed unless they name an owner of status.servicesUpgradePaths.
import { Readable } from 'node:stream';
import { HttpMethod, IsomorphicFetchHttpLibrary, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { managedFieldsUnread, stripBookkeeping } from './bookkeeping.ts';
import { ApiStatusError } from './errors.ts';
import { readListStream } from './list-stream.ts';
import { CallTimeoutError } from './timeouts.ts';

export interface KubeList {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: Array<{ metadata?: { name?: string; namespace?: string; resourceVersion?: string } } & Record<string, unknown>>;
}

export interface PageRequest {
  limit?: number;
  /** The previous page's metadata.continue. */
  token?: string;
  /** resourceVersion=0: answered from the API server's watch cache. */
  fromCache?: boolean;
}

/**
 * GETs `path` (a list URL path) and appends its items to `items`; returns the list without
 * the items it appended. `what` names the resource in error messages. `onItem` sees each
 * item as soon as it is read, while the rest of the list is still arriving.
 */
export async function readListPage(
  kc: KubeConfig,
  path: string,
  what: string,
  timeoutMs: number,
  items: KubeList['items'],
  paging: PageRequest,
  onItem?: (item: KubeList['items'][number]) => void,
): Promise<KubeList> {
  const server = kc.getCurrentCluster()?.server ?? '';
  const context = new RequestContext(`${server}${path}`, HttpMethod.GET);
  if (paging.limit !== undefined) context.setQueryParam('limit', String(paging.limit));
  if (paging.token !== undefined) context.setQueryParam('continue', paging.token);
  if (paging.fromCache) context.setQueryParam('resourceVersion', '0');
  context.setHeaderParam('Accept', 'application/json');
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new CallTimeoutError(`list ${what} took longer than ${timeoutMs} ms`)), timeoutMs);
  timer.unref();
  context.setSignal(abort.signal);
  try {
    await kc.applySecurityAuthentication(context);
    const response = await new IsomorphicFetchHttpLibrary().send(context).toPromise();
    const body = response.body.stream();
    if (response.httpStatusCode !== 200) throw await statusError(body, response.httpStatusCode, what);
    const rest = await readListStream(Readable.fromWeb(body as never), (item) => {
      const stripped = stripBookkeeping(item);
      items.push(stripped);
      onItem?.(stripped);
    }, { skipManagedFields: managedFieldsUnread });
    if (!Array.isArray(rest.items)) throw new Error(`list ${what}: response has no items`);
    // Elements that were not objects stay in the list, for the caller to report and skip.
    for (const leftover of rest.items) items.push(leftover as KubeList['items'][number]);
    return rest as unknown as KubeList;
  } catch (err) {
    throw abort.signal.aborted && abort.signal.reason instanceof CallTimeoutError ? abort.signal.reason : err;
  } finally {
    clearTimeout(timer);
  }
}

/** The error for a non-200 answer, with the Status object's message when the body is one. */
async function statusError(body: ReadableStream | null, code: number, what: string): Promise<ApiStatusError> {
  const text = await new Response(body).text().catch(() => '');
  let message = `list ${what}: HTTP ${code}`;
  try {
    const status = JSON.parse(text) as { message?: unknown };
    if (typeof status.message === 'string') message += `: ${status.message}`;
  } catch {
    // not a Status object: the code says enough
  }
  return new ApiStatusError(code, message);
}
