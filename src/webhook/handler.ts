// Glue between the transport and the pure decisions: before deciding, make sure every chain
// the new object names is in the cache, asking the API server for the ones that are not, so
// that a chain created a moment ago (and not yet seen by the watch) is never refused.
import { parseServices } from '../model/parse.ts';
import { metaOf } from '../model/meta.ts';
import type { ChainLookup, ChainRegistry } from '../graph/chain-registry.ts';
import type { LoadedChain } from '../graph/loaded-chain.ts';
import { chainKey } from '../model/resources.ts';
import type { AdmittedKind } from '../rules/decide.ts';
import { decide } from '../rules/decide.ts';
import { chainNamespaceFor } from '../rules/service-decisions.ts';
import { isManagedChainCopy } from '../rules/chain-decisions.ts';
import type { AdmissionInput, Decision, DecisionContext } from '../rules/types.ts';
import type { DecisionSources } from '../rules/decision-sources.ts';

export function createAdmissionHandler(deps: DecisionSources) {
  return async (kind: AdmittedKind, input: AdmissionInput): Promise<Decision> => {
    const context: DecisionContext = { chains: deps.chains };
    const versions = deps.templateVersions;
    if (versions) context.templateVersion = (namespace, name) => versions.get(namespace, name);
    const deployed = deps.deployed;
    if (deployed) context.deployedStates = (k, namespace, name, service) => deployed.statesOf(k, namespace, name, service);
    const options = deps.policy ? { ...deps.options, policy: deps.policy() } : deps.options;
    if (kind !== 'ServiceTemplateChain') {
      if (deps.fetchChain) context.chains = await withCacheMisses(kind, input, deps);
    } else if (input.operation === 'DELETE' && deps.listReferences && deps.options.protectChainDeletion && !isManagedChainCopy(input.oldObject)) {
      // A managed copy is allowed whoever uses it (chain-decisions.ts): no live lists for it.
      const references = await deps.listReferences(input.namespace, input.name);
      context.referencesTo = () => references;
    } else if (input.operation === 'CREATE' && deps.listTemplates) {
      const templates = await deps.listTemplates(input.namespace);
      if (templates) context.templateExists = (_namespace, name) => templates.has(name);
    }
    return decide(kind, input, context, options);
  };
}

/**
 * The cache, plus live reads of the chains it lacks. The live results serve this decision
 * only: storing them could resurrect a chain deleted while the read was in flight; the
 * watch is what keeps the cache.
 */
async function withCacheMisses(kind: AdmittedKind, input: AdmissionInput, deps: DecisionSources): Promise<ChainLookup> {
  if (kind === 'ServiceTemplateChain' || !deps.fetchChain) return deps.chains;
  let names: string[];
  try {
    names = parseServices(input.object).flatMap((s) => (s.templateChain ? [s.templateChain] : []));
  } catch {
    return deps.chains; // malformed: the decision itself says so
  }
  const objectNamespace = metaOf(input.object).namespace || input.namespace;
  const namespace = chainNamespaceFor(kind, objectNamespace, deps.options);
  const missing = [...new Set(names)].filter((name) => !deps.chains.has(namespace, name));
  if (missing.length === 0) return deps.chains;
  const fetched = new Map<string, LoadedChain>();
  await Promise.all(
    missing.map(async (name) => {
      const chain = await deps.fetchChain!(namespace, name);
      if (chain) fetched.set(chainKey(namespace, name), chain);
    }),
  );
  return { get: (ns, name) => deps.chains.get(ns, name) ?? fetched.get(chainKey(ns, name)) };
}
