// readListPage against a plain HTTP server that answers as the API server would, and as it
// never should: gzipped and identity bodies, Status errors, corrupt and cut gzip, a coding
// that was not asked for, and a server that answers too slowly.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { KubeConfig } from '@kubernetes/client-node';
import { readListPage, type KubeList } from '../../src/kube/list-page.ts';
import { ApiStatusError } from '../../src/kube/errors.ts';
import { CallTimeoutError } from '../../src/kube/timeouts.ts';
import { stripBookkeeping } from '../../src/kube/bookkeeping.ts';

let server: Server | undefined;
const seen: IncomingMessage[] = [];

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
  seen.length = 0;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<KubeConfig> {
  server = createServer((req, res) => {
    seen.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

const owner = { manager: 'kcm', operation: 'Update', fieldsV1: { 'f:status': { 'f:servicesUpgradePaths': {} } } };
const chainItem = (i: number) => ({
  apiVersion: 'k0rdent.mirantis.com/v1beta1',
  kind: 'ServiceTemplateChain',
  metadata: {
    name: `chain-${i}`,
    namespace: 'team-a',
    resourceVersion: String(100 + i),
    managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:spec': { 'f:supportedTemplates': { [`k:{"name":"t-${i}"}`]: { '.': {} } } } } }, ...(i % 7 === 0 ? [owner] : [])],
  },
  spec: { supportedTemplates: [{ name: `t-${i}`, availableUpgrades: [{ name: `t-${i + 1}` }] }] },
});
const listBody = (count: number) => JSON.stringify({ apiVersion: 'k0rdent.mirantis.com/v1beta1', kind: 'ServiceTemplateChainList', metadata: { resourceVersion: '999' }, items: Array.from({ length: count }, (_, i) => chainItem(i)) });

/** The body's items parsed whole, then stripped: what a streamed read must hand over. */
const strippedItems = (body: string) => (JSON.parse(body) as { items: Array<{ metadata: unknown }> }).items.map(stripBookkeeping);

const read = async (kc: KubeConfig, timeoutMs = 10_000) => {
  const items: KubeList['items'] = [];
  const rest = await readListPage(kc, '/apis/k0rdent.mirantis.com/v1beta1/servicetemplatechains', 'servicetemplatechains', timeoutMs, items, { fromCache: true, limit: 500 });
  return { items, rest };
};

describe('readListPage', () => {
  it('reads a gzipped list across many zlib chunks, as the API server sends it, with the request it should', async () => {
    const body = listBody(3_000); // several MB inflated: many 128 KiB output chunks
    const kc = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(body));
    });
    const { items, rest } = await read(kc);
    expect(items).toEqual(strippedItems(body));
    expect(items[7]!.metadata).toMatchObject({ 'chaingate/upgradePathsOwners': ['kcm'] });
    expect(items[1]!.metadata).not.toHaveProperty('managedFields');
    expect(rest).toMatchObject({ kind: 'ServiceTemplateChainList', metadata: { resourceVersion: '999' } });
    const request = seen[0]!;
    expect(request.headers['accept-encoding']).toBe('gzip');
    expect(request.headers.authorization).toBe('Bearer secret-token');
    expect(request.headers.accept).toBe('application/json');
    expect(new URL(request.url!, 'http://x').searchParams.toString()).toBe('limit=500&resourceVersion=0');
  });

  it('reads an uncompressed list the same', async () => {
    const body = listBody(50);
    const kc = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    const { items } = await read(kc);
    expect(items).toEqual(strippedItems(body));
  });

  it('reports a Status answer with its code and message, and any other error answer by its code', async () => {
    let answer = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 403, message: 'servicetemplatechains is forbidden: User "x" cannot list' });
    const kc = await serve((_req, res) => res.writeHead(answer.startsWith('{') ? 403 : 502, { 'content-type': 'application/json' }).end(answer));
    const forbidden = await read(kc).catch((err: unknown) => err);
    expect(forbidden).toBeInstanceOf(ApiStatusError);
    expect(forbidden).toMatchObject({ code: 403, message: 'list servicetemplatechains: HTTP 403: servicetemplatechains is forbidden: User "x" cannot list' });
    answer = '<html>bad gateway</html>';
    await expect(read(kc)).rejects.toMatchObject({ code: 502, message: 'list servicetemplatechains: HTTP 502' });
  });

  it('refuses corrupt gzip, gzip cut short, and a coding it did not ask for, with errors that say so', async () => {
    const gzipped = gzipSync(listBody(500));
    let mode: 'corrupt' | 'cut' | 'br' = 'corrupt';
    const kc = await serve((_req, res) => {
      if (mode === 'br') return void res.writeHead(200, { 'content-encoding': 'br' }).end('not brotli');
      res.writeHead(200, { 'content-encoding': 'gzip' });
      if (mode === 'corrupt') return void res.end(Buffer.concat([gzipped.subarray(0, 40), Buffer.alloc(4_000, 0x55)]));
      res.write(gzipped.subarray(0, gzipped.length >> 1));
      setTimeout(() => res.socket?.destroy(), 50); // the connection drops half way
    });
    await expect(read(kc)).rejects.toThrow(/^list servicetemplatechains: the gzipped response is corrupt \(/);
    mode = 'cut';
    await expect(read(kc)).rejects.toThrow();
    mode = 'br';
    await expect(read(kc)).rejects.toThrow('list servicetemplatechains: the API server answered with content-encoding "br", which was not asked for');
  });

  it('refuses malformed JSON part way through a large body, gzipped or not, and leaves nothing behind', async () => {
    const body = listBody(2_000);
    const at = body.indexOf('"spec":', body.length >> 1) + '"spec":'.length;
    const broken = `${body.slice(0, at)}:${body.slice(at)}`; // one item in the middle reads "spec"::{
    let gzip = false;
    const kc = await serve((_req, res) => {
      res.writeHead(200, gzip ? { 'content-encoding': 'gzip' } : {});
      res.end(gzip ? gzipSync(broken) : broken);
    });
    await expect(read(kc)).rejects.toThrow(SyntaxError);
    gzip = true;
    await expect(read(kc)).rejects.toThrow(SyntaxError);
    await new Promise((resolve) => setTimeout(resolve, 100)); // an error emitted late would fail the run here
  });

  it('gives up on a server that never answers, or trickles its body, when the deadline passes', async () => {
    let mode: 'silent' | 'trickle' = 'silent';
    const timers: NodeJS.Timeout[] = [];
    const kc = await serve((_req, res) => {
      if (mode === 'silent') return; // headers never come
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"kind":"List","items":[');
      timers.push(setInterval(() => res.write(' '), 20));
    });
    try {
      const silent = await read(kc, 300).catch((err: unknown) => err);
      expect(silent).toBeInstanceOf(CallTimeoutError);
      expect((silent as Error).message).toBe('list servicetemplatechains took longer than 300 ms');
      mode = 'trickle';
      await expect(read(kc, 300)).rejects.toBeInstanceOf(CallTimeoutError);
    } finally {
      for (const timer of timers) clearInterval(timer);
    }
  });
});
