// kcm v1.6+ through kube-apiserver and kubectl: versioned chains and ServiceTemplates, kcm's
// sequential walk admitted with its steps, what kcm would jump refused with the reason, and
// `auto` choosing its policy from the CRDs the API server serves (v1.11.4: sequential; v1.0.0: edge).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { ok, refused, registerWebhook } from '../support/webhook.ts';
import { clusterDeploymentYaml, eventually } from '../support/manifests.ts';
import { kcmCrds } from '../kcm/crds.ts';

const NS = 'team-a';

function serviceTemplate(name: string, chartVersion: string, version?: string): string {
  return `apiVersion: k0rdent.mirantis.com/v1beta1
kind: ServiceTemplate
metadata: {name: ${name}, namespace: ${NS}}
spec:
${version ? `  version: ${version}\n` : ''}  helm:
    chartSpec: {chart: ingress-nginx, version: ${chartVersion}, interval: 10m, sourceRef: {kind: HelmRepository, name: ingress-nginx}}
`;
}

type Entry = { name: string; version?: string };
function chain(name: string, edges: Record<string, Entry[]>): string {
  const supported = Object.entries(edges)
    .map(([from, to]) => `    - name: ${from}\n      availableUpgrades: [${to.map((t) => (t.version ? `{name: ${t.name}, version: "${t.version}"}` : `{name: ${t.name}}`)).join(', ')}]`)
    .join('\n');
  return `apiVersion: k0rdent.mirantis.com/v1beta1
kind: ServiceTemplateChain
metadata: {name: ${name}, namespace: ${NS}}
spec:
  supportedTemplates:
${supported}
`;
}

const clusterDeployment = (name: string, template: string, chain: string, version?: string): string =>
  clusterDeploymentYaml(name, NS, [{ name: 'ingress-nginx', template, chain, ...(version ? { version } : {}) }]);

const v = (minor: number, patch: number): Entry => ({ name: `ingress-nginx-4-${minor}-${patch}`, version: `4.${minor}.${patch}` });
/** 4-11-3 -> {4-11-5, 4-12-3}, 4-11-5 -> 4-12-3, 4-12-3 -> 4-13-0: kcm walks 4-11-3 -> 4-13-0 through 4.11.5 and 4.12.3. */
const VERSIONED = { 'ingress-nginx-4-11-3': [v(11, 5), v(12, 3)], 'ingress-nginx-4-11-5': [v(12, 3)], 'ingress-nginx-4-12-3': [v(13, 0)], 'ingress-nginx-4-13-0': [] };

async function metric(chaingate: ChaingateProcess, name: string): Promise<string> {
  const text = await (await fetch(`${chaingate.healthUrl}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name)).join('\n');
}

async function withCluster(version: string): Promise<{ cluster: ControlPlane; chaingate: ChaingateProcess }> {
  const cluster = await startControlPlane({ crdDir: kcmCrds(version) });
  await ok(cluster, ['create', 'namespace', NS]);
  await ok(cluster, ['create', 'namespace', 'kcm-system']);
  // The default policy, `auto`: what this test is about.
  const chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, '--controller=false']);
  await registerWebhook(cluster, chaingate);
  return { cluster, chaingate };
}

describe('kcm v1.11.4 (sequential kcm)', () => {
  let cluster: ControlPlane;
  let chaingate: ChaingateProcess;
  const apply = (yaml: string) => cluster.kubectl(['apply', '-f', '-'], { input: yaml });

  beforeAll(async () => {
    ({ cluster, chaingate } = await withCluster('v1.11.4'));
    const templates = [[11, 3], [11, 5], [12, 3], [13, 0]].map(([minor, patch]) => serviceTemplate(`ingress-nginx-4-${minor}-${patch}`, `4.${minor}.${patch}`)).join('---\n');
    await ok(cluster, ['apply', '-f', '-'], templates);
    await ok(cluster, ['apply', '-f', '-'], chain('nginx', VERSIONED));
    await ok(cluster, ['apply', '-f', '-'], chain('plain', { a: [{ name: 'b' }], b: [{ name: 'c' }], c: [] }));
  });

  afterAll(async () => {
    await chaingate?.stop();
    await cluster?.stop();
  });

  it('auto chose sequential from the served CRD, and says so in a metric and the log', async () => {
    expect(await metric(chaingate, 'chaingate_kcm_generation')).toBe('chaingate_kcm_generation{generation="sequential"} 1');
    expect(chaingate.logs.join('\n')).toContain('kcm v1.6+ detected (services carry version)');
  });

  it('admits a target kcm reaches along declared edges, with a warning naming its steps', async () => {
    expect((await apply(clusterDeployment('walk', 'ingress-nginx-4-11-3', 'nginx'))).code).toBe(0);
    // The ServiceTemplate cache may be a moment behind the apply above.
    const result = await eventually(
      () => apply(clusterDeployment('walk', 'ingress-nginx-4-13-0', 'nginx')),
      (r) => r.code === 0,
      { what: 'the sequential upgrade admitted' },
    );
    expect(result.stderr).toContain(
      'Warning: service ingress-nginx/ingress-nginx: kcm will upgrade in 3 steps: ingress-nginx-4-11-5 (4.11.5) -> ingress-nginx-4-12-3 (4.12.3) -> ingress-nginx-4-13-0 (4.13.0)',
    );
  });

  it('gates a version-only change: the template kept and a later version set is refused as ambiguous', async () => {
    await ok(cluster, ['apply', '-f', '-'], clusterDeployment('bypass', 'ingress-nginx-4-11-3', 'nginx'));
    const stderr = await refused(cluster, ['apply', '-f', '-'], clusterDeployment('bypass', 'ingress-nginx-4-11-3', 'nginx', '4.13.0'));
    expect(stderr).toContain(
      'template ingress-nginx-4-11-3 and version 4.13.0 name different entries of ServiceTemplateChain team-a/nginx (version 4.13.0 is ingress-nginx-4-13-0); set template to ingress-nginx-4-13-0 or remove version',
    );
    await ok(cluster, ['apply', '-f', '-'], clusterDeployment('bypass', 'ingress-nginx-4-13-0', 'nginx', '4.13.0'));
  });

  it('refuses a target kcm would jump to, saying which step it would skip and why', async () => {
    await ok(cluster, ['apply', '-f', '-'], clusterDeployment('jump', 'a', 'plain'));
    const stderr = await refused(cluster, ['apply', '-f', '-'], clusterDeployment('jump', 'c', 'plain'));
    expect(stderr).toContain("service ingress-nginx/ingress-nginx can't be upgraded from a to c: kcm would deploy c directly from a because the deployed version a is not a semantic version");
    expect(stderr).toContain('c is reachable in 2 steps: a -> b -> c (apply b first)');
  });

  it("refuses a chain that mixes versioned and unversioned upgrades (kcm v1.9+'s rule)", async () => {
    const stderr = await refused(cluster, ['apply', '-f', '-'], chain('mixed', { m1: [{ name: 'm2', version: '1.0.0' }, { name: 'm3' }], m2: [], m3: [] }));
    expect(stderr).toContain('ServiceTemplateChain team-a/mixed is invalid: m1 mixes upgrades with and without version (1 of 2 have one); set version on all of them or on none');
  });
});

describe('kcm v1.0.0 (classic kcm)', () => {
  let cluster: ControlPlane;
  let chaingate: ChaingateProcess;

  beforeAll(async () => {
    ({ cluster, chaingate } = await withCluster('v1.0.0'));
    await ok(cluster, ['apply', '-f', '-'], chain('plain', { a: [{ name: 'b' }], b: [{ name: 'c' }], c: [] }));
  });

  afterAll(async () => {
    await chaingate?.stop();
    await cluster?.stop();
  });

  it('auto chose edge: a two-step target is refused with the route, one step admitted', async () => {
    expect(await metric(chaingate, 'chaingate_kcm_generation')).toBe('chaingate_kcm_generation{generation="classic"} 1');
    await ok(cluster, ['apply', '-f', '-'], clusterDeployment('dev', 'a', 'plain'));
    const stderr = await refused(cluster, ['apply', '-f', '-'], clusterDeployment('dev', 'c', 'plain'));
    expect(stderr).toContain("can't be upgraded from a to c: ServiceTemplateChain team-a/plain has no upgrade a -> c; direct upgrades from a: b; c is reachable in 2 steps: a -> b -> c (apply b first)");
    await ok(cluster, ['apply', '-f', '-'], clusterDeployment('dev', 'b', 'plain'));
  });

  it('switches to sequential when kcm is upgraded to v1.6+ CRDs, without a restart', async () => {
    // kcm's upgrade replaces its CRDs; chaingate re-reads the ClusterDeployment CRD every 30 s.
    await ok(cluster, ['apply', '--server-side', '--force-conflicts', '-f', `${kcmCrds('v1.11.4')}/k0rdent.mirantis.com_clusterdeployments.yaml`]);
    await eventually(() => metric(chaingate, 'chaingate_kcm_generation'), (m) => m === 'chaingate_kcm_generation{generation="sequential"} 1', {
      timeoutMs: 45_000,
      intervalMs: 1_000,
      what: 'auto switching to sequential',
    });
  });
});
