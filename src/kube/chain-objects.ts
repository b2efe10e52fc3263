// Chain objects as the API server sends them, into the ChainRegistry the webhook reads. An
// object that cannot be parsed still names a chain: it is kept as invalid, with the reason,
// so that a decision says "invalid, here is why" rather than "does not exist".
import type { Logger } from 'pino';
import type { ChainRegistry } from '../graph/chain-registry.ts';
import { metaOf } from '../model/meta.ts';
import { parseChain } from '../model/parse.ts';

/**
 * Reads a chain object from the API server, never throwing: bad objects become "invalid".
 * Returns the chain's key, or undefined when the object cannot even be named.
 */
export function applyChainObject(registry: ChainRegistry, object: unknown, logger: Logger): string | undefined {
  const { name, namespace, resourceVersion } = metaOf(object);
  if (!name || !namespace) {
    logger.warn('ignoring a ServiceTemplateChain event without metadata.name/namespace');
    return undefined;
  }
  // The same version of a chain parses the same way: a relist, and client-node's "add" for each
  // item of the list just applied, hand back every chain unchanged, and parsing them again was
  // most of the time between a list's last byte and ready (BENCHMARKS.md, chain load).
  const existing = resourceVersion === undefined ? undefined : registry.get(namespace, name);
  if (existing && existing.resourceVersion === resourceVersion) return existing.key;
  try {
    return registry.set(parseChain(object)).key;
  } catch (err) {
    logger.warn({ chain: `${namespace}/${name}`, err: (err as Error).message }, 'unreadable ServiceTemplateChain: treated as invalid');
    return registry.setUnreadable(namespace, name, resourceVersion, (err as Error).message).key;
  }
}

/** Makes the registry's content (in `namespace`, or everywhere) what a list returned. */
export function applyChainList(registry: ChainRegistry, items: unknown[], namespace: string | undefined, logger: Logger): void {
  const present = new Set<string>();
  for (const item of items) {
    const key = applyChainObject(registry, item, logger);
    if (key !== undefined) present.add(key);
  }
  for (const graph of registry.list()) {
    if (namespace !== undefined && graph.namespace !== namespace) continue;
    if (!present.has(graph.key)) registry.delete(graph.namespace, graph.name);
  }
}
