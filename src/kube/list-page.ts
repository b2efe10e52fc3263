// One page of a list, read as a stream (list-stream.ts) rather than parsed whole: its items
// are handed over one by one, already without their bookkeeping (bookkeeping.ts), which
// nothing in chaingate reads. Their managedFields, most of a chain's bytes, are
// not even parsed unless they name an owner of status.servicesUpgradePaths.
//
// The request goes through undici's request() with the dispatcher client-node's
// authentication sets up (TLS client certificates, CA, proxy), not through fetch: fetch hands
// the body over as a web stream of 16 KiB gunzipped chunks, and the stream's and zlib's work
// per chunk was a large share of the CPU a big list took (BENCHMARKS.md, section 10). Here
// the gzipped body goes through one zlib stream with larger output chunks, as a Node stream.
import { pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { request } from 'undici';
import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { managedFieldsUnread, stripBookkeeping } from './bookkeeping.ts';
import { ApiStatusError } from './errors.ts';
import { readListStream } from './list-stream.ts';
import { CallTimeoutError } from './timeouts.ts';

/** zlib's output chunk for a list: larger than its default, so a big list costs fewer chunks' work. */
const GUNZIP_CHUNK_BYTES = 128 * 1024;

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
  try {
    await kc.applySecurityAuthentication(context);
    const response = await request(context.getUrl(), {
      method: 'GET',
      headers: { ...context.getHeaders(), 'accept-encoding': 'gzip' },
      signal: abort.signal,
      dispatcher: context.getDispatcher(),
    });
    if (response.statusCode !== 200) throw await statusError(response.body, response.statusCode, what);
    const rest = await readListStream(decoded(response.body, response.headers['content-encoding'], what), (item) => {
      const stripped = stripBookkeeping(item);
      items.push(stripped);
      onItem?.(stripped);
    }, { skipManagedFields: managedFieldsUnread });
    if (!Array.isArray(rest.items)) throw new Error(`list ${what}: response has no items`);
    // Elements that were not objects stay in the list, for the caller to report and skip.
    for (const leftover of rest.items) items.push(leftover as KubeList['items'][number]);
    return rest as unknown as KubeList;
  } catch (err) {
    if (abort.signal.aborted && abort.signal.reason instanceof CallTimeoutError) throw abort.signal.reason;
    if (String((err as NodeJS.ErrnoException)?.code).startsWith('Z_')) throw new Error(`list ${what}: the gzipped response is corrupt (${(err as Error).message})`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** The body as JSON bytes: gunzipped when the server compressed it; any other coding is refused. */
function decoded(body: Readable, encoding: string | string[] | undefined, what: string): Readable {
  const coding = (Array.isArray(encoding) ? encoding.join(',') : (encoding ?? '')).trim().toLowerCase();
  if (coding === '' || coding === 'identity') return body;
  if (coding !== 'gzip') {
    body.on('error', () => {}); // undici's body reports its own destruction as an AbortError
    body.destroy();
    throw new Error(`list ${what}: the API server answered with content-encoding ${JSON.stringify(coding)}, which was not asked for`);
  }
  // pipeline: a body that fails part way fails the gunzip stream, and so the read, with it.
  return pipeline(body, createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES }), () => {});
}

/** The error for a non-200 answer, with the Status object's message when the body is one. */
async function statusError(body: { text(): Promise<string> }, code: number, what: string): Promise<ApiStatusError> {
  const text = await body.text().catch(() => '');
  let message = `list ${what}: HTTP ${code}`;
  try {
    const status = JSON.parse(text) as { message?: unknown };
    if (typeof status.message === 'string') message += `: ${status.message}`;
  } catch {
    // not a Status object: the code says enough
  }
  return new ApiStatusError(code, message);
}
