// `chaingate chain generate` and `chaingate chain diff` against kube-apiserver (kcm v1.11.4's
// CRDs) with chaingate serving the webhook: ServiceTemplates with versions are created, the
// chain generated from the cluster is applied with kubectl, a sequential upgrade along it is
// admitted and a skip refused, and `chain diff` in live mode names an affected ClusterDeployment.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { ok, refused, registerWebhook } from '../support/webhook.ts';
import { clusterDeploymentYaml, eventually } from '../support/manifests.ts';
import { kcmCrds } from '../kcm/crds.ts';
import { main } from '../../src/cli/commands.ts';

const NS = 'kcm-system';
const TEMPLATES = fileURLToPath(new URL('../../examples/chain-generate/ingress-nginx.yaml', import.meta.url));

async function chaingateCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

const cd = (name: string, template: string, chain: string) => clusterDeploymentYaml(name, NS, [{ name: 'ingress-nginx', template, chain }]);

describe('chain generate and chain diff on kube-apiserver', () => {
  let cluster: ControlPlane;
  let chaingate: ChaingateProcess;
  let dir: string;
  const live = (...args: string[]) => chaingateCli([...args, '--kubeconfig', cluster.kubeconfig, '-n', NS]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chaingate-chain-authoring-'));
    cluster = await startControlPlane({ crdDir: kcmCrds('v1.11.4') });
    await ok(cluster, ['create', 'namespace', NS]);
    chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, '--controller=false']);
    await registerWebhook(cluster, chaingate);
    await ok(cluster, ['apply', '-f', TEMPLATES]);
  }, 300_000);

  afterAll(async () => {
    await chaingate?.stop();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('generates from the cluster the chain it generates from the files, and kubectl applies it', async () => {
    const fromCluster = await live('chain', 'generate');
    expect(fromCluster.code, fromCluster.stderr).toBe(0);
    expect(fromCluster.stdout).toBe((await chaingateCli(['chain', 'generate', '-f', TEMPLATES])).stdout);
    expect(await ok(cluster, ['apply', '-f', '-'], fromCluster.stdout)).toContain('servicetemplatechain.k0rdent.mirantis.com/ingress-nginx created');
    const replaces = await live('chain', 'generate', '--mode', 'replaces', '--name', 'ingress-nginx-replaces');
    expect(replaces.code, replaces.stderr).toBe(0);
    expect(await ok(cluster, ['apply', '-f', '-'], replaces.stdout)).toContain('servicetemplatechain.k0rdent.mirantis.com/ingress-nginx-replaces created');
  });

  it('admits a sequential upgrade along the generated chain, naming the steps kcm will deploy', async () => {
    await ok(cluster, ['apply', '-f', '-'], cd('walk', 'ingress-nginx-4-11-0', 'ingress-nginx'));
    // chaingate's ServiceTemplate cache may be a moment behind the templates applied above.
    const result = await eventually(
      () => cluster.kubectl(['apply', '-f', '-'], { input: cd('walk', 'ingress-nginx-4-13-0', 'ingress-nginx') }),
      (r) => r.code === 0,
      { what: 'the sequential upgrade admitted', timeoutMs: 60_000, intervalMs: 1_000 },
    );
    expect(result.stderr).toContain(
      'kcm will upgrade in 5 steps: ingress-nginx-4-11-3 (4.11.3) -> ingress-nginx-4-11-5 (4.11.5) -> ingress-nginx-4-12-0-rc-1 (4.12.0-rc.1) -> ingress-nginx-4-12-3 (4.12.3) -> ingress-nginx-4-13-0 (4.13.0)',
    );
  });

  it('refuses a skip to a template the replaces chain gives no path to', async () => {
    await ok(cluster, ['apply', '-f', '-'], cd('skip', 'ingress-nginx-4-11-0', 'ingress-nginx-replaces'));
    const stderr = await refused(cluster, ['apply', '-f', '-'], cd('skip', 'ingress-nginx-4-12-0-rc-1', 'ingress-nginx-replaces'));
    expect(stderr).toContain("service ingress-nginx/ingress-nginx can't be upgraded from ingress-nginx-4-11-0 to ingress-nginx-4-12-0-rc-1");
    expect(stderr).toContain(
      'ServiceTemplateChain kcm-system/ingress-nginx-replaces has no upgrade ingress-nginx-4-11-0 -> ingress-nginx-4-12-0-rc-1; direct upgrades from ingress-nginx-4-11-0: ingress-nginx-4-11-3, ingress-nginx-4-11-5',
    );
  });

  it('chain diff, live: names the ClusterDeployment whose current template the replacement drops', async () => {
    await ok(cluster, ['apply', '-f', '-'], cd('stays', 'ingress-nginx-4-11-3', 'ingress-nginx'));
    const newer = join(dir, 'newer.yaml');
    writeFileSync(newer, (await chaingateCli(['chain', 'generate', '-f', TEMPLATES, '--from', '4.12.3'])).stdout);
    const diff = await live('chain', 'diff', 'servicetemplatechain/ingress-nginx', newer);
    expect(diff.stderr).toBe('');
    expect(diff.stdout.split('\n')).toEqual([
      '- template ingress-nginx-4-11-0',
      '- template ingress-nginx-4-11-3',
      '- template ingress-nginx-4-11-5',
      '- template ingress-nginx-4-12-0-rc-1',
      '- upgrade ingress-nginx-4-11-0 -> ingress-nginx-4-11-3 (4.11.3)',
      '- upgrade ingress-nginx-4-11-3 -> ingress-nginx-4-11-5 (4.11.5)',
      '- upgrade ingress-nginx-4-11-5 -> ingress-nginx-4-12-0-rc-1 (4.12.0-rc.1)',
      '- upgrade ingress-nginx-4-12-0-rc-1 -> ingress-nginx-4-12-3 (4.12.3)',
      '! ClusterDeployment kcm-system/stays: service ingress-nginx/ingress-nginx is on ingress-nginx-4-11-3, which kcm-system/ingress-nginx does not support (kcm stops computing its upgrades)',
    ]);
    // A swap that strands a deployed service fails, as a refused `validate` does.
    expect(diff.code).toBe(1);
    // The two live chains: `walk` (on 4-13-0) keeps its support; nothing on the replaces chain.
    const between = await live('chain', 'diff', 'servicetemplatechain/ingress-nginx', 'servicetemplatechain/ingress-nginx-replaces', '-o', 'json');
    expect(between.code, between.stderr).toBe(0);
    const report = JSON.parse(between.stdout);
    expect(report.upgradesRemoved).toContainEqual({ from: 'ingress-nginx-4-11-5', to: 'ingress-nginx-4-12-0-rc-1', version: '4.12.0-rc.1' });
    expect(report.upgradesAdded).toContainEqual({ from: 'ingress-nginx-4-11-5', to: 'ingress-nginx-4-13-0', version: '4.13.0' });
    // `stays` (4-11-3) keeps its one upgrade, to 4-11-5, which it replaces.
    expect(report.affected).toEqual([]);
  });
});
