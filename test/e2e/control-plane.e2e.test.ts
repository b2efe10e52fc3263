// Checks the test control plane itself, so the other e2e suites can rely on it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { kcmCrds } from '../kcm/crds.ts';

const crdDir = kcmCrds('v1.11.4');

const chain = (namespace: string) => ({
  apiVersion: 'k0rdent.mirantis.com/v1beta1',
  kind: 'ServiceTemplateChain',
  metadata: { name: 'ingress-nginx', namespace },
  spec: {
    supportedTemplates: [
      { name: 'ingress-nginx-4-11-0', availableUpgrades: [{ name: 'ingress-nginx-4-11-3' }] },
      { name: 'ingress-nginx-4-11-3' },
    ],
  },
});

function isRunning(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('test control plane', () => {
  let cp: ControlPlane;

  // The first run builds kube-apiserver and etcd from source, which can take 10+ minutes.
  beforeAll(async () => {
    cp = await startControlPlane({ crdDir });
  }, 30 * 60_000);

  afterAll(async () => {
    await cp?.stop();
  }, 60_000);

  it('installs the kcm CRDs', async () => {
    const r = await cp.kubectl(['get', 'crd', 'servicetemplatechains.k0rdent.mirantis.com']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('stores a ServiceTemplateChain and keeps it across an API server restart', async () => {
    const ns = 'cp-e2e';
    const getChain = async (): Promise<{ spec: unknown }> => {
      const r = await cp.kubectl(['get', 'servicetemplatechain', 'ingress-nginx', '-n', ns, '-o', 'json']);
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout) as { spec: unknown };
    };

    expect((await cp.kubectl(['create', 'namespace', ns])).code).toBe(0);
    const created = await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify(chain(ns)) });
    expect(created.stderr).toBe('');
    const expectedSpec = chain(ns).spec;
    expect((await getChain()).spec).toEqual(expectedSpec);

    const before = cp.pids();
    await cp.restartApiServer();
    const after = cp.pids();
    expect(after.apiserver).not.toBe(before.apiserver);
    expect(after.etcd).toBe(before.etcd);
    expect((await getChain()).spec).toEqual(expectedSpec);
  }, 120_000);

  it('stop() kills etcd and kube-apiserver and removes its directory', async () => {
    const { etcd, apiserver } = cp.pids();
    expect(isRunning(etcd) && isRunning(apiserver)).toBe(true);
    expect(existsSync(cp.dir)).toBe(true);

    await cp.stop();

    expect(existsSync(cp.dir)).toBe(false);
    expect(isRunning(etcd)).toBe(false);
    expect(isRunning(apiserver)).toBe(false);
  }, 60_000);
});
