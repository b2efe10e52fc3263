// Versions, targets and kcm's sequential walk (SPEC "kcm generations and upgrade policies"),
// through the same decide() the webhook and the CLI call.
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/rules/decide.ts';
import type { Decision, DecisionContext, DecisionOptions } from '../../src/rules/types.ts';
import { simulateKcmWalk } from '../../src/rules/kcm-walk.ts';
import { sequentialRoutes } from '../../src/rules/sequential-routes.ts';
import { ChainRegistry } from '../../src/graph/chain-registry.ts';
import { kcmUpgradePaths, pathEntries, PathSearchTooLargeError } from '../../src/graph/kcm-paths.ts';
import { validateChainSpec } from '../../src/graph/chain-validation.ts';
import { compareSemVer, parseSemVer, semVerEqual } from '../../src/model/semver.ts';
import { resolvedTemplateVersion, readServiceSet } from '../../src/model/deployments.ts';
import { DeployedServices } from '../../src/graph/deployment-index.ts';
import type { SupportedTemplate } from '../../src/model/resources.ts';
import { chainWithTemplates, clusterDeployment, options, registryOf, update } from '../support/builders.ts';

const NS = 'team-a';
/** The versioned chain: 4-11-3 -> {4-11-5, 4-12-3}, 4-11-5 -> 4-12-3, 4-12-3 -> 4-13-0. */
const V = (minor: number, patch: number) => ({ name: `nginx-4-${minor}-${patch}`, version: `4.${minor}.${patch}` });
const versioned: SupportedTemplate[] = [
  { name: 'nginx-4-11-3', availableUpgrades: [V(11, 5), V(12, 3)] },
  { name: 'nginx-4-11-5', availableUpgrades: [V(12, 3)] },
  { name: 'nginx-4-12-3', availableUpgrades: [V(13, 0)] },
  { name: 'nginx-4-13-0' },
];
const plain: SupportedTemplate[] = [
  { name: 'a', availableUpgrades: [{ name: 'b' }] },
  { name: 'b', availableUpgrades: [{ name: 'c' }] },
  { name: 'c' },
];

function registry(): ChainRegistry {
  return registryOf(chainWithTemplates('nginx', versioned, { namespace: NS }), chainWithTemplates('plain', plain, { namespace: NS }));
}

interface Svc { template: string; version?: string; chain?: string }
const svc = ({ template, version, chain = 'nginx' }: Svc) => ({ name: 'ingress', namespace: 'ingress', template, templateChain: chain, ...(version ? { version } : {}) });

/** The ServiceTemplates of the cluster: nginx-4-11-3 is version 4.11.3, and so on. */
const serviceTemplateVersion = (_namespace: string, name: string) => /^nginx-(\d+)-(\d+)-(\d+)$/.exec(name)?.slice(1).join('.');

function change(from: Svc, to: Svc, opts: Partial<DecisionOptions> = {}, extra: Omit<DecisionContext, 'chains'> = {}): Decision {
  const input = update(clusterDeployment([svc(from)], { namespace: NS, name: 'demo' }), clusterDeployment([svc(to)], { namespace: NS, name: 'demo' }));
  return decide('ClusterDeployment', input, { chains: registry(), templateVersion: serviceTemplateVersion, ...extra }, options(opts));
}

describe('sequential policy: kcm walks a multi-step target one declared edge at a time', () => {
  it('admits 4-11-3 -> 4-13-0 and warns with the steps kcm will deploy (edge refuses it)', () => {
    const decision = change({ template: 'nginx-4-11-3' }, { template: 'nginx-4-13-0' }, { policy: 'sequential' });
    expect(decision.allowed, decision.message).toBe(true);
    expect(decision.warnings).toEqual([
      'service ingress/ingress: kcm will upgrade in 3 steps: nginx-4-11-5 (4.11.5) -> nginx-4-12-3 (4.12.3) -> nginx-4-13-0 (4.13.0)',
    ]);
    const edge = change({ template: 'nginx-4-11-3' }, { template: 'nginx-4-13-0' }, { policy: 'edge' });
    expect(edge.allowed).toBe(false);
    expect(edge.message).toContain('has no upgrade nginx-4-11-3 -> nginx-4-13-0');
  });

  it('refuses the bypass: template kept, version set to a later entry (ambiguous)', () => {
    const decision = change({ template: 'nginx-4-11-3' }, { template: 'nginx-4-11-3', version: '4.13.0' }, { policy: 'sequential' });
    expect(decision.allowed).toBe(false);
    expect(decision.message).toBe(
      "service ingress/ingress can't be upgraded from nginx-4-11-3 to nginx-4-11-3 (version 4.13.0): template nginx-4-11-3 and version 4.13.0 name different entries of ServiceTemplateChain team-a/nginx (version 4.13.0 is nginx-4-13-0); set template to nginx-4-13-0 or remove version",
    );
  });

  it('gates a version-only change, and accepts template and version that agree', () => {
    expect(change({ template: 'nginx-4-11-3' }, { template: 'nginx-4-13-0', version: '4.13.0' }, { policy: 'sequential' }).allowed).toBe(true);
    const none = change({ template: 'nginx-4-11-3' }, { template: 'nginx-4-13-0', version: '9.9.9' }, { policy: 'sequential' });
    expect(none.message).toContain('no upgrade reachable from nginx-4-11-3 in ServiceTemplateChain team-a/nginx has version 9.9.9; versions reachable from nginx-4-11-3: 4.11.5, 4.12.3, 4.13.0');
  });

  it('refuses what kcm would jump: an unversioned chain admitted by reachable, refused by sequential', () => {
    expect(change({ template: 'a', chain: 'plain' }, { template: 'c', chain: 'plain' }, { policy: 'reachable' }).allowed).toBe(true);
    const sequential = change({ template: 'a', chain: 'plain' }, { template: 'c', chain: 'plain' }, { policy: 'sequential' });
    expect(sequential.allowed).toBe(false);
    expect(sequential.message).toBe(
      "service ingress/ingress can't be upgraded from a to c: kcm would deploy c directly from a because the deployed version a is not a semantic version, but ServiceTemplateChain team-a/plain has no upgrade a -> c; direct upgrades from a: b; c is reachable in 2 steps: a -> b -> c (apply b first)",
    );
    expect(change({ template: 'a', chain: 'plain' }, { template: 'b', chain: 'plain' }, { policy: 'sequential' }).allowed).toBe(true);
  });

  it('walks from what the ServiceSet reports deployed, not the old spec, in the middle of a walk', () => {
    const deployedStates = () => [{ template: 'nginx-4-12-3', version: '4.12.3' }];
    const decision = change({ template: 'nginx-4-11-3' }, { template: 'nginx-4-13-0' }, { policy: 'edge' }, { deployedStates });
    expect(decision.allowed, decision.message).toBe(true); // 4-12-3 -> 4-13-0 is one edge
  });

  it("reads a target's version from its ServiceTemplate, as kcm does", () => {
    // The ServiceTemplate says 4.12.9, which no entry carries: kcm finds it on no path and jumps.
    const templateVersion = (_ns: string, name: string) => (name === 'nginx-4-12-3' ? '4.12.9' : undefined);
    const decision = change({ template: 'nginx-4-11-5' }, { template: 'nginx-4-12-3' }, { policy: 'sequential' }, { templateVersion });
    expect(decision.allowed).toBe(true); // the jump is the declared edge 4-11-5 -> 4-12-3
    const far = change({ template: 'nginx-4-11-3' }, { template: 'nginx-4-13-0' }, { policy: 'sequential' }, { templateVersion: () => '5.0.0' });
    expect(far.allowed).toBe(false);
    expect(far.message).toContain('kcm would deploy nginx-4-13-0 (5.0.0) directly from nginx-4-11-3 (5.0.0)');
    // Without ServiceTemplates (offline, none in the files) the root's version is its name: kcm's own fallback.
    const unknown = change({ template: 'nginx-4-11-3' }, { template: 'nginx-4-13-0' }, { policy: 'sequential' }, { templateVersion: () => undefined });
    expect(unknown.message).toContain('because the deployed version nginx-4-11-3 is not a semantic version');
  });

  it('--unchained-upgrades allow admits a change of a service without a chain; deny names the option', () => {
    const input = update(clusterDeployment([{ name: 'x', template: 'a' }]), clusterDeployment([{ name: 'x', template: 'c' }]));
    expect(decide('ClusterDeployment', input, { chains: registry() }, options({ unchainedUpgrades: 'allow' })).allowed).toBe(true);
    expect(decide('ClusterDeployment', input, { chains: registry() }, options()).message).toContain('--unchained-upgrades allow');
  });
});

describe("kcm's upgrade paths and walk, as read from kcm v1.11.4", () => {
  it('keeps the longest path per destination (the first found among equals)', () => {
    const paths = kcmUpgradePaths(versioned, 'nginx-4-11-3')!;
    expect(paths.map((p) => [p.destination, pathEntries(p).map((e) => e.version)])).toEqual([
      ['nginx-4-11-5', ['4.11.5']],
      ['nginx-4-12-3', ['4.11.5', '4.12.3']],
      ['nginx-4-13-0', ['4.11.5', '4.12.3', '4.13.0']],
    ]);
    expect(kcmUpgradePaths(versioned, 'ghost')).toBeUndefined();
  });

  it('records a path back to the start of a cycle (kcm lists the current template as a destination)', () => {
    const paths = kcmUpgradePaths([{ name: 'a', availableUpgrades: [{ name: 'b' }] }, { name: 'b', availableUpgrades: [{ name: 'a' }] }], 'a')!;
    expect(paths.map((p) => pathEntries(p).map((e) => e.name))).toEqual([['b'], ['b', 'a']]);
  });

  it('gives up past its budget instead of stalling a request on a dense chain', () => {
    const dense: SupportedTemplate[] = Array.from({ length: 30 }, (_, i) => ({
      name: `t${i}`,
      availableUpgrades: Array.from({ length: 30 - i - 1 }, (_, j) => ({ name: `t${i + j + 1}`, version: `1.${i + j + 1}.0` })),
    }));
    expect(() => kcmUpgradePaths(dense, 't0', 10_000)).toThrow(PathSearchTooLargeError);
  });

  it('settles: a jump lands on the target and the walk stops there', () => {
    const walk = simulateKcmWalk((t) => kcmUpgradePaths(plain, t), { template: 'a', version: 'a' }, { template: 'c', version: 'c' });
    expect(walk).toEqual({ steps: [{ template: 'c', version: 'c', kind: 'jump', why: 'the deployed version a is not a semantic version' }] });
  });
});

describe('published routes under sequential: the steps kcm deploys', () => {
  it('routes each destination through kcm\'s walk, one edit where the walk is all edges', () => {
    const chain = registry().get(NS, 'nginx')!;
    const { routes, complete } = sequentialRoutes(chain, { template: 'nginx-4-11-3', version: '4.11.3' }, (t) => serviceTemplateVersion(NS, t)!);
    expect(complete).toBe(true);
    expect(routes).toEqual([
      { destination: 'nginx-4-11-5', path: ['nginx-4-11-5'] },
      { destination: 'nginx-4-12-3', path: ['nginx-4-11-5', 'nginx-4-12-3'] },
      { destination: 'nginx-4-13-0', path: ['nginx-4-11-5', 'nginx-4-12-3', 'nginx-4-13-0'] },
    ]);
  });

  it('reaches what kcm would jump to over several edits, and stops at its budget', () => {
    const chain = registry().get(NS, 'plain')!;
    // a -> c would be a jump (names are no versions): c is published as two edits, a -> b, then b -> c.
    expect(sequentialRoutes(chain, { template: 'a', version: 'a' }, (t) => t).routes).toEqual([
      { destination: 'b', path: ['b'] },
      { destination: 'c', path: ['b', 'c'] },
    ]);
    expect(sequentialRoutes(chain, { template: 'a', version: 'a' }, (t) => t, 1)).toEqual({ routes: [{ destination: 'b', path: ['b'] }], complete: false });
  });
});

describe("chain rules: kcm's mixed-version rule", () => {
  it("warns when an entry's version differs from its ServiceTemplate's resolved version", () => {
    const object = { apiVersion: 'k0rdent.mirantis.com/v1beta1', kind: 'ServiceTemplateChain', metadata: { name: 'drift', namespace: NS }, spec: { supportedTemplates: [
      { name: 'nginx-4-11-3', availableUpgrades: [{ name: 'nginx-4-11-5', version: '4.11.5' }, { name: 'nginx-4-12-3', version: '4.12.0' }] },
      { name: 'nginx-4-11-5' }, { name: 'nginx-4-12-3' },
    ] } };
    const input = { operation: 'CREATE' as const, namespace: NS, name: 'drift', object, oldObject: undefined };
    const decision = decide('ServiceTemplateChain', input, { chains: registry(), templateVersion: serviceTemplateVersion }, options());
    expect(decision).toEqual({
      allowed: true,
      warnings: ['ServiceTemplateChain team-a/drift: nginx-4-12-3 is 4.12.0 here but 4.12.3 in its ServiceTemplate; kcm will deploy such targets directly, not step by step'],
    });
  });

  it('refuses a template whose upgrades mix entries with and without version; empty counts as none', () => {
    const mixed = validateChainSpec([{ name: 'a', availableUpgrades: [{ name: 'b', version: '1.0.0' }, { name: 'c' }] }, { name: 'b' }, { name: 'c' }]);
    expect(mixed.valid).toBe(false);
    expect(mixed.errors).toEqual(['a mixes upgrades with and without version (1 of 2 have one); set version on all of them or on none']);
    expect(validateChainSpec([{ name: 'a', availableUpgrades: [{ name: 'b', version: '' }, { name: 'c' }] }, { name: 'b' }, { name: 'c' }]).valid).toBe(true);
  });
});

describe('semver as kcm parses it (Masterminds semver v3.5.0, coercing)', () => {
  it.each([
    ['v1.2', '1.2.0'],
    ['1', '1.0.0'],
    ['01.02.03', '1.2.3'],
    ['1.2.3-rc.1+build.5', '1.2.3-rc.1'],
  ])('accepts %s as %s', (text, normal) => {
    expect(semVerEqual(text, normal)).toBe(true);
  });

  it.each(['', 'a', '1.2.3.4', '1.2.3-01', '1.2.3-', '1.2.3+', 'V1.2.3', ' 1.2.3', '1.2.3\n', '99999999999999999999.0.0', `1.2.3-${'a'.repeat(300)}`])(
    'rejects %j',
    (text) => {
      expect(parseSemVer(text)).toBeUndefined();
    },
  );

  it('orders prereleases as semver does, and ignores build metadata', () => {
    const order = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.10.0', '18446744073709551615.0.0'];
    for (let i = 0; i + 1 < order.length; i++) {
      expect(compareSemVer(parseSemVer(order[i]!)!, parseSemVer(order[i + 1]!)!), `${order[i]} < ${order[i + 1]}`).toBe(-1);
    }
    expect(compareSemVer(parseSemVer('1.0.0+a')!, parseSemVer('1.0.0+b')!)).toBe(0);
  });
});

describe('ServiceTemplates and ServiceSets from hostile objects', () => {
  it("resolves a template's version like kcm, falling back on odd fields", () => {
    expect(resolvedTemplateVersion({ metadata: { name: 't' }, spec: { version: '1.0.0', helm: { chartSpec: { version: '2.0.0' } } } })).toBe('1.0.0');
    expect(resolvedTemplateVersion({ metadata: { name: 't' }, spec: { helm: { chartSpec: { version: '2.0.0' } } } })).toBe('2.0.0');
    expect(resolvedTemplateVersion({ metadata: { name: 't' } })).toBe('t');
    expect(resolvedTemplateVersion({ metadata: { name: 't' }, spec: { version: 42, helm: 'x' } })).toBe('t');
    expect(resolvedTemplateVersion({ metadata: { name: 't' }, spec: { version: 'x'.repeat(5000) } })).toBe('t');
    expect(resolvedTemplateVersion({ spec: {} })).toBeUndefined();
    expect(resolvedTemplateVersion(null)).toBeUndefined();
  });

  it('reads only Deployed services with a version from a ServiceSet', () => {
    const set = readServiceSet({
      metadata: { name: 'demo-1', namespace: NS },
      spec: { cluster: 'demo' },
      status: { services: [
        { name: 'ingress', namespace: 'ingress', template: 'nginx-4-12-3', version: '4.12.3', state: 'Deployed' },
        { name: 'other', template: 'x', version: '1', state: 'Provisioning' },
        { name: 'odd', template: 7, version: '1', state: 'Deployed' },
        'garbage',
      ] },
    })!;
    expect(set.owner).toBe('ClusterDeployment team-a/demo');
    expect([...set.deployed]).toEqual([['ingress/ingress', { template: 'nginx-4-12-3', version: '4.12.3' }]]);
    expect(readServiceSet({ metadata: { name: 'x' }, spec: {} })).toBeUndefined();
    expect(readServiceSet({ metadata: { name: 'x' }, spec: { cluster: 'c' }, status: { services: 'nope' } })!.deployed.size).toBe(0);
    const index = new DeployedServices();
    index.set({ metadata: { name: 'demo-1', namespace: NS }, spec: { cluster: 'demo' }, status: { services: [{ name: 'ingress', namespace: 'ingress', template: 't', version: '1.0.0', state: 'Deployed' }] } });
    expect(index.statesOf('ClusterDeployment', NS, 'demo', 'ingress/ingress')).toEqual([{ template: 't', version: '1.0.0' }]);
    index.delete(NS, 'demo-1');
    expect(index.statesOf('ClusterDeployment', NS, 'demo', 'ingress/ingress')).toEqual([]);
  });
});

describe("kcm's generation, read from the ClusterDeployment CRD as released", () => {
  it('v1.0.0 is classic, v1.11.4 sequential; a CRD without served versions is classic', async () => {
    const { kcmCrds } = await import('../kcm/crds.ts');
    const { generationOfCrd } = await import('../../src/kube/kcm-generation.ts');
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const crd = (version: string) => parse(readFileSync(`${kcmCrds(version)}/k0rdent.mirantis.com_clusterdeployments.yaml`, 'utf8'));
    expect(generationOfCrd(crd('v1.0.0'))).toBe('classic');
    expect(generationOfCrd(crd('v1.11.4'))).toBe('sequential');
    const unserved = crd('v1.11.4');
    for (const v of unserved.spec.versions) v.served = false;
    expect(generationOfCrd(unserved)).toBe('classic');
    expect(generationOfCrd(null)).toBe('classic');
    expect(generationOfCrd({ spec: { versions: 'x' } })).toBe('classic');
  });

  it("the published item shape: upgradePaths on v1.0.0 and v1.3.0, versions beside them on v1.10.0 and v1.11.4", async () => {
    const { kcmCrds } = await import('../kcm/crds.ts');
    const { upgradeItemShapeOfCrd } = await import('../../src/kube/kcm-generation.ts');
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const crd = (version: string) => parse(readFileSync(`${kcmCrds(version)}/k0rdent.mirantis.com_clusterdeployments.yaml`, 'utf8'));
    expect(upgradeItemShapeOfCrd(crd('v1.0.0'))).toBe('names');
    expect(upgradeItemShapeOfCrd(crd('v1.3.0'))).toBe('names');
    expect(upgradeItemShapeOfCrd(crd('v1.10.0'))).toBe('versions');
    expect(upgradeItemShapeOfCrd(crd('v1.11.4'))).toBe('versions');
    const unserved = crd('v1.11.4');
    for (const v of unserved.spec.versions) v.served = false;
    expect(upgradeItemShapeOfCrd(unserved)).toBe('names');
    expect(upgradeItemShapeOfCrd(null)).toBe('names');
    expect(upgradeItemShapeOfCrd({ spec: { versions: [{ schema: { openAPIV3Schema: 'x' } }] } })).toBe('names');
  });
});
