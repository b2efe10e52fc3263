// Glue between the transport and the pure decisions: before deciding, make sure every chain
// the new object names is in the cache, asking the API server for the ones that are not, so
// that a chain created a moment ago (and not yet seen by the watch) is never refused.
import { parseServices } from '../model/parse.ts';
import type { ChainLookup, ChainRegistry } from '../graph/chain-registry.ts';
import type { TemplateChain } from '../graph/template-chain.ts';
import { chainKey } from '../model/resources.ts';
import type { AdmittedKind } from './decide.ts';
import { decide } from './decide.ts';
import { chainNamespaceFor } from './service-decisions.ts';
import type { AdmissionInput, Decision, DecisionContext, DecisionOptions } from './types.ts';

export interface HandlerDependencies {
  chains: ChainRegistry;
  options: DecisionOptions;
  /** Live read of one chain; undefined when it does not exist. Absent in offline mode. */
  fetchChain?: (namespace: string, name: string) => Promise<TemplateChain | undefined>;
  /** Objects that reference a chain (for delete protection); live, so never stale. */
  listReferences?: (namespace: string, chain: string) => Promise<string[]>;
  /** Names of the ServiceTemplates in a namespace; undefined when unknown. */
  listTemplates?: (namespace: string) => Promise<Set<string> | undefined>;
}

export function createAdmissionHandler(deps: HandlerDependencies) {
  return async (kind: AdmittedKind, input: AdmissionInput): Promise<Decision> => {
    const context: DecisionContext = { chains: deps.chains };
    if (kind !== 'ServiceTemplateChain') {
      if (deps.fetchChain) context.chains = await withCacheMisses(kind, input, deps);
    } else if (input.operation === 'DELETE' && deps.listReferences && deps.options.protectChainDeletion) {
      const references = await deps.listReferences(input.namespace, input.name);
      context.referencesTo = () => references;
    } else if (input.operation === 'CREATE' && deps.listTemplates) {
      const templates = await deps.listTemplates(input.namespace);
      if (templates) context.templateExists = (_namespace, name) => templates.has(name);
    }
    return decide(kind, input, context, deps.options);
  };
}

/**
 * The cache, plus live reads of the chains it lacks. The live results serve this decision
 * only: storing them could resurrect a chain deleted while the read was in flight; the
 * watch is what keeps the cache.
 */
async function withCacheMisses(kind: AdmittedKind, input: AdmissionInput, deps: HandlerDependencies): Promise<ChainLookup> {
  if (kind === 'ServiceTemplateChain' || !deps.fetchChain) return deps.chains;
  let names: string[];
  try {
    names = parseServices(input.object).flatMap((s) => (s.templateChain ? [s.templateChain] : []));
  } catch {
    return deps.chains; // malformed: the decision itself says so
  }
  const objectNamespace =
    ((input.object as { metadata?: { namespace?: unknown } } | undefined)?.metadata?.namespace as string | undefined) ||
    input.namespace;
  const namespace = chainNamespaceFor(kind, objectNamespace, deps.options);
  const missing = [...new Set(names)].filter((name) => !deps.chains.has(namespace, name));
  if (missing.length === 0) return deps.chains;
  const fetched = new Map<string, TemplateChain>();
  await Promise.all(
    missing.map(async (name) => {
      const chain = await deps.fetchChain!(namespace, name);
      if (chain) fetched.set(chainKey(namespace, name), chain);
    }),
  );
  return { get: (ns, name) => deps.chains.get(ns, name) ?? fetched.get(chainKey(ns, name)) };
}
