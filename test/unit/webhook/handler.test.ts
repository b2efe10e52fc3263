// createAdmissionHandler (src/webhook/handler.ts): the live reads it makes before deciding.
import { describe, it, expect } from 'vitest';
import { createAdmissionHandler } from '../../../src/webhook/handler.ts';
import { ChainRegistry } from '../../../src/graph/chain-registry.ts';
import { LoadedChain } from '../../../src/graph/loaded-chain.ts';
import {
  admissionInput,
  chainObject,
  clusterDeployment,
  create,
  expectAllowed,
  expectDenied,
  multiClusterService,
  options,
  registryOf,
  service,
  update,
} from '../../support/builders.ts';

describe('createAdmissionHandler', () => {
  const before = clusterDeployment([service('s', 'a', 'late')]);
  const after = clusterDeployment([service('s', 'b', 'late')]);

  it('reads a chain missing from the cache before deciding', async () => {
    const chains = registryOf(chainObject('cached', { a: ['b'], b: [] }, { namespace: 'team-a' }));
    const fetched: string[] = [];
    const handler = createAdmissionHandler({
      chains,
      options: options(),
      fetchChain: async (namespace, name) => {
        fetched.push(`${namespace}/${name}`);
        return LoadedChain.fromObject(chainObject(name, { a: ['b'], b: [] }, { namespace }));
      },
    });
    expectAllowed(await handler('ClusterDeployment', update(before, after)));
    expect(fetched).toEqual(['team-a/late']);
    // Chains already in the cache are not read again.
    fetched.length = 0;
    const viaCache = update(clusterDeployment([service('s', 'a', 'cached')]), clusterDeployment([service('s', 'b', 'cached')]));
    expectAllowed(await handler('ClusterDeployment', viaCache));
    expect(fetched).toEqual([]);
  });

  it('fetches MultiClusterService chains from the system namespace', async () => {
    const fetched: string[] = [];
    const handler = createAdmissionHandler({
      chains: new ChainRegistry(),
      options: options({ systemNamespace: 'platform' }),
      fetchChain: async (namespace, name) => (fetched.push(`${namespace}/${name}`), undefined),
    });
    const input = update(multiClusterService([service('s', 'a', 'x')]), multiClusterService([service('s', 'b', 'x')]));
    expect(expectDenied(await handler('MultiClusterService', input))).toContain('platform/x does not exist');
    expect(fetched).toEqual(['platform/x']);
  });

  it('a malformed object is decided (400) without fetching', async () => {
    let calls = 0;
    const handler = createAdmissionHandler({
      chains: new ChainRegistry(),
      options: options(),
      fetchChain: async () => (calls++, undefined),
    });
    expectDenied(await handler('ClusterDeployment', create({ spec: { serviceSpec: { services: 1 } } })), 400);
    expect(calls).toBe(0);
  });

  it('asks for references on chain DELETE only when protection is on', async () => {
    let calls = 0;
    const deps = {
      chains: new ChainRegistry(),
      listReferences: async () => (calls++, ['ClusterDeployment kcm-system/x']),
    };
    const input = admissionInput('DELETE', undefined, chainObject('c', { a: [] }), { namespace: 'kcm-system', name: 'c' });
    expectDenied(await createAdmissionHandler({ ...deps, options: options() })('ServiceTemplateChain', input));
    expect(calls).toBe(1);
    expectAllowed(await createAdmissionHandler({ ...deps, options: options({ protectChainDeletion: false }) })('ServiceTemplateChain', input));
    expect(calls).toBe(1);
  });

  it('warns about missing templates on chain CREATE', async () => {
    const handler = createAdmissionHandler({
      chains: new ChainRegistry(),
      options: options(),
      listTemplates: async () => new Set(['a']),
    });
    const input = admissionInput('CREATE', chainObject('c', { a: ['b'], b: [] }), undefined, { namespace: 'kcm-system', name: 'c' });
    expect(await handler('ServiceTemplateChain', input)).toEqual({
      allowed: true,
      warnings: ['ServiceTemplate not found yet in kcm-system: b'],
    });
  });
});
