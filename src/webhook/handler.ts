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

/**
 * The handler answers synchronously when the cache has everything (the common case): an
 * async function would cost every review a promise and a turn of the microtask queue.
 */
export function createAdmissionHandler(deps: DecisionSources) {
  return (kind: AdmittedKind, input: AdmissionInput): Decision | Promise<Decision> => {
    const context: DecisionContext = { chains: deps.chains };
    const versions = deps.templateVersions;
    if (versions) context.templateVersion = (namespace, name) => versions.get(namespace, name);
    const deployed = deps.deployed;
    if (deployed) context.deployedStates = (k, namespace, name, service) => deployed.statesOf(k, namespace, name, service);
    const options = deps.policy ? { ...deps.options, policy: deps.policy() } : deps.options;
    const decideNow = (): Decision => decide(kind, input, context, options);
    if (kind !== 'ServiceTemplateChain') {
      if (!deps.fetchChain) return decideNow();
      const chains = withCacheMisses(kind, input, deps);
      if (!(chains instanceof Promise)) {
        context.chains = chains;
        return decideNow();
      }
      return chains.then((lookup) => {
        context.chains = lookup;
        return decideNow();
      });
    }
    if (input.operation === 'DELETE' && deps.listReferences && deps.options.protectChainDeletion && !isManagedChainCopy(input.oldObject)) {
      // A managed copy is allowed whoever uses it (chain-decisions.ts): no live lists for it.
      return deps.listReferences(input.namespace, input.name).then((references) => {
        context.referencesTo = () => references;
        return decideNow();
      });
    }
    if (input.operation === 'CREATE' && deps.listTemplates) {
      return deps.listTemplates(input.namespace).then((templates) => {
        if (templates) context.templateExists = (_namespace, name) => templates.has(name);
        return decideNow();
      });
    }
    return decideNow();
  };
}

/**
 * The cache, plus live reads of the chains it lacks. The live results serve this decision
 * only: storing them could resurrect a chain deleted while the read was in flight; the
 * watch is what keeps the cache.
 */
function withCacheMisses(kind: AdmittedKind, input: AdmissionInput, deps: DecisionSources): ChainLookup | Promise<ChainLookup> {
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
  const fetchChain = deps.fetchChain;
  const fetched = new Map<string, LoadedChain>();
  return Promise.all(
    missing.map(async (name) => {
      const chain = await fetchChain(namespace, name);
      if (chain) fetched.set(chainKey(namespace, name), chain);
    }),
  ).then(() => ({ get: (ns: string, name: string) => deps.chains.get(ns, name) ?? fetched.get(chainKey(ns, name)) }));
}
