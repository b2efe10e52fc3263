// chaingate in front of a real kube-apiserver with the upstream kcm CRDs, driven with the
// real kubectl: what a user sees on `kubectl apply` is what is asserted.
//
// It runs once per kcm release: v1.0.0 and v1.11.4 in `npm test`, or the releases listed in
// CHAINGATE_KCM_VERSIONS (`CHAINGATE_KCM_VERSIONS=v1.3.0,v1.10.0 npx vitest run <this file>`).
// Each release's tests sit under four describes named by COMPATIBILITY.md's columns
// (test/compat/columns.ts), which `npm run compat` reads back from vitest's JSON report; each
// column sets up what it needs, so one failing does not take the next down with it. Every
// assertion here must hold on every kcm release: unversioned chains and template changes only
// (what versioned releases, v1.6+, add is tested elsewhere).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { ok, refused, registerWebhook } from '../support/webhook.ts';
import { eventually } from '../support/manifests.ts';
import { kcmCrds, TESTED_KCM_VERSIONS } from '../kcm/crds.ts';
import { COLUMNS, kcmVersionsFromEnv } from '../compat/columns.ts';

const KCM_VERSIONS = kcmVersionsFromEnv(TESTED_KCM_VERSIONS);
/** The kinds chaingate gates; their CRDs must be established and serve v1beta1 on every release. */
const GATED_CRDS = ['clusterdeployments', 'multiclusterservices', 'servicetemplatechains'].map((kind) => `${kind}.k0rdent.mirantis.com`);

/**
 * kcm v1.6.0's CRD requires `version` on every availableUpgrades entry (later releases make it
 * optional): set from the served CRD before any chain is applied. The version written is the
 * template's name, which is what kcm resolves for a ServiceTemplate that declares no version.
 */
let upgradeVersionRequired = false;

function chain(name: string, namespace: string, edges: Record<string, string[]>, apiVersion = 'v1beta1'): string {
  const upgrade = (t: string) => `        - name: ${t}${upgradeVersionRequired ? `\n          version: ${t}` : ''}`;
  const supported = Object.entries(edges)
    .map(([from, to]) => `    - name: ${from}\n${to.length ? `      availableUpgrades:\n${to.map(upgrade).join('\n')}\n` : ''}`)
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

describe.each(KCM_VERSIONS)('admission through kube-apiserver with kcm CRDs %s', (version) => {
  let cluster: ControlPlane;
  let chaingate: ChaingateProcess;
  let crdsInstalled = false;
  let chaingateStarted: Promise<void> | undefined;
  const apply = (yaml: string, ...flags: string[]) => ok(cluster, ['apply', '-f', '-', ...flags], yaml);
  const applyRefused = (yaml: string, ...flags: string[]) => refused(cluster, ['apply', '-f', '-', ...flags], yaml);
  const servedVersions = (crd: string) => ok(cluster, ['get', 'crd', crd, '-o', 'jsonpath={.spec.versions[?(@.served==true)].name}']).then((out) => out.split(/\s+/).filter(Boolean));

  /** chaingate with both roles (webhook and status controller), started once by the first column that needs it. */
  const chaingateUp = (): Promise<void> =>
    (chaingateStarted ??= (async () => {
      if (!crdsInstalled) throw new Error(`kcm ${version}'s CRDs did not install (see "${COLUMNS.crds}"): chaingate has nothing to watch`);
      chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, '--webhook=true', '--controller=true', '--log-level', 'info']);
      await registerWebhook(cluster, chaingate);
    })());

  beforeAll(async () => {
    cluster = await startControlPlane();
    for (const namespace of ['kcm-system', 'team-a', 'team-b', 'team-c']) await ok(cluster, ['create', 'namespace', namespace]);
  });

  afterAll(async () => {
    await chaingate?.stop();
    await cluster?.stop();
  });

  describe(COLUMNS.crds, () => {
    it(`installs kcm ${version}'s CRDs from its Go module unchanged: established, serving v1beta1`, async () => {
      const dir = kcmCrds(version); // a KcmFetchError names the release when the Go proxy refuses it
      // Server-side apply: kcm CRDs are too large for client-side apply's last-applied annotation.
      await ok(cluster, ['apply', '--server-side', '-f', dir]);
      await ok(cluster, ['wait', '--for', 'condition=established', '--timeout=60s', 'crd', '--all']);
      for (const crd of GATED_CRDS) expect(await servedVersions(crd), crd).toContain('v1beta1');
      const required = await ok(cluster, ['get', 'crd', 'servicetemplatechains.k0rdent.mirantis.com', '-o',
        'jsonpath={.spec.versions[?(@.name=="v1beta1")].schema.openAPIV3Schema.properties.spec.properties.supportedTemplates.items.properties.availableUpgrades.items.required}']);
      upgradeVersionRequired = /"version"/.test(required);
      crdsInstalled = true;
    });
  });

  // ServiceTemplateChains as chaingate's webhook admits them (namespace team-b).
  describe(COLUMNS.chains, () => {
    beforeAll(chaingateUp);

    it('admits a valid chain, and label edits of it', async () => {
      expect(await apply(chain('ingress-nginx-4-11', 'team-b', NGINX_EDGES))).toContain('servicetemplatechain.k0rdent.mirantis.com/ingress-nginx-4-11 created');
      await ok(cluster, ['label', 'servicetemplatechain', 'ingress-nginx-4-11', '-n', 'team-b', 'reviewed=yes']);
      expect(await ok(cluster, ['get', 'servicetemplatechain', 'ingress-nginx-4-11', '-n', 'team-b', '-o', 'jsonpath={.spec.supportedTemplates[*].name}'])).toBe(
        'ingress-nginx-4-11-0 ingress-nginx-4-11-3 ingress-nginx-4-11-5',
      );
    });

    it('keeps chains immutable and refuses invalid chains', async () => {
      const changed = await applyRefused(chain('ingress-nginx-4-11', 'team-b', { ...NGINX_EDGES, 'ingress-nginx-4-11-0': ['ingress-nginx-4-11-5'] }));
      // Newer CRDs carry their own CEL rule, which the apiserver evaluates before webhooks.
      expect(changed).toMatch(/spec is immutable|Spec is immutable/);
      const invalid = await applyRefused(chain('broken', 'team-b', { 'a-1': ['a-2'] }));
      expect(invalid).toContain('ServiceTemplateChain team-b/broken is invalid: upgrade target a-2 (from a-1) is not a supported template');
    });

    it('warns about self-edges without refusing', async () => {
      const result = await cluster.kubectl(['apply', '-f', '-'], { input: chain('selfish', 'team-b', { 'b-1': ['b-1', 'b-2'], 'b-2': [] }) });
      expect(result.code).toBe(0);
      expect(result.stderr).toContain('Warning: ServiceTemplateChain team-b/selfish: b-1 lists itself as an upgrade');
    });

    it('honours a chain created a moment before the edit', async () => {
      // Created and used back to back: the watch may not have delivered it yet.
      await apply(`${chain('fresh-chain', 'team-b', { 'app-1': ['app-2'], 'app-2': [] })}---\n${clusterDeployment('fresh', 'team-b', [{ name: 'app', template: 'app-1', chain: 'fresh-chain' }])}`);
      await apply(clusterDeployment('fresh', 'team-b', [{ name: 'app', template: 'app-2', chain: 'fresh-chain' }]));
    });

    it('protects chains in use from deletion, naming who uses them', async () => {
      const stderr = await refused(cluster, ['delete', 'servicetemplatechain', 'fresh-chain', '-n', 'team-b']);
      expect(stderr).toContain('ServiceTemplateChain team-b/fresh-chain is still referenced by 1 object(s): ClusterDeployment team-b/fresh');
      await ok(cluster, ['delete', 'servicetemplatechain', 'selfish', '-n', 'team-b']);
    });
  });

  // Template changes of ClusterDeployment and MultiClusterService services (namespace team-a).
  // The steps a chain declares are admitted here too: a gate that refused everything would
  // pass the refusals alone.
  describe(COLUMNS.refused, () => {
    beforeAll(async () => {
      await chaingateUp();
      await apply(chain('ingress-nginx-4-11', 'team-a', NGINX_EDGES));
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

    it('rolls back in two steps through a rollback chain', async () => {
      await apply(chain('ingress-nginx-4-11-rollback', 'team-a', { 'ingress-nginx-4-11-5': ['ingress-nginx-4-11-3'], 'ingress-nginx-4-11-3': [] }));
      const direct = await applyRefused(clusterDeployment('dev', 'team-a', [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-3', chain: 'ingress-nginx-4-11' }]));
      expect(direct).toContain("can't be upgraded from ingress-nginx-4-11-5 to ingress-nginx-4-11-3");
      await apply(clusterDeployment('dev', 'team-a', [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-5', chain: 'ingress-nginx-4-11-rollback' }]));
      await apply(clusterDeployment('dev', 'team-a', [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-3', chain: 'ingress-nginx-4-11-rollback' }]));
    });

    it('looks MultiClusterService chains up in the system namespace', async () => {
      await apply(chain('cert-manager', 'kcm-system', { 'cert-manager-1-0': ['cert-manager-1-1'], 'cert-manager-1-1': [] }));
      await apply(multiClusterService('global', [{ name: 'cert-manager', template: 'cert-manager-1-0', chain: 'cert-manager' }]));
      const stderr = await applyRefused(multiClusterService('global', [{ name: 'cert-manager', template: 'cert-manager-2-0', chain: 'cert-manager' }]));
      expect(stderr).toContain('admission webhook "multiclusterservices.chaingate.k0rdent.mirantis.com" denied the request');
      expect(stderr).toContain("service cert-manager/cert-manager can't be upgraded from cert-manager-1-0 to cert-manager-2-0");
      await apply(multiClusterService('global', [{ name: 'cert-manager', template: 'cert-manager-1-1', chain: 'cert-manager' }]));
    });

    it('gates the v1alpha1 API version too, where the CRDs still serve it', async (context) => {
      // Only kcm v1.0.x serves v1alpha1 besides v1beta1; on later releases this skips by choice.
      if (!(await servedVersions('servicetemplatechains.k0rdent.mirantis.com')).includes('v1alpha1')) context.skip(`kcm ${version} serves no v1alpha1`);
      await apply(chain('alpha', 'team-a', { 'x-1': ['x-2'], 'x-2': [] }, 'v1alpha1'));
      await apply(clusterDeployment('alpha', 'team-a', [{ name: 'x', template: 'x-1', chain: 'alpha' }], { apiVersion: 'v1alpha1' }));
      const stderr = await applyRefused(clusterDeployment('alpha', 'team-a', [{ name: 'x', template: 'x-3', chain: 'alpha' }], { apiVersion: 'v1alpha1' }));
      expect(stderr).toContain("service x/x can't be upgraded from x-1 to x-3");
    });
  });

  // status.servicesUpgradePaths as chaingate's controller publishes it (namespace team-c). Only
  // what every release's status schema keeps is asserted: the service, its current template,
  // and the templates its upgrades lead to.
  describe(COLUMNS.status, () => {
    interface Published {
      name?: string;
      namespace?: string;
      template?: string;
      availableUpgrades?: unknown[];
    }
    const published = (kind: string, name: string, namespace?: string): Promise<Published[] | undefined> =>
      ok(cluster, ['get', kind, name, ...(namespace ? ['-n', namespace] : []), '-o', 'jsonpath={.status.servicesUpgradePaths}']).then((out) => (out ? (JSON.parse(out) as Published[]) : undefined));
    /** The templates named anywhere in an entry's availableUpgrades. */
    const targets = (entry: Published | undefined): string[] => [...new Set(JSON.stringify(entry?.availableUpgrades ?? []).match(/[a-z0-9-]+-\d+-\d+(-\d+)?/g) ?? [])].sort();

    beforeAll(async () => {
      await chaingateUp();
      await apply(chain('ingress-nginx-4-11', 'team-c', NGINX_EDGES));
    });

    it('publishes the upgrades of a ClusterDeployment service, read with kubectl -o jsonpath', async () => {
      await apply(clusterDeployment('status-demo', 'team-c', [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-0', chain: 'ingress-nginx-4-11' }]));
      const status = await eventually(() => published('clusterdeployment', 'status-demo', 'team-c'), (v) => targets(v?.[0]).length > 0, { what: 'status.servicesUpgradePaths on team-c/status-demo' });
      expect(status).toHaveLength(1);
      expect(status?.[0]).toMatchObject({ name: 'ingress-nginx', namespace: 'ingress-nginx', template: 'ingress-nginx-4-11-0' });
      expect(targets(status?.[0])).toEqual(['ingress-nginx-4-11-3', 'ingress-nginx-4-11-5']);
      // The item shape the release's schema defines (kcm v1.6 added versions): written in
      // another shape, the API server would prune it and the value would never compare equal.
      const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
      const versioned = major > 1 || (major === 1 && minor >= 6);
      for (const item of (status?.[0]?.availableUpgrades ?? []) as Array<{ upgradePaths: string[]; versions?: Array<{ name: string; version: string }> }>) {
        expect(Object.keys(item).sort()).toEqual(versioned ? ['upgradePaths', 'versions'] : ['upgradePaths']);
        if (versioned) expect(item.versions!.map((v) => v.name)).toEqual(item.upgradePaths);
      }
    });

    it('follows a template change', async () => {
      await apply(clusterDeployment('status-demo', 'team-c', [{ name: 'ingress-nginx', template: 'ingress-nginx-4-11-3', chain: 'ingress-nginx-4-11' }]));
      const status = await eventually(() => published('clusterdeployment', 'status-demo', 'team-c'), (v) => v?.[0]?.template === 'ingress-nginx-4-11-3', { what: 'status after the template change' });
      expect(status?.[0]).toMatchObject({ name: 'ingress-nginx', namespace: 'ingress-nginx', template: 'ingress-nginx-4-11-3' });
      expect(targets(status?.[0])).toEqual(['ingress-nginx-4-11-5']);
    });

    it('publishes MultiClusterService status from chains in the system namespace', async () => {
      await apply(chain('status-global', 'kcm-system', { 'g-1-0': ['g-1-1'], 'g-1-1': [] }));
      await apply(multiClusterService('status-global', [{ name: 'g', template: 'g-1-0', chain: 'status-global' }]));
      const status = await eventually(() => published('multiclusterservice', 'status-global'), (v) => targets(v?.[0]).length > 0, { what: 'status.servicesUpgradePaths on MultiClusterService status-global' });
      expect(status?.[0]).toMatchObject({ name: 'g', namespace: 'g', template: 'g-1-0' });
      expect(targets(status?.[0])).toEqual(['g-1-1']);
    });
  });
});
