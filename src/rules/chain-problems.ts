// Why a service cannot use a chain, in words a user can act on. Shared by every rule that
// needs "the chain named here must exist, be valid and ...".
import type { LoadedChain } from '../graph/loaded-chain.ts';
import type { ChainLookup } from '../graph/chain-registry.ts';

const LIST_LIMIT = 10;

/** "a, b, c" or "a, b, ... and 4 more": keeps denial lines readable on huge chains. */
export function listNames(names: readonly string[], limit = LIST_LIMIT): string {
  if (names.length <= limit) return names.join(', ');
  return `${names.slice(0, limit).join(', ')} and ${names.length - limit} more`;
}

export type ChainResolution = { chain: LoadedChain } | { problem: string };

/** Finds a chain that exists and is valid, or explains why there is none. */
export function resolveChain(chains: ChainLookup, namespace: string, name: string): ChainResolution {
  const chain = chains.get(namespace, name);
  if (!chain) {
    return {
      problem: `ServiceTemplateChain ${namespace}/${name} does not exist; create it first or name an existing chain`,
    };
  }
  if (!chain.valid) {
    return {
      problem: `ServiceTemplateChain ${namespace}/${name} is invalid (${chain.validation.errors.join('; ')}); chains are immutable, so create a corrected chain under a new name`,
    };
  }
  return { chain };
}

export function unsupportedTemplate(chain: LoadedChain, template: string): string {
  const supported = chain.templates();
  const list = supported.length > 0 ? `supported templates: ${listNames(supported)}` : 'it supports no templates';
  return `ServiceTemplateChain ${chain.key} does not support template ${template} (${list})`;
}
