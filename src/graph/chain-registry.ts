// All known chains, keyed by namespace/name. Replacing or removing one chain touches only
// that chain's graph, so a watch event costs the size of its object, not of the registry.
import type { ServiceTemplateChain } from '../model/resources.ts';
import { chainKey } from '../model/resources.ts';
import { LoadedChain } from './loaded-chain.ts';
import { GraphBudget } from './graph-budget.ts';

export type ChainChange = { type: 'set' | 'delete'; namespace: string; name: string };
export type ChainListener = (change: ChainChange) => void;

/** Read-only view the decision logic depends on. */
export interface ChainLookup {
  get(namespace: string, name: string): LoadedChain | undefined;
}

export interface ChainRegistryOptions {
  /** How many chain graphs stay built at once (default DEFAULT_GRAPH_CACHE_SIZE). */
  graphCacheSize?: number;
}

export class ChainRegistry implements ChainLookup {
  private readonly chains = new Map<string, LoadedChain>();
  private readonly listeners = new Set<ChainListener>();
  readonly graphs: GraphBudget;

  constructor(options: ChainRegistryOptions = {}) {
    this.graphs = new GraphBudget(options.graphCacheSize);
  }

  get size(): number {
    return this.chains.size;
  }

  get(namespace: string, name: string): LoadedChain | undefined {
    return this.chains.get(chainKey(namespace, name));
  }

  has(namespace: string, name: string): boolean {
    return this.chains.has(chainKey(namespace, name));
  }

  list(): LoadedChain[] {
    return [...this.chains.values()];
  }

  /** Adds or replaces a chain; returns its graph. */
  set(chain: ServiceTemplateChain): LoadedChain {
    const existing = this.chains.get(chainKey(chain.metadata.namespace ?? '', chain.metadata.name ?? ''));
    const version = chain.metadata.resourceVersion;
    // A relist hands back every chain; an unchanged one must not rebuild or notify.
    if (existing && version !== undefined && existing.resourceVersion === version) return existing;
    const graph = LoadedChain.fromObject(chain, this.graphs);
    if (existing) this.graphs.forget(existing);
    this.chains.set(graph.key, graph);
    this.emit({ type: 'set', namespace: graph.namespace, name: graph.name });
    return graph;
  }

  /** Records a chain whose object could not be read, so users are told it is invalid and why. */
  setUnreadable(namespace: string, name: string, resourceVersion: string | undefined, error: string): LoadedChain {
    // As in set(): the same version of the same object is the same problem; a relist must not re-announce it.
    const existing = this.chains.get(chainKey(namespace, name));
    if (existing && resourceVersion !== undefined && existing.resourceVersion === resourceVersion) return existing;
    const graph = new LoadedChain(namespace, name, [], resourceVersion, [error]);
    if (existing) this.graphs.forget(existing);
    this.chains.set(graph.key, graph);
    this.emit({ type: 'set', namespace, name });
    return graph;
  }

  delete(namespace: string, name: string): boolean {
    const key = chainKey(namespace, name);
    const existing = this.chains.get(key);
    if (!existing) return false;
    this.chains.delete(key);
    this.graphs.forget(existing);
    this.emit({ type: 'delete', namespace, name });
    return true;
  }

  /**
   * Replaces the content (after a relist), emitting only real differences. With a
   * namespace, only that namespace's chains are replaced (one watch per namespace).
   */
  replaceAll(chains: ServiceTemplateChain[], namespace?: string): void {
    const incoming = new Set<string>();
    for (const chain of chains) {
      incoming.add(chainKey(chain.metadata.namespace ?? '', chain.metadata.name ?? ''));
      this.set(chain);
    }
    for (const graph of [...this.chains.values()]) {
      if (namespace !== undefined && graph.namespace !== namespace) continue;
      if (!incoming.has(graph.key)) this.delete(graph.namespace, graph.name);
    }
  }

  onChange(listener: ChainListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: ChainChange): void {
    for (const listener of this.listeners) listener(change);
  }
}
