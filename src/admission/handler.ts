// Glue between the transport and the pure decisions: before deciding, make sure every chain
// the new object names is in the cache, asking the API server for the ones that are not, so
// that a chain created a moment ago (and not yet seen by the watch) is never refused.
import type { ServiceTemplateChain } from '../model/resources.ts';
import { parseServices } from '../model/parse.ts';
import type { ChainRegistry } from '../graph/chain-registry.ts';
import type { AdmittedKind } from './decide.ts';
import { decide } from './decide.ts';
import { chainNamespaceFor } from './service-decisions.ts';
import type { AdmissionInput, Decision, DecisionContext, DecisionOptions } from './types.ts';

export interface HandlerDependencies {
  chains: ChainRegistry;
  options: DecisionOptions;
  /** Live read of one chain; undefined when it does not exist. Absent in offline mode. */
  fetchChain?: (namespace: string, name: string) => Promise<ServiceTemplateChain | undefined>;
  referencesTo?: DecisionContext['referencesTo'];
  templateExists?: DecisionContext['templateExists'];
}

export function createAdmissionHandler(deps: HandlerDependencies) {
  const context: DecisionContext = {
    chains: deps.chains,
    ...(deps.referencesTo ? { referencesTo: deps.referencesTo } : {}),
    ...(deps.templateExists ? { templateExists: deps.templateExists } : {}),
  };
  return async (kind: AdmittedKind, input: AdmissionInput): Promise<Decision> => {
    if (deps.fetchChain && kind !== 'ServiceTemplateChain') await fillCacheMisses(kind, input, deps);
    return decide(kind, input, context, deps.options);
  };
}

async function fillCacheMisses(kind: AdmittedKind, input: AdmissionInput, deps: HandlerDependencies): Promise<void> {
  if (kind === 'ServiceTemplateChain' || !deps.fetchChain) return;
  let names: string[];
  try {
    names = parseServices(input.object).flatMap((s) => (s.templateChain ? [s.templateChain] : []));
  } catch {
    return; // malformed: the decision itself says so
  }
  const objectNamespace =
    ((input.object as { metadata?: { namespace?: unknown } } | undefined)?.metadata?.namespace as string | undefined) ||
    input.namespace;
  const namespace = chainNamespaceFor(kind, objectNamespace, deps.options);
  const missing = [...new Set(names)].filter((name) => !deps.chains.has(namespace, name));
  await Promise.all(
    missing.map(async (name) => {
      const chain = await deps.fetchChain!(namespace, name);
      if (chain && !deps.chains.has(namespace, name)) deps.chains.set(chain);
    }),
  );
}
