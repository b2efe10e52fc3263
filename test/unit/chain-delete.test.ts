// ServiceTemplateChain DELETE: who still resolves the chain (chainReferences), the decision
// (denied while referenced, a kcm-managed copy allowed with a warning, switchable), and the
// handler's live reads.
import { describe, it, expect } from 'vitest';
import { createAdmissionHandler } from '../../src/webhook/handler.ts';
import { chainReferences } from '../../src/rules/chain-references.ts';
import { isManagedChainCopy } from '../../src/rules/chain-decisions.ts';
import type { AdmissionInput, Decision, DecisionContext, DecisionOptions } from '../../src/rules/types.ts';
import { ChainRegistry } from '../../src/graph/chain-registry.ts';
import { admissionInput, chainObject, clusterDeployment, decideWith, expectDenied, multiClusterService, options, service } from '../support/builders.ts';

const NS = 'team-a';

function decideChain(input: AdmissionInput, extra: Omit<DecisionContext, 'chains'> = {}, opts: Partial<DecisionOptions> = {}): Decision {
  return decideWith('ServiceTemplateChain', input, new ChainRegistry(), opts, extra);
}

/** A DELETE as the API server sends it: request.name/namespace, and the chain as oldObject. */
function deleteOf(chain: unknown, namespace = NS, name = 'kyverno'): AdmissionInput {
  return admissionInput('DELETE', undefined, chain, { namespace, name });
}

function chainWithLabels(labels?: Record<string, string>, namespace = NS) {
  const chain = chainObject('kyverno', { 'kyverno-3-2-0': ['kyverno-3-3-0'], 'kyverno-3-3-0': [] }, { namespace });
  if (labels) chain.metadata.labels = labels;
  return chain;
}

const MANAGED = { 'k0rdent.mirantis.com/managed': 'true' };

describe('ServiceTemplateChain DELETE decision', () => {
  it('denies while something references the chain, naming it, for the chain asked about', () => {
    const asked: string[] = [];
    const referencesTo = (namespace: string, chain: string) => {
      asked.push(`${namespace}/${chain}`);
      return ['MultiClusterService global-kyverno (selects ClusterDeployment team-a/dev)'];
    };
    expect(expectDenied(decideChain(deleteOf(chainWithLabels()), { referencesTo }))).toBe(
      'ServiceTemplateChain team-a/kyverno is still referenced by 1 object(s): MultiClusterService global-kyverno (selects ClusterDeployment team-a/dev); point their services at another chain (or remove templateChain) first',
    );
    expect(asked).toEqual(['team-a/kyverno']);
  });

  it('names the first 10 and counts the rest', () => {
    const users = Array.from({ length: 12 }, (_, i) => `ClusterDeployment team-a/cd-${String(i).padStart(2, '0')}`);
    const message = expectDenied(decideChain(deleteOf(chainWithLabels()), { referencesTo: () => users }));
    expect(message).toContain(`still referenced by 12 object(s): ${users.slice(0, 10).join(', ')} and 2 more;`);
    expect(message).not.toContain('cd-10');
  });

  it('allows when nothing references the chain, or oldObject is missing', () => {
    expect(decideChain(deleteOf(chainWithLabels()), { referencesTo: () => [] })).toEqual({ allowed: true });
    expect(expectDenied(decideChain(deleteOf(undefined), { referencesTo: () => ['ClusterDeployment team-a/dev'] }))).toContain('team-a/kyverno');
  });

  it('allows a copy managed by AccessManagement with a warning, whoever references it', () => {
    let asked = 0;
    const decision = decideChain(deleteOf(chainWithLabels({ ...MANAGED, other: 'x' })), { referencesTo: () => (asked++, ['ClusterDeployment team-a/dev']) });
    expect(decision).toEqual({
      allowed: true,
      warnings: [
        "ServiceTemplateChain team-a/kyverno is a copy managed by kcm's AccessManagement (label k0rdent.mirantis.com/managed=true): kcm will recreate it while an AccessManagement rule still distributes it to team-a, and removes it itself once none does; its references were not checked",
      ],
    });
    expect(asked).toBe(0);
  });

  it('only the exact label value "true" on oldObject marks a managed copy', () => {
    const users = () => ['ClusterDeployment team-a/dev'];
    const notManaged: Array<Record<string, string>> = [{ 'k0rdent.mirantis.com/managed': 'false' }, { 'k0rdent.mirantis.com/managed': 'True' }, { managed: 'true' }, {}];
    for (const labels of notManaged) {
      expectDenied(decideChain(deleteOf(chainWithLabels(labels)), { referencesTo: users }));
    }
    // The label on the (absent) new object does not count: a DELETE carries the chain in oldObject.
    expectDenied(decideChain(admissionInput('DELETE', chainWithLabels(MANAGED), undefined, { namespace: NS, name: 'kyverno' }), { referencesTo: users }));
    expect(isManagedChainCopy({ metadata: { labels: MANAGED } })).toBe(true);
    for (const odd of [undefined, null, 'x', { metadata: null }, { metadata: { labels: 'k0rdent.mirantis.com/managed=true' } }, { metadata: { labels: { 'k0rdent.mirantis.com/managed': true } } }]) {
      expect(isManagedChainCopy(odd)).toBe(false);
    }
  });

  it('can be switched off', () => {
    const referencesTo = () => ['ClusterDeployment team-a/dev'];
    expect(decideChain(deleteOf(chainWithLabels()), { referencesTo }, { protectChainDeletion: false })).toEqual({ allowed: true });
    expect(decideChain(deleteOf(chainWithLabels(MANAGED)), { referencesTo }, { protectChainDeletion: false })).toEqual({ allowed: true });
  });

  it('allows when references are unknown (offline)', () => {
    expect(decideChain(deleteOf(chainWithLabels()))).toEqual({ allowed: true });
  });
});

describe('chainReferences', () => {
  const kyverno = [service('kyverno', 'kyverno-3-2-0', 'kyverno')];
  const other = [service('kyverno', 'kyverno-3-2-0', 'other-chain')];
  const cd = (name: string, labels: Record<string, string>, services: unknown[] = [], extra: Record<string, unknown> = {}) => {
    const object = clusterDeployment(services, { name, namespace: NS, labels });
    Object.assign(object.metadata as Record<string, unknown>, extra);
    return object;
  };
  const mcs = (name: string, clusterSelector: unknown, services = kyverno) => {
    const object = multiClusterService(services, { name });
    if (clusterSelector !== undefined) (object.spec as Record<string, unknown>).clusterSelector = clusterSelector;
    return object;
  };
  const refs = (cds: unknown[], mcss: unknown[], namespace = NS, systemNamespace = 'kcm-system') => chainReferences(namespace, 'kyverno', systemNamespace, cds, mcss);

  it('a ClusterDeployment in the namespace naming the chain', () => {
    expect(refs([cd('dev', {}, kyverno), cd('prod', {}, other)], [])).toEqual(['ClusterDeployment team-a/dev']);
  });

  it('a MultiClusterService naming the chain whose selector picks a ClusterDeployment here', () => {
    const cds = [cd('dev', { env: 'dev' }), cd('prod', { env: 'prod' })];
    expect(refs(cds, [mcs('global-kyverno', { matchLabels: { env: 'dev' } })])).toEqual(['MultiClusterService global-kyverno (selects ClusterDeployment team-a/dev)']);
    expect(refs(cds, [mcs('by-expression', { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev', 'prod'] }] })])).toEqual([
      'MultiClusterService by-expression (selects ClusterDeployment team-a/dev and 1 more)',
    ]);
    // Naming another chain, or selecting nobody here, is no reference.
    expect(refs(cds, [mcs('other', { matchLabels: { env: 'dev' } }, other), mcs('qa', { matchLabels: { env: 'qa' } })])).toEqual([]);
  });

  it('follows kcm: empty and unparsable selectors select nothing; ClusterDeployments being deleted are not selected', () => {
    const cds = [cd('dev', { env: 'dev' }), cd('leaving', { env: 'gone' }, [], { deletionTimestamp: '2026-01-01T00:00:00Z' })];
    expect(refs(cds, [mcs('empty', {}), mcs('absent', undefined), mcs('bad-op', { matchExpressions: [{ key: 'env', operator: 'Equals', values: ['dev'] }] })])).toEqual([]);
    expect(refs(cds, [mcs('bad-key', { matchLabels: { 'not a key': 'x', env: 'dev' } }), mcs('not-an-object', 'env=dev')])).toEqual([]);
    expect(refs(cds, [mcs('leaving', { matchLabels: { env: 'gone' } })])).toEqual([]);
  });

  it('in the system namespace, every MultiClusterService naming the chain, once', () => {
    const cds = [cd('mgmt', { env: 'dev' }, [], { namespace: 'kcm-system' })];
    expect(refs(cds, [mcs('global', {}), mcs('selecting', { matchLabels: { env: 'dev' } }), mcs('other', {}, other)], 'kcm-system')).toEqual([
      'MultiClusterService global',
      'MultiClusterService selecting',
    ]);
    // The system namespace is configurable.
    expect(refs([], [mcs('global', {})], 'platform', 'platform')).toEqual(['MultiClusterService global']);
    expect(refs([], [mcs('global', {})], 'kcm-system', 'platform')).toEqual([]);
  });

  it('sorted, with ClusterDeployments both naming the chain and selected', () => {
    const cds = [cd('b', { env: 'dev' }, kyverno), cd('a', { env: 'dev' })];
    expect(refs(cds, [mcs('z-mcs', { matchLabels: { env: 'dev' } })])).toEqual([
      'ClusterDeployment team-a/b',
      'MultiClusterService z-mcs (selects ClusterDeployment team-a/a and 1 more)',
    ]);
  });

  it('skips malformed objects instead of throwing', () => {
    const broken = { metadata: { name: 'broken', namespace: NS }, spec: { serviceSpec: { services: 'nope' } } };
    expect(refs([broken, null, 'x', cd('dev', { env: 'dev' })], [null, { spec: 1 }, mcs('ok', { matchLabels: { env: 'dev' } })])).toEqual([
      'MultiClusterService ok (selects ClusterDeployment team-a/dev)',
    ]);
  });
});

describe('createAdmissionHandler on chain DELETE', () => {
  it('lists references for an ordinary chain, not for a managed copy or with protection off', async () => {
    const asked: string[] = [];
    const deps = {
      chains: new ChainRegistry(),
      listReferences: async (namespace: string, chain: string) => (asked.push(`${namespace}/${chain}`), ['ClusterDeployment team-a/dev']),
    };
    const handler = createAdmissionHandler({ ...deps, options: options() });
    expectDenied(await handler('ServiceTemplateChain', deleteOf(chainWithLabels())));
    expect(asked).toEqual(['team-a/kyverno']);
    const managed = await handler('ServiceTemplateChain', deleteOf(chainWithLabels(MANAGED)));
    expect(managed.allowed).toBe(true);
    expect(managed.warnings?.[0]).toContain("copy managed by kcm's AccessManagement");
    expect(asked).toHaveLength(1);
    const off = createAdmissionHandler({ ...deps, options: options({ protectChainDeletion: false }) });
    expect(await off('ServiceTemplateChain', deleteOf(chainWithLabels()))).toEqual({ allowed: true });
    expect(asked).toHaveLength(1);
  });
});
