// A tiny stand-in for kube-apiserver, serving just what the chain watch needs: discovery
// (GET /apis), list and watch of servicetemplatechains. Every fault the real one can show
// (5xx lists, 410 Gone, cut connections, stalled watches, malformed events) is a knob, so
// the unit tests can drive our wrapper around client-node's ListWatch deterministically.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export const GROUP = 'k0rdent.mirantis.com';
export const VERSION = 'v1beta1';
const PLURAL = 'servicetemplatechains';

type Json = Record<string, unknown>;

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  watch: boolean;
  at: number;
}

export interface OpenWatch {
  res: ServerResponse;
  namespace: string | undefined;
  resourceVersion: string | null;
  /** Writes one raw line (a newline is appended). */
  line(text: string): void;
  event(type: unknown, object: unknown): void;
  /** Ends the response cleanly, as the API server does at its watch timeout. */
  end(): void;
  /** Cuts the TCP connection without ending the chunked response. */
  cut(): void;
}

export interface ListRequest {
  req: IncomingMessage;
  res: ServerResponse;
  namespace: string | undefined;
  /** Answers with the current content, or with `body` (e.g. a list taken earlier). */
  reply(body?: Json): void;
  fail(status: number, message?: string): void;
}

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  readonly watches = new Set<OpenWatch>();
  /** Open watches of the other kinds chaingate reads (ServiceTemplates), which stay silent. */
  private readonly otherWatches = new Set<ServerResponse>();
  /** The "etcd" content, keyed namespace/name. */
  readonly chains = new Map<string, Json>();
  private revision = 100;
  /** Events by revision, replayed to a watch that starts from an older resourceVersion. */
  private history: Array<{ revision: number; type: string; object: Json }> = [];
  /** Watches from a resourceVersion older than this get 410 Gone (etcd compaction). */
  private compactedAt = 0;
  private server: Server | undefined;
  private port = 0;
  /** Watches get no events while this is true (a watch that is open but stalled). */
  silentWatches = false;
  /** Replaces the default list answer; return true when the request was handled. */
  onList: ((request: ListRequest) => boolean | void) | undefined;
  /** Called for every new watch, after headers are sent. */
  onWatch: ((watch: OpenWatch) => void) | undefined;
  /** Continue tokens are refused with 410 Expired, as when etcd compacted the snapshot meanwhile. */
  expireContinueTokens = false;
  /** The rest of each paged list, by continue token: later pages come from the first page's snapshot. */
  private readonly snapshots = new Map<string, { resourceVersion: string; items: Json[] }>();
  /** The next N list requests get this status instead of a list. */
  failLists: { count: number; status: number } = { count: 0, status: 500 };
  /** Serve the kcm group in discovery (false: as if the CRDs were not installed). */
  servesGroup = true;
  /** A version served beside VERSION (same objects) and preferred by discovery, as a future kcm might. */
  preferredVersion: string | undefined;
  /** When set, discovery (/apis) is answered only once this settles. */
  discoveryGate: Promise<void> | undefined;
  /** The next N watch requests get this HTTP status. */
  failWatches: { count: number; status: number } = { count: 0, status: 500 };

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get resourceVersion(): string {
    return String(this.revision);
  }

  /** Listens on `port` (0: any free port; a fixed one to play an API server coming back). */
  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', resolve);
    });
    this.port = (this.server!.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    for (const watch of this.watches) watch.cut();
    this.watches.clear();
    for (const res of this.otherWatches) res.socket?.destroy();
    this.otherWatches.clear();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** A KubeConfig for plain http (client-node accepts http only with skipTLSVerify). */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake', token: 'not-checked' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** The same kubeconfig as a file (what `serve --kubeconfig` reads); removed by the returned function. */
  kubeconfigFile(): { path: string; remove: () => void } {
    const dir = mkdtempSync(join(tmpdir(), 'chaingate-fake-kc-'));
    const path = join(dir, 'kubeconfig');
    writeFileSync(path, this.kubeConfig().exportConfig());
    return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
  }

  lists(): RecordedRequest[] {
    return this.requests.filter((r) => r.path.endsWith(PLURAL) && !r.watch);
  }

  watchRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.watch && r.path.endsWith(PLURAL));
  }

  /** Adds or replaces a chain, stamping a new resourceVersion; returns the stored object. */
  store(chain: Json, notify = true): Json {
    const meta = chain.metadata as { name: string; namespace: string };
    const key = `${meta.namespace}/${meta.name}`;
    const existed = this.chains.has(key);
    const stored = { ...chain, metadata: { ...(chain.metadata as Json), resourceVersion: String(++this.revision) } };
    this.chains.set(key, stored);
    this.record(existed ? 'MODIFIED' : 'ADDED', stored, notify);
    return stored;
  }

  /** Deletes a chain; with notify=false the watches never hear of it (a missed event). */
  remove(namespace: string, name: string, notify = true): void {
    const key = `${namespace}/${name}`;
    const stored = this.chains.get(key);
    if (!stored) return;
    this.chains.delete(key);
    const deleted = { ...stored, metadata: { ...(stored.metadata as Json), resourceVersion: String(++this.revision) } };
    this.record('DELETED', deleted, notify);
  }

  /** Forgets history: a watch resuming from an older resourceVersion is told 410 Gone. */
  compact(): void {
    this.compactedAt = this.revision;
    this.history = [];
  }

  private record(type: string, object: Json, notify: boolean): void {
    // A missed event (notify=false) is missed for good: it is not replayed either.
    if (!notify) return;
    this.history.push({ revision: this.revision, type, object });
    this.broadcast(type, object);
  }

  broadcast(type: string, object: unknown): void {
    if (this.silentWatches) return;
    for (const watch of this.watches) watch.event(type, object);
  }

  list(namespace?: string): Json {
    const items = [...this.chains.values()].filter((c) => namespace === undefined || (c.metadata as Json).namespace === namespace);
    return { apiVersion: `${GROUP}/${VERSION}`, kind: 'ServiceTemplateChainList', metadata: { resourceVersion: this.resourceVersion }, items };
  }

  /** One page of a list (limit 0: all), continuing the snapshot `token` names. */
  private page(namespace: string | undefined, limit: number, token: string | null): Json {
    const snapshot = token !== null ? this.snapshots.get(token) : undefined;
    if (token !== null) this.snapshots.delete(token);
    const all = snapshot ?? { resourceVersion: this.resourceVersion, items: this.list(namespace).items as Json[] };
    const items = limit > 0 ? all.items.slice(0, limit) : all.items;
    const metadata: Json = { resourceVersion: all.resourceVersion };
    if (items.length < all.items.length) {
      const next = `page-${this.snapshots.size}-${Date.now()}-${Math.random()}`;
      this.snapshots.set(next, { resourceVersion: all.resourceVersion, items: all.items.slice(items.length) });
      metadata.continue = next;
    }
    return { apiVersion: `${GROUP}/${VERSION}`, kind: 'ServiceTemplateChainList', metadata, items };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const watch = url.searchParams.get('watch') === 'true';
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, watch, at: Date.now() });
    if (url.pathname === '/apis') {
      const answer = () => json(res, 200, discovery(this.servesGroup, this.preferredVersion));
      return this.discoveryGate ? void this.discoveryGate.then(answer) : answer();
    }
    const served = this.preferredVersion ? `(?:${VERSION}|${this.preferredVersion})` : VERSION;
    // chaingate also watches ServiceTemplates; this fake holds none, and never sends an event for them.
    if (new RegExp(`^/apis/${GROUP}/${served}(?:/namespaces/[^/]+)?/servicetemplates$`).test(url.pathname)) {
      if (!watch) return json(res, 200, { apiVersion: `${GROUP}/${VERSION}`, kind: 'ServiceTemplateList', metadata: { resourceVersion: String(this.revision) }, items: [] });
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      this.otherWatches.add(res);
      res.on('close', () => this.otherWatches.delete(res));
      return;
    }
    const match = new RegExp(`^/apis/${GROUP}/${served}(?:/namespaces/([^/]+))?/${PLURAL}(?:/([^/]+))?$`).exec(url.pathname);
    if (!match) return json(res, 404, status(404, 'NotFound', `${url.pathname} not found`));
    const namespace = match[1] ? decodeURIComponent(match[1]) : undefined;
    const name = match[2] ? decodeURIComponent(match[2]) : undefined;
    if (name !== undefined) {
      const chain = namespace ? this.chains.get(`${namespace}/${name}`) : undefined;
      return chain ? json(res, 200, chain) : json(res, 404, status(404, 'NotFound', `servicetemplatechains "${name}" not found`));
    }
    if (watch) return this.openWatch(req, res, namespace, url.searchParams.get('resourceVersion'));
    if (this.failLists.count > 0) {
      this.failLists.count--;
      return json(res, this.failLists.status, status(this.failLists.status, 'InternalError', 'injected list failure'));
    }
    const token = url.searchParams.get('continue');
    if (token !== null && (this.expireContinueTokens || !this.snapshots.has(token))) {
      return json(res, 410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.'));
    }
    const limit = Number(url.searchParams.get('limit') ?? 0);
    const request: ListRequest = {
      req,
      res,
      namespace,
      reply: (body) => json(res, 200, body ?? this.page(namespace, limit, token)),
      fail: (code, message = 'injected failure') => json(res, code, status(code, 'InternalError', message)),
    };
    if (this.onList?.(request) === true) return;
    request.reply();
  }

  private openWatch(req: IncomingMessage, res: ServerResponse, namespace: string | undefined, resourceVersion: string | null): void {
    if (this.failWatches.count > 0) {
      this.failWatches.count--;
      return json(res, this.failWatches.status, status(this.failWatches.status, 'InternalError', 'injected watch failure'));
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const open: OpenWatch = {
      res,
      namespace,
      resourceVersion,
      line: (text) => {
        if (!res.writableEnded && !res.destroyed) res.write(`${text}\n`);
      },
      event: (type, object) => open.line(JSON.stringify({ type, object })),
      end: () => {
        this.watches.delete(open);
        if (!res.writableEnded) res.end();
      },
      cut: () => {
        this.watches.delete(open);
        req.socket.destroy();
      },
    };
    this.watches.add(open);
    res.on('close', () => this.watches.delete(open));
    const from = resourceVersion ? Number(resourceVersion) : NaN;
    if (Number.isFinite(from) && from > 0) {
      if (from < this.compactedAt) {
        open.event('ERROR', status(410, 'Expired', `too old resource version: ${from} (${this.compactedAt})`));
        open.end();
        return;
      }
      if (!this.silentWatches) for (const e of this.history) if (e.revision > from) open.event(e.type, e.object);
    }
    this.onWatch?.(open);
  }
}

function json(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function status(code: number, reason: string, message: string): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function discovery(servesGroup: boolean, preferred: string | undefined): Json {
  const gv = { groupVersion: `${GROUP}/${VERSION}`, version: VERSION };
  const preferredGv = preferred ? { groupVersion: `${GROUP}/${preferred}`, version: preferred } : gv;
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [
      { name: 'apps', versions: [{ groupVersion: 'apps/v1', version: 'v1' }], preferredVersion: { groupVersion: 'apps/v1', version: 'v1' } },
      ...(servesGroup ? [{ name: GROUP, versions: preferred ? [preferredGv, gv] : [gv], preferredVersion: preferredGv }] : []),
    ],
  };
}

/** A ServiceTemplateChain object in the shape the API server returns. */
export function chain(namespace: string, name: string, edges: Record<string, string[]>): Json {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'ServiceTemplateChain',
    metadata: { name, namespace, uid: `uid-${namespace}-${name}` },
    spec: {
      supportedTemplates: Object.entries(edges).map(([from, to]) => ({ name: from, availableUpgrades: to.map((t) => ({ name: t })) })),
    },
  };
}
