// chaingate in front of a real kube-apiserver with the upstream kcm CRDs, driven with the
// real kubectl: what a user sees on `kubectl apply` is what is asserted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { ok, refused, registerWebhook } from '../support/webhook.ts';
import { kcmCrds } from '../kcm/crds.ts';

const CRD_SETS = ['v1.0.0', 'v1.11.4'];
const crdDir = (version: string) => kcmCrds(version);

function chain(name: string, namespace: string, edges: Record<string, string[]>, apiVersion = 'v1beta1'): string {
  const supported = Object.entries(edges)
    .map(([from, to]) => `    - name: ${from}\n${to.length ? `      availableUpgrades:\n${to.map((t) => `        - name: ${t}`).join('\n')}\n` : ''}`)
    .join('');
  return `apiVersion: k0rdent.mirantis.com/${apiVersion}
kind: ServiceTemplateChain
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  supportedTemplates:
${supported}`;
}

interface Svc {
  name: string;
  template: string;
  chain?: string;
  namespace?: string;
  values?: string;
}

function services(list: Svc[]): string {
  return list
    .map(
      (s) =>
        `      - name: ${s.name}\n        namespace: ${s.namespace ?? s.name}\n        template: ${s.template}\n` +
        (s.chain ? `        templateChain: ${s.chain}\n` : '') +
        (s.values ? `        values: ${JSON.stringify(s.values)}\n` : ''),
    )
    .join('');
}

function clusterDeployment(name: string, namespace: string, list: Svc[], extra: { labels?: string; apiVersion?: string } = {}): string {
  return `apiVersion: k0rdent.mirantis.com/${extra.apiVersion ?? 'v1beta1'}
kind: ClusterDeployment
metadata:
  name: ${name}
  namespace: ${namespace}
${extra.labels ? `  labels:\n    team: ${extra.labels}\n` : ''}spec:
  template: adopted-cluster-1-0-0
  credential: demo-credential
  serviceSpec:
    services:
${services(list)}`;
}

function multiClusterService(name: string, list: Svc[]): string {
  return `apiVersion: k0rdent.mirantis.com/v1beta1
kind: MultiClusterService
metadata:
  name: ${name}
spec:
  clusterSelector:
    matchLabels:
      env: dev
  serviceSpec:
    services:
${services(list)}`;
}

const NGINX_EDGES = { 'ingress-nginx-4-11-0': ['ingress-nginx-4-11-3'], 'ingress-nginx-4-11-3': ['ingress-nginx-4-11-5'], 'ingress-nginx-4-11-5': [] };

describe.each(CRD_SETS)('admission through kube-apiserver with kcm CRDs %s', (version) => {
  let cluster: ControlPlane;
  let chaingate: ChaingateProcess;
  const apply = (yaml: string, ...flags: string[]) => ok(cluster, ['apply', '-f', '-', ...flags], yaml);
  const applyRefused = (yaml: string, ...flags: string[]) => refused(cluster, ['apply', '-f', '-', ...flags], yaml);

  beforeAll(async () => {
    cluster = await startControlPlane({ crdDir: crdDir(version) });
    chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, '--log-level', 'info']);
    await registerWebhook(cluster, chaingate);
    await ok(cluster, ['create', 'namespace', 'kcm-system']);
    await ok(cluster, ['create', 'namespace', 'team-a']);
    await apply(chain('ingress-nginx-4-11', 'team-a', NGINX_EDGES));
  });

  afterAll(async () => {
    await chaingate?.stop();
    await cluster?.stop();
  });

  it('refuses a template change with no edge, with the upgrade form and what to do', async () => {
    await apply(clusterDeployment('dev', 'team-a', [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-0', chain: 'ingress-nginx-4-11' }]));
    const stderr = await applyRefused(clusterDeployment('dev', 'team-a', [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-5', chain: 'ingress-nginx-4-11' }]));
    expect(stderr).toContain('admission webhook "clusterdeployments.chaingate.k0rdent.mirantis.com" denied the request');
    expect(stderr).toContain("service ingress-nginx/ingress-nginx can't be upgraded from ingress-nginx-4-11-0 to ingress-nginx-4-11-5");
    expect(stderr).toContain('direct upgrades from ingress-nginx-4-11-0: ingress-nginx-4-11-3');
    expect(stderr).toContain('ingress-nginx-4-11-0 -> ingress-nginx-4-11-3 -> ingress-nginx-4-11-5 (apply ingress-nginx-4-11-3 first)');
    const live = await ok(cluster, ['get', 'clusterdeployment', 'dev', '-n', 'team-a', '-o', 'jsonpath={.spec.serviceSpec.services[0].template}']);
    expect(live).toBe('ingress-nginx-4-11-0');
  });

  it('accepts each declared step', async () => {
    await apply(clusterDeployment('dev', 'team-a', [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-3', chain: 'ingress-nginx-4-11' }]));
    await apply(clusterDeployment('dev', 'team-a', [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-5', chain: 'ingress-nginx-4-11' }]));
    const live = await ok(cluster, ['get', 'clusterdeployment', 'dev', '-n', 'team-a', '-o', 'jsonpath={.spec.serviceSpec.services[0].template}']);
    expect(live).toBe('ingress-nginx-4-11-5');
  });

  it('gates --dry-run=server as well, without persisting anything', async () => {
    const stderr = await applyRefused(clusterDeployment('dev', 'team-a', [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-0', chain: 'ingress-nginx-4-11' }]), '--dry-run=server');
    expect(stderr).toContain("can't be upgraded from ingress-nginx-4-11-5 to ingress-nginx-4-11-0");
    expect(stderr).toContain('ingress-nginx-4-11-5 has no upgrades in this chain');
  });

  it('never refuses updates of unrelated fields (labels, values) even with no chain edge', async () => {
    const current = [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-5', chain: 'ingress-nginx-4-11', values: 'replicas: 2' }];
    await apply(clusterDeployment('dev', 'team-a', current, { labels: 'payments' }));
    await ok(cluster, ['label', 'clusterdeployment', 'dev', '-n', 'team-a', 'tier=gold']);
    await ok(cluster, ['patch', 'clusterdeployment', 'dev', '-n', 'team-a', '--type=merge', '-p', '{"spec":{"credential":"other-credential"}}']);
  });

  it('refuses a new service naming a missing chain or an unsupported template', async () => {
    const stderr = await applyRefused(clusterDeployment('new-one', 'team-a', [{ name: 'kyverno', template: 'kyverno-3-2-0', chain: 'no-such-chain' }]));
    expect(stderr).toContain("service kyverno/kyverno can't use template kyverno-3-2-0: ServiceTemplateChain team-a/no-such-chain does not exist");
    const unsupported = await applyRefused(clusterDeployment('new-two', 'team-a', [{ name: 'ingress-nginx', template: 'ingress-nginx-9-9-9', chain: 'ingress-nginx-4-11' }]));
    expect(unsupported).toContain('does not support template ingress-nginx-9-9-9');
  });

  it('honours a chain created a moment before the edit', async () => {
    // Created and used back to back: the watch may not have delivered it yet.
    await apply(`${chain('fresh-chain', 'team-a', { 'app-1': ['app-2'], 'app-2': [] })}---\n${clusterDeployment('fresh', 'team-a', [{ name: 'app', template: 'app-1', chain: 'fresh-chain' }])}`);
    await apply(clusterDeployment('fresh', 'team-a', [{ name: 'app', template: 'app-2', chain: 'fresh-chain' }]));
  });

  it('rolls back in two steps through a rollback chain', async () => {
    await apply(chain('ingress-nginx-4-11-rollback', 'team-a', { 'ingress-nginx-4-11-5': ['ingress-nginx-4-11-3'], 'ingress-nginx-4-11-3': [] }));
    const direct = await applyRefused(clusterDeployment('dev', 'team-a', [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-3', chain: 'ingress-nginx-4-11' }]));
    expect(direct).toContain("can't be upgraded from ingress-nginx-4-11-5 to ingress-nginx-4-11-3");
    await apply(clusterDeployment('dev', 'team-a', [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-5', chain: 'ingress-nginx-4-11-rollback' }]));
    await apply(clusterDeployment('dev', 'team-a', [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-3', chain: 'ingress-nginx-4-11-rollback' }]));
  });

  it('keeps chains immutable and refuses invalid chains', async () => {
    const changed = await applyRefused(chain('ingress-nginx-4-11', 'team-a', { ...NGINX_EDGES, 'ingress-nginx-4-11-0': ['ingress-nginx-4-11-5'] }));
    // v1.11.4's CRD carries its own CEL rule, which the apiserver evaluates before webhooks.
    expect(changed).toMatch(/spec is immutable|Spec is immutable/);
    await ok(cluster, ['label', 'servicetemplatechain', 'ingress-nginx-4-11', '-n', 'team-a', 'reviewed=yes']);
    const invalid = await applyRefused(chain('broken', 'team-a', { 'a-1': ['a-2'] }));
    expect(invalid).toContain('ServiceTemplateChain team-a/broken is invalid: upgrade target a-2 (from a-1) is not a supported template');
  });

  it('warns about self-edges without refusing', async () => {
    const result = await cluster.kubectl(['apply', '-f', '-'], { input: chain('selfish', 'team-a', { 'b-1': ['b-1', 'b-2'], 'b-2': [] }) });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('Warning: ServiceTemplateChain team-a/selfish: b-1 lists itself as an upgrade');
  });

  it('protects chains in use from deletion, naming who uses them', async () => {
    const stderr = await refused(cluster, ['delete', 'servicetemplatechain', 'ingress-nginx-4-11-rollback', '-n', 'team-a']);
    expect(stderr).toContain('ServiceTemplateChain team-a/ingress-nginx-4-11-rollback is still referenced by 1 object(s): ClusterDeployment team-a/dev');
    await ok(cluster, ['delete', 'servicetemplatechain', 'selfish', '-n', 'team-a']);
  });

  it('looks MultiClusterService chains up in the system namespace', async () => {
    await apply(chain('cert-manager', 'kcm-system', { 'cert-manager-1-0': ['cert-manager-1-1'], 'cert-manager-1-1': [] }));
    await apply(multiClusterService('global', [{ name: 'cert-manager', template: 'cert-manager-1-0', chain: 'cert-manager' }]));
    const stderr = await applyRefused(multiClusterService('global', [{ name: 'cert-manager', template: 'cert-manager-2-0', chain: 'cert-manager' }]));
    expect(stderr).toContain('admission webhook "multiclusterservices.chaingate.k0rdent.mirantis.com" denied the request');
    expect(stderr).toContain("service cert-manager/cert-manager can't be upgraded from cert-manager-1-0 to cert-manager-2-0");
    await apply(multiClusterService('global', [{ name: 'cert-manager', template: 'cert-manager-1-1', chain: 'cert-manager' }]));
  });

  it.runIf(version === 'v1.0.0')('gates the v1alpha1 API version too', async () => {
    await apply(chain('alpha', 'team-a', { 'x-1': ['x-2'], 'x-2': [] }, 'v1alpha1'));
    await apply(clusterDeployment('alpha', 'team-a', [{ name: 'x', template: 'x-1', chain: 'alpha' }], { apiVersion: 'v1alpha1' }));
    const stderr = await applyRefused(clusterDeployment('alpha', 'team-a', [{ name: 'x', template: 'x-3', chain: 'alpha' }], { apiVersion: 'v1alpha1' }));
    expect(stderr).toContain("service x/x can't be upgraded from x-1 to x-3");
  });
});
