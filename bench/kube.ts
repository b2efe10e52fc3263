// Helpers for the benchmarks that run against the test control plane.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';

export const GROUP = 'k0rdent.mirantis.com';
export const VERSION = 'v1beta1';

export function customObjects(kubeconfig: string): CustomObjectsApi {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return kc.makeApiClient(CustomObjectsApi);
}

export const mergePatch = () => setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        await task(i);
      }
    }),
  );
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A GET of `path` with the admin certificate of a test control plane (`dir`): when its first and last bytes arrived, and its size. */
export function timeList(server: string, dir: string, path: string, headers: Record<string, string> = {}): Promise<{ firstByteMs: number; lastByteMs: number; bytes: number }> {
  const pki = (name: string) => readFileSync(`${dir}/pki/${name}`, 'utf8');
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, server), { ca: pki('ca.crt'), cert: pki('admin.crt'), key: pki('admin.key'), headers: { accept: 'application/json', ...headers } }, (res) => {
      let firstByteMs = 0;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        if (bytes === 0) firstByteMs = performance.now() - t0;
        bytes += chunk.length;
      });
      res.on('end', () => (res.statusCode === 200 ? resolve({ firstByteMs, lastByteMs: performance.now() - t0, bytes }) : reject(new Error(`list answered ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
