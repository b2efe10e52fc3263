// kubectl's cluster flags on `chaingate paths KIND/NAME` against a real kube-apiserver (kcm
// v1.11.4 CRDs): --kubeconfig and $KUBECONFIG, --context, the context's namespace as the
// default of -n (-n wins), with -o over what it reads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { ok } from '../support/webhook.ts';
import { clusterDeploymentYaml } from '../support/manifests.ts';
import { kcmCrds } from '../kcm/crds.ts';
import { runCliProcess } from '../support/cli-run.ts';

const NS = 'team-a';

const chaingate = (args: string[], env: Record<string, string> = {}) => runCliProcess(args, env);

const v = (minor: number, patch: number) => `{name: ingress-nginx-4-${minor}-${patch}, version: "4.${minor}.${patch}"}`;
const CHAIN = `apiVersion: k0rdent.mirantis.com/v1beta1
kind: ServiceTemplateChain
metadata: {name: ingress-nginx, namespace: ${NS}}
spec:
  supportedTemplates:
    - {name: ingress-nginx-4-11-3, availableUpgrades: [${v(11, 5)}]}
    - {name: ingress-nginx-4-11-5, availableUpgrades: []}
`;

describe('paths KIND/NAME: --kubeconfig, --context, the context namespace, -n', () => {
  let cluster: ControlPlane;
  let dir: string;
  let kubeconfig: string;
  let teamCurrent: string;

  beforeAll(async () => {
    cluster = await startControlPlane({ crdDir: kcmCrds('v1.11.4') });
    await ok(cluster, ['create', 'namespace', NS]);
    await ok(cluster, ['apply', '-f', '-'], [CHAIN, clusterDeploymentYaml('web', NS, [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-3', chain: 'ingress-nginx' }])].join('---\n'));
    // The cluster's kubeconfig with two more contexts: "team" names team-a, "elsewhere" kube-system.
    dir = mkdtempSync(join(tmpdir(), 'chaingate-cluster-flags-'));
    const config = parse(readFileSync(cluster.kubeconfig, 'utf8')) as { contexts: { name: string; context: Record<string, string> }[]; 'current-context': string };
    const base = config.contexts.find((c) => c.name === config['current-context'])!.context;
    expect(base.namespace).toBeUndefined();
    config.contexts.push({ name: 'team', context: { ...base, namespace: NS } }, { name: 'elsewhere', context: { ...base, namespace: 'kube-system' } });
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, stringify(config));
    teamCurrent = join(dir, 'kubeconfig-team');
    writeFileSync(teamCurrent, stringify({ ...config, 'current-context': 'team' }));
  });

  afterAll(async () => {
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const TEMPLATES = ['-o', 'jsonpath={range .servicesUpgradePaths[*]}{.name} {.template} {.availableUpgrades[*].upgradePaths[-1]}{end}'];

  it('--context: its namespace is the default of -n', async () => {
    const r = await chaingate(['paths', 'clusterdeployment/web', '--kubeconfig', kubeconfig, '--context', 'team', ...TEMPLATES]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('ingress-nginx ingress-nginx-4-11-3 ingress-nginx-4-11-5\n');
  });

  it('the current context of $KUBECONFIG, as kubectl', async () => {
    const r = await chaingate(['paths', 'clusterdeployment/web', '-o', 'name'], { KUBECONFIG: teamCurrent });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('servicetemplate.k0rdent.mirantis.com/ingress-nginx-4-11-5');
  });

  it('-n wins over the context namespace; without either, "default"', async () => {
    const wins = await chaingate(['paths', 'clusterdeployment/web', '--kubeconfig', kubeconfig, '--context', 'elsewhere', '-n', NS, ...TEMPLATES]);
    expect(wins.code, wins.stderr).toBe(0);
    expect(wins.stdout).toBe('ingress-nginx ingress-nginx-4-11-3 ingress-nginx-4-11-5\n');
    const elsewhere = await chaingate(['paths', 'clusterdeployment/web', '--kubeconfig', kubeconfig, '--context', 'elsewhere']);
    expect(elsewhere).toMatchObject({ code: 2, stdout: '' });
    expect(elsewhere.stderr).toContain('ClusterDeployment kube-system/web not found');
    const plain = await chaingate(['paths', 'clusterdeployment/web', '--kubeconfig', kubeconfig]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain('ClusterDeployment default/web not found');
  });

  it('a context or kubeconfig that is not there is bad input (exit 2), nothing printed', async () => {
    const context = await chaingate(['paths', 'clusterdeployment/web', '--kubeconfig', kubeconfig, '--context', 'nope']);
    expect(context).toMatchObject({ code: 2, stdout: '' });
    expect(context.stderr).toContain('--context nope: no such context in the kubeconfig');
    const file = await chaingate(['paths', 'clusterdeployment/web', '--kubeconfig', join(dir, 'missing')]);
    expect(file).toMatchObject({ code: 2, stdout: '' });
    expect(file.stderr).toContain(`--kubeconfig ${join(dir, 'missing')}: no such file or directory`);
  });
});
