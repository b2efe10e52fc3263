// ServiceTemplateChain DELETE protection through a real kube-apiserver (kcm CRDs v1.11.4) and
// the real kubectl: a MultiClusterService (cluster-scoped) that selects a ClusterDeployment by
// label and names the chain keeps the chain in that ClusterDeployment's namespace alive, as kcm
// resolves it there; a copy kcm's AccessManagement manages is deleted with a warning.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { ok, refused, registerWebhook } from '../support/webhook.ts';
import { kcmCrds } from '../kcm/crds.ts';

const NS = 'team-a';
const KYVERNO = { 'kyverno-3-2-0': ['kyverno-3-3-0'], 'kyverno-3-3-0': [] };

function chain(name: string, namespace: string, edges: Record<string, string[]>, labels: Record<string, string> = {}): string {
  const supported = Object.entries(edges)
    .map(([from, to]) => `    - name: ${from}\n${to.length ? `      availableUpgrades:\n${to.map((t) => `        - name: ${t}`).join('\n')}\n` : ''}`)
    .join('');
  const labelLines = Object.entries(labels).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}\n`).join('');
  return `apiVersion: k0rdent.mirantis.com/v1beta1
kind: ServiceTemplateChain
metadata:
  name: ${name}
  namespace: ${namespace}
${labelLines ? `  labels:\n${labelLines}` : ''}spec:
  supportedTemplates:
${supported}`;
}

function kyvernoService(templateChain?: string): string {
  return `      - name: kyverno\n        namespace: kyverno\n        template: kyverno-3-2-0\n${templateChain ? `        templateChain: ${templateChain}\n` : ''}`;
}

function clusterDeployment(name: string, labels: Record<string, string>, services: string): string {
  return `apiVersion: k0rdent.mirantis.com/v1beta1
kind: ClusterDeployment
metadata:
  name: ${name}
  namespace: ${NS}
  labels:
${Object.entries(labels).map(([k, v]) => `    ${k}: ${v}\n`).join('')}spec:
  template: adopted-cluster-1-0-0
  credential: demo-credential
  serviceSpec:
    services:
${services}`;
}

function multiClusterService(name: string, selector: string, services: string): string {
  return `apiVersion: k0rdent.mirantis.com/v1beta1
kind: MultiClusterService
metadata:
  name: ${name}
spec:
  clusterSelector:
${selector}  serviceSpec:
    services:
${services}`;
}

describe('ServiceTemplateChain DELETE protection on kube-apiserver with kcm CRDs v1.11.4', () => {
  let cluster: ControlPlane;
  let chaingate: ChaingateProcess;
  const apply = (yaml: string) => ok(cluster, ['apply', '-f', '-'], yaml);

  beforeAll(async () => {
    cluster = await startControlPlane({ crdDir: kcmCrds('v1.11.4') });
    chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, '--log-level', 'info']);
    await registerWebhook(cluster, chaingate);
    await ok(cluster, ['create', 'namespace', 'kcm-system']);
    await ok(cluster, ['create', 'namespace', NS]);
  });

  afterAll(async () => {
    await chaingate?.stop();
    await cluster?.stop();
  });

  it('refuses deleting a chain a MultiClusterService resolves through a ClusterDeployment it selects by label, until it stops naming it', async () => {
    // chaingate checks an MCS's chains in the system namespace; kcm also resolves them, per
    // selected cluster, in that cluster's namespace: both copies exist.
    await apply(chain('kyverno', 'kcm-system', KYVERNO));
    await apply(chain('kyverno', NS, KYVERNO));
    // The ClusterDeployment itself does not name the chain.
    await apply(clusterDeployment('dev', { env: 'dev', team: 'a' }, kyvernoService()));
    await apply(clusterDeployment('prod', { env: 'prod' }, kyvernoService()));
    await apply(
      multiClusterService(
        'global-kyverno',
        '    matchExpressions:\n      - key: env\n        operator: In\n        values: [dev, qa]\n      - key: frozen\n        operator: DoesNotExist\n',
        kyvernoService('kyverno'),
      ),
    );
    // Names the chain but selects nobody in team-a; and an empty selector selects nothing in kcm.
    await apply(multiClusterService('qa-kyverno', '    matchLabels:\n      env: qa\n', kyvernoService('kyverno')));
    await apply(multiClusterService('nobody', '    {}\n', kyvernoService('kyverno')));

    const stderr = await refused(cluster, ['delete', 'servicetemplatechain', 'kyverno', '-n', NS]);
    expect(stderr).toContain('admission webhook "servicetemplatechains.chaingate.k0rdent.mirantis.com" denied the request');
    expect(stderr).toContain(
      'ServiceTemplateChain team-a/kyverno is still referenced by 1 object(s): MultiClusterService global-kyverno (selects ClusterDeployment team-a/dev); point their services at another chain (or remove templateChain) first',
    );
    expect(await ok(cluster, ['get', 'servicetemplatechain', 'kyverno', '-n', NS, '-o', 'name'])).toContain('kyverno');

    // The ClusterDeployment stops matching: the chain is no longer reached that way...
    await ok(cluster, ['label', 'clusterdeployment', 'dev', '-n', NS, 'frozen=yes']);
    await ok(cluster, ['delete', 'servicetemplatechain', 'kyverno', '-n', NS, '--dry-run=server']);
    await ok(cluster, ['label', 'clusterdeployment', 'dev', '-n', NS, 'frozen-']);
    await refused(cluster, ['delete', 'servicetemplatechain', 'kyverno', '-n', NS, '--dry-run=server']);

    // ... and once the MCS stops naming the chain, the chain can go.
    const dropped = await cluster.kubectl(['apply', '-f', '-'], {
      input: multiClusterService(
        'global-kyverno',
        '    matchExpressions:\n      - key: env\n        operator: In\n        values: [dev, qa]\n      - key: frozen\n        operator: DoesNotExist\n',
        kyvernoService(),
      ),
    });
    expect(dropped.code, dropped.stderr).toBe(0);
    await ok(cluster, ['delete', 'servicetemplatechain', 'kyverno', '-n', NS]);
    const gone = await cluster.kubectl(['get', 'servicetemplatechain', 'kyverno', '-n', NS]);
    expect(gone.stderr).toContain('NotFound');
  });

  it("deletes a chain copy managed by kcm's AccessManagement with a warning, although it is in use", async () => {
    await apply(chain('kyverno-copy', NS, KYVERNO, { 'k0rdent.mirantis.com/managed': 'true' }));
    await apply(clusterDeployment('user', { env: 'staging' }, kyvernoService('kyverno-copy')));
    const result = await cluster.kubectl(['delete', 'servicetemplatechain', 'kyverno-copy', '-n', NS]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('servicetemplatechain.k0rdent.mirantis.com "kyverno-copy" deleted');
    expect(result.stderr).toContain(
      "Warning: ServiceTemplateChain team-a/kyverno-copy is a copy managed by kcm's AccessManagement (label k0rdent.mirantis.com/managed=true): kcm will recreate it while an AccessManagement rule still distributes it to team-a",
    );

    // The same chain without the label stays protected.
    await apply(chain('kyverno-own', NS, KYVERNO, { 'k0rdent.mirantis.com/managed': 'false' }));
    await apply(clusterDeployment('user', { env: 'staging' }, kyvernoService('kyverno-own')));
    const stderr = await refused(cluster, ['delete', 'servicetemplatechain', 'kyverno-own', '-n', NS]);
    expect(stderr).toContain('ServiceTemplateChain team-a/kyverno-own is still referenced by 1 object(s): ClusterDeployment team-a/user');
  });
});
