// The Helm chart against a real kube-apiserver: server-side validation of the rendered objects
// (matchConditions CEL, RBAC, PDB, ...), a real `helm install`, its RBAC exercised by chaingate
// running under the chart's ServiceAccount, and its ValidatingWebhookConfiguration gating kubectl.
// No pods run on this control plane (no nodes), so chaingate runs locally and the chart is
// installed with webhook.url pointing at it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTools, freePorts, repoRoot, run, startControlPlane, type CommandResult, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { ok, refused } from '../support/webhook.ts';
import { eventually as poll, chainYaml, kcmCrds, clusterDeploymentYaml, routeItem } from '../support/manifests.ts';

const CHART = join(repoRoot, 'charts', 'chaingate');
const CRDS = kcmCrds('v1.11.4');
const NS = 'chaingate-system';
const RELEASE = 'chaingate'; // fullname: "chaingate"
const SA = `system:serviceaccount:${NS}:${RELEASE}`;



const NGINX = { 'ingress-nginx-4-11-0': ['ingress-nginx-4-11-3'], 'ingress-nginx-4-11-3': ['ingress-nginx-4-11-5'], 'ingress-nginx-4-11-5': [] };


/** A kubeconfig for the chart's ServiceAccount (a TokenRequest token), beside the admin one. */
async function serviceAccountKubeconfig(cluster: ControlPlane, dir: string): Promise<string> {
  const token = (await ok(cluster, ['create', 'token', RELEASE, '-n', NS, '--duration', '1h'])).trim();
  const adminConfig = JSON.parse(await readFile(cluster.kubeconfig, 'utf8')) as { clusters: Array<{ cluster: Record<string, string> }> };
  const file = join(dir, 'service-account.kubeconfig');
  await writeFile(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'sa',
    clusters: [{ name: 'test', cluster: adminConfig.clusters[0]!.cluster }],
    users: [{ name: 'sa', user: { token } }],
    contexts: [{ name: 'sa', context: { cluster: 'test', user: 'sa' } }],
  }), { mode: 0o600 });
  return file;
}

const freePort = async (): Promise<number> => (await freePorts(1))[0]!;

function must(result: CommandResult, what: string): string {
  if (result.code !== 0) throw new Error(`${what} failed (${result.code}):\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

const cdYaml = (name: string, namespace: string, template: string, chain: string) => clusterDeploymentYaml(name, namespace, [{ name: 'ingress-nginx', template, chain }]);
const eventually = <T,>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs?: number) => poll(read, accept, { timeoutMs });

describe('the chart on kube-apiserver with kcm CRDs v1.11.4', () => {
  let cluster: ControlPlane;
  let helmBin: string;
  let admin: ChaingateProcess | undefined;
  let asServiceAccount: ChaingateProcess | undefined;
  let scratch: string;
  const helm = (args: string[], input?: string) =>
    run(helmBin, [...args, '--kubeconfig', cluster.kubeconfig], input === undefined ? {} : { input });
  const template = async (sets: string[] = []) =>
    must(await run(helmBin, ['template', RELEASE, CHART, '-n', NS, ...sets.flatMap((s) => ['--set', s])]), 'helm template');
  const b64 = (pem: string) => Buffer.from(pem).toString('base64');

  beforeAll(async () => {
    [cluster, { helm: helmBin }] = await Promise.all([startControlPlane({ crdDir: CRDS }), ensureTools()]);
    scratch = await mkdtemp(join(tmpdir(), 'chaingate-chart-e2e-'));
    await ok(cluster, ['create', 'namespace', 'team-a']);
  });

  afterAll(async () => {
    await asServiceAccount?.stop();
    await admin?.stop();
    await cluster?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('renders objects that kube-apiserver accepts (kubectl apply --dry-run=server)', async () => {
    await ok(cluster, ['create', 'namespace', NS]);
    const out = await ok(cluster, ['apply', '--dry-run=server', '-f', '-'], await template());
    for (const object of [
      'deployment.apps/chaingate', 'service/chaingate', 'serviceaccount/chaingate', 'poddisruptionbudget.policy/chaingate',
      'clusterrole.rbac.authorization.k8s.io/chaingate', 'clusterrolebinding.rbac.authorization.k8s.io/chaingate',
      'role.rbac.authorization.k8s.io/chaingate', 'rolebinding.rbac.authorization.k8s.io/chaingate',
      'validatingwebhookconfiguration.admissionregistration.k8s.io/chaingate',
    ]) {
      expect(out).toContain(`${object} created (server dry run)`);
    }
    // Nothing was created.
    expect((await cluster.kubectl(['get', 'validatingwebhookconfiguration', RELEASE])).code).not.toBe(0);
  });

  it('renders non-default values that kube-apiserver accepts too (CRDs, URL, policies)', async () => {
    const sets = ['crds.install=true', 'watchNamespaces={team-a}', 'webhook.url=https://127.0.0.1:9443', `webhook.caBundle=${b64('not checked by the server')}`,
      'upgradePolicy=reachable', 'webhook.failurePolicy=Ignore', 'replicaCount=1', 'leaderElection.enabled=false'];
    // Server-side: the kcm CRDs are too large for client-side apply's last-applied annotation.
    const out = await ok(cluster, ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'], await template(sets));
    expect(out).toContain('customresourcedefinition.apiextensions.k8s.io/servicetemplatechains.k0rdent.mirantis.com serverside-applied (server dry run)');
    expect(out).toContain('validatingwebhookconfiguration.admissionregistration.k8s.io/chaingate serverside-applied (server dry run)');
  });

  it('type-checks the matchConditions CEL: a broken expression is refused at create time', async () => {
    const broken = (await template()).replace("request.operation != 'UPDATE' ||", "request.operation != 'UPDATE' || object.?spec.orValue(1) + 'x' == 2 ||");
    expect(broken).not.toBe(await template());
    const stderr = await refused(cluster, ['apply', '--dry-run=server', '-f', '-'], broken);
    expect(stderr).toContain('matchConditions[0].expression');
    expect(stderr).toContain('compilation failed');
  });

  it('installs with helm, registering a chaingate that runs outside the cluster', async () => {
    admin = await startChaingate(['--kubeconfig', cluster.kubeconfig]);
    must(await helm(['install', RELEASE, CHART, '-n', NS, '--create-namespace',
      '--set', `webhook.url=${admin.admissionUrl}`, '--set', `webhook.caBundle=${b64(admin.caBundle)}`, '--set', 'certs.mode=self']), 'helm install');
    const status = JSON.parse(must(await helm(['status', RELEASE, '-n', NS, '-o', 'json']), 'helm status')) as { info: { status: string } };
    expect(status.info.status).toBe('deployed');
    const urls = await ok(cluster, ['get', 'validatingwebhookconfiguration', RELEASE, '-o', 'jsonpath={.webhooks[*].clientConfig.url}']);
    expect(urls.split(' ')).toEqual(['/validate/clusterdeployments', '/validate/multiclusterservices', '/validate/servicetemplatechains'].map((p) => admin!.admissionUrl + p));
    const conditions = await ok(cluster, ['get', 'validatingwebhookconfiguration', RELEASE, '-o', 'jsonpath={.webhooks[*].matchConditions[*].name}']);
    expect(conditions).toBe('services-changed services-changed');
  });

  it("grants the ServiceAccount what chaingate needs and nothing more (kube-apiserver's RBAC)", async () => {
    const can = async (...args: string[]) => (await cluster.kubectl(['auth', 'can-i', '--as', SA, ...args])).stdout.trim();
    const allowed = [
      ['list', 'servicetemplatechains.k0rdent.mirantis.com', '-A'],
      ['watch', 'clusterdeployments.k0rdent.mirantis.com', '-A'],
      ['get', 'multiclusterservices.k0rdent.mirantis.com'],
      ['list', 'servicetemplates.k0rdent.mirantis.com', '-n', 'team-a'],
      ['patch', 'clusterdeployments.k0rdent.mirantis.com', '--subresource=status', '-n', 'team-a'],
      ['patch', 'multiclusterservices.k0rdent.mirantis.com', '--subresource=status'],
      // chaingate's own annotation, where kcm owns status.servicesUpgradePaths (one writer per field)
      ['patch', 'clusterdeployments.k0rdent.mirantis.com', '-n', 'team-a'],
      ['watch', 'servicesets.k0rdent.mirantis.com', '-A'],
      ['get', 'customresourcedefinitions.apiextensions.k8s.io/clusterdeployments.k0rdent.mirantis.com'],
      ['patch', `validatingwebhookconfigurations.admissionregistration.k8s.io/${RELEASE}`],
      ['create', 'events', '-n', 'team-a'],
      ['create', 'events.events.k8s.io', '-n', 'team-a'],
      ['update', 'leases.coordination.k8s.io/chaingate-controller', '-n', NS],
      ['create', 'leases.coordination.k8s.io', '-n', NS],
      ['get', `secrets/${RELEASE}-tls`, '-n', NS],
      ['create', 'secrets', '-n', NS],
    ];
    const denied = [
      ['update', 'clusterdeployments.k0rdent.mirantis.com', '-n', 'team-a'],
      ['update', 'multiclusterservices.k0rdent.mirantis.com'],
      ['get', 'customresourcedefinitions.apiextensions.k8s.io/servicetemplates.k0rdent.mirantis.com'],
      ['delete', 'servicetemplatechains.k0rdent.mirantis.com', '-n', 'team-a'],
      ['create', 'clusterdeployments.k0rdent.mirantis.com', '-n', 'team-a'],
      ['patch', 'validatingwebhookconfigurations.admissionregistration.k8s.io/someone-else'],
      ['create', 'validatingwebhookconfigurations.admissionregistration.k8s.io'],
      ['get', 'secrets/someone-else', '-n', NS],
      ['list', 'secrets', '-n', NS],
      ['get', `secrets/${RELEASE}-tls`, '-n', 'team-a'],
      ['update', 'leases.coordination.k8s.io/other-lease', '-n', NS],
      ['create', 'leases.coordination.k8s.io', '-n', 'team-a'],
      ['get', 'pods', '-n', NS],
      ['delete', 'events', '-n', 'team-a'],
    ];
    for (const args of allowed) expect(await can(...args), `can-i ${args.join(' ')}`).toBe('yes');
    for (const args of denied) expect(await can(...args), `can-i ${args.join(' ')}`).toBe('no');
  });

  it("serves admission and publishes status as the chart's ServiceAccount, holding the chart's Lease", async () => {
    const kubeconfig = await serviceAccountKubeconfig(cluster, scratch);
    // The arguments the chart gives the pod, apart from ports, certificates and the namespace env.
    asServiceAccount = await startChaingate(
      ['--kubeconfig', kubeconfig, '--leader-election=true', '--leader-election-namespace', NS, '--resync-ms', '2000'],
      { env: { POD_NAMESPACE: NS, POD_NAME: 'chaingate-test-pod' } },
    );
    must(await helm(['upgrade', RELEASE, CHART, '-n', NS, '--reuse-values',
      '--set', `webhook.url=${asServiceAccount.admissionUrl}`, '--set', `webhook.caBundle=${b64(asServiceAccount.caBundle)}`]), 'helm upgrade');
    await admin!.stop();
    admin = undefined;

    const holder = await eventually(
      () => cluster.kubectl(['get', 'lease', 'chaingate-controller', '-n', NS, '-o', 'jsonpath={.spec.holderIdentity}']).then((r) => r.stdout),
      (v) => v === 'chaingate-test-pod',
    );
    expect(holder).toBe('chaingate-test-pod');

    await ok(cluster, ['apply', '-f', '-'], chainYaml('ingress-nginx-4-11', 'team-a', NGINX));
    await ok(cluster, ['apply', '-f', '-'], cdYaml('dev', 'team-a', 'ingress-nginx-4-11-0', 'ingress-nginx-4-11'));
    const published = await eventually(
      () => cluster.kubectl(['get', 'clusterdeployment', 'dev', '-n', 'team-a', '-o', 'jsonpath={.status.servicesUpgradePaths}']).then((r) => r.stdout),
      (v) => v.includes('ingress-nginx-4-11-5'),
    );
    expect(JSON.parse(published)).toEqual([{
      name: 'ingress-nginx', namespace: 'ingress-nginx', template: 'ingress-nginx-4-11-0',
      availableUpgrades: [routeItem('ingress-nginx-4-11-3'), routeItem('ingress-nginx-4-11-3', 'ingress-nginx-4-11-5')],
    }]);
    expect(asServiceAccount.logs.join('\n')).not.toMatch(/forbidden/i);
  });

  it('refuses an upgrade with no edge through the installed webhook configuration', async () => {
    const stderr = await refused(cluster, ['apply', '-f', '-'], cdYaml('dev', 'team-a', 'ingress-nginx-4-11-5', 'ingress-nginx-4-11'));
    expect(stderr).toContain('admission webhook "clusterdeployments.chaingate.k0rdent.mirantis.com" denied the request');
    expect(stderr).toContain("service ingress-nginx/ingress-nginx can't be upgraded from ingress-nginx-4-11-0 to ingress-nginx-4-11-5");
    await ok(cluster, ['apply', '-f', '-'], cdYaml('dev', 'team-a', 'ingress-nginx-4-11-3', 'ingress-nginx-4-11'));
  });

  it('accepts label-only updates, and keeps protecting chains', async () => {
    await ok(cluster, ['label', 'clusterdeployment', 'dev', '-n', 'team-a', 'tier=gold']);
    const stderr = await refused(cluster, ['delete', 'servicetemplatechain', 'ingress-nginx-4-11', '-n', 'team-a']);
    expect(stderr).toContain('admission webhook "servicetemplatechains.chaingate.k0rdent.mirantis.com" denied the request');
  });

  it('with chaingate down, still accepts label-only updates (matchConditions) but refuses services changes (failurePolicy Fail)', async () => {
    await asServiceAccount!.stop();
    asServiceAccount = undefined;
    await ok(cluster, ['label', 'clusterdeployment', 'dev', '-n', 'team-a', 'tier=platinum', '--overwrite']);
    await ok(cluster, ['patch', 'clusterdeployment', 'dev', '-n', 'team-a', '--type=merge', '-p', '{"spec":{"credential":"other-credential"}}']);
    const stderr = await refused(cluster, ['apply', '-f', '-'], cdYaml('dev', 'team-a', 'ingress-nginx-4-11-5', 'ingress-nginx-4-11'));
    expect(stderr).toContain('failed calling webhook "clusterdeployments.chaingate.k0rdent.mirantis.com"');
    // CREATE always goes to the webhook.
    const created = await refused(cluster, ['apply', '-f', '-'], cdYaml('other', 'team-a', 'ingress-nginx-4-11-0', 'ingress-nginx-4-11'));
    expect(created).toContain('failed calling webhook');
  });

  it('leaves resources in the release namespace alone (namespaceSelector)', async () => {
    await ok(cluster, ['apply', '-f', '-'], chainYaml('local', NS, { 'a-1': [] }));
    await ok(cluster, ['delete', 'servicetemplatechain', 'local', '-n', NS]);
  });

  it('uninstalls cleanly: the webhook configuration goes with the release', async () => {
    must(await helm(['uninstall', RELEASE, '-n', NS, '--wait']), 'helm uninstall');
    expect((await cluster.kubectl(['get', 'validatingwebhookconfiguration', RELEASE])).code).not.toBe(0);
    expect((await cluster.kubectl(['get', 'clusterrole', RELEASE])).code).not.toBe(0);
    await ok(cluster, ['apply', '-f', '-'], cdYaml('dev', 'team-a', 'ingress-nginx-4-11-5', 'ingress-nginx-4-11'));
  });
});

describe('crds.install on a bare kube-apiserver (no kcm)', () => {
  let cluster: ControlPlane;
  let helmBin: string;

  beforeAll(async () => {
    [cluster, { helm: helmBin }] = await Promise.all([startControlPlane(), ensureTools()]);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('installs the kcm CRDs with the chart, and keeps them on uninstall', async () => {
    const helm = (args: string[]) => run(helmBin, [...args, '--kubeconfig', cluster.kubeconfig]);
    // Controller only: no webhook answers on this machine, and with failurePolicy Fail the chain below would be refused.
    must(await helm(['install', RELEASE, CHART, '-n', NS, '--create-namespace', '--set', 'crds.install=true', '--set', 'webhook.enabled=false']), 'helm install');
    await ok(cluster, ['wait', '--for', 'condition=established', '--timeout=60s', 'crd', '--all']);
    const crds = await ok(cluster, ['get', 'crd', '-o', 'jsonpath={.items[*].metadata.name}']);
    expect(crds.split(' ').sort()).toEqual([
      'clusterdeployments.k0rdent.mirantis.com', 'multiclusterservices.k0rdent.mirantis.com',
      'servicetemplatechains.k0rdent.mirantis.com', 'servicetemplates.k0rdent.mirantis.com',
    ]);
    await ok(cluster, ['create', 'namespace', 'team-a']);
    await ok(cluster, ['apply', '-f', '-'], chainYaml('ingress-nginx-4-11', 'team-a', NGINX));
    must(await helm(['uninstall', RELEASE, '-n', NS, '--wait']), 'helm uninstall');
    // helm.sh/resource-policy: keep — uninstalling never deletes anyone's custom resources.
    await ok(cluster, ['get', 'servicetemplatechain', 'ingress-nginx-4-11', '-n', 'team-a']);
  });
});

describe('certs.mode self: chaingate under the chart ServiceAccount provisions its certificate', () => {
  let cluster: ControlPlane;
  let helmBin: string;
  let chaingate: ChaingateProcess | undefined;
  let scratch: string;

  beforeAll(async () => {
    [cluster, { helm: helmBin }] = await Promise.all([startControlPlane({ crdDir: CRDS }), ensureTools()]);
    scratch = await mkdtemp(join(tmpdir(), 'chaingate-chart-self-'));
  });

  afterAll(async () => {
    await chaingate?.stop();
    await cluster?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('fills the caBundle the chart leaves out, and helm upgrade keeps it', async () => {
    const helm = (args: string[]) => run(helmBin, [...args, '--kubeconfig', cluster.kubeconfig]);
    const caBundles = () => ok(cluster, ['get', 'validatingwebhookconfiguration', RELEASE, '-o', 'jsonpath={.webhooks[*].clientConfig.caBundle}']);
    // The port is chosen up front: the chart registers the URL before chaingate runs.
    const port = await freePort();
    must(await helm(['install', RELEASE, CHART, '-n', NS, '--create-namespace', '--set', `webhook.url=https://127.0.0.1:${port}`]), 'helm install');
    expect(await caBundles()).toBe('');
    const deployment = JSON.parse(await ok(cluster, ['get', 'deployment', RELEASE, '-n', NS, '-o', 'json'])) as { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } };
    const chartArgs = deployment.spec.template.spec.containers[0]!.args;
    const value = (flag: string) => chartArgs[chartArgs.indexOf(flag) + 1]!;

    // The pod's self-mode arguments, as installed (certificates under a local directory instead of /tmp/certs).
    chaingate = await startChaingate([
      '--kubeconfig', await serviceAccountKubeconfig(cluster, scratch), '--port', String(port),
      '--cert-mode', value('--cert-mode'), '--cert-secret', value('--cert-secret'), '--webhook-configuration', value('--webhook-configuration'),
      '--dns-name', value('--dns-name'), '--leader-election=true', '--leader-election-namespace', NS,
    ], { env: { POD_NAMESPACE: NS, POD_NAME: 'chaingate-self-pod' } });
    const bundles = await eventually(caBundles, (v) => v.split(' ').filter(Boolean).length === 3);
    expect(Buffer.from(bundles.split(' ')[0]!, 'base64').toString()).toContain('-----BEGIN CERTIFICATE-----');
    await ok(cluster, ['get', 'secret', value('--cert-secret'), '-n', NS]);

    await ok(cluster, ['create', 'namespace', 'team-a']);
    await ok(cluster, ['apply', '-f', '-'], chainYaml('ingress-nginx-4-11', 'team-a', NGINX));
    await ok(cluster, ['apply', '-f', '-'], cdYaml('dev', 'team-a', 'ingress-nginx-4-11-0', 'ingress-nginx-4-11'));
    const refusedUpgrade = await refused(cluster, ['apply', '-f', '-'], cdYaml('dev', 'team-a', 'ingress-nginx-4-11-5', 'ingress-nginx-4-11'));
    expect(refusedUpgrade).toContain("can't be upgraded from ingress-nginx-4-11-0 to ingress-nginx-4-11-5");

    must(await helm(['upgrade', RELEASE, CHART, '-n', NS, '--reuse-values', '--set', 'logLevel=debug']), 'helm upgrade');
    expect(await caBundles()).toBe(bundles);
    const again = await refused(cluster, ['apply', '-f', '-'], cdYaml('dev', 'team-a', 'ingress-nginx-4-11-5', 'ingress-nginx-4-11'));
    expect(again).toContain("can't be upgraded from ingress-nginx-4-11-0 to ingress-nginx-4-11-5");
    expect(chaingate.logs.join('\n')).not.toMatch(/forbidden/i);
  });
});
