// What the live caches expose on /metrics. The gauges read the caches when scraped, so they
// cost nothing between scrapes and are never out of date.
import { Counter, Gauge } from 'prom-client';
import type { ChainRegistry } from '../graph/chain-registry.ts';
import type { DeployedServices, TemplateVersions } from '../graph/deployment-index.ts';
import type { Metrics } from '../runtime/metrics.ts';
import type { KcmGeneration } from './kcm-generation.ts';

export interface CachedState {
  registry: ChainRegistry;
  templates: TemplateVersions;
  deployed: DeployedServices;
  generation(): KcmGeneration | undefined;
  /** Seconds since the caches last heard from the API server; infinite before the first list. */
  staleness(): number;
}

/** Registers the cache metrics; returns the counter the informers increment when they restart. */
export function registerCacheMetrics(metrics: Metrics, state: CachedState): { restarts: Counter } {
  const registers = [metrics.registry];
  const restarts = new Counter({ name: 'chaingate_watch_restarts_total', help: 'Chain watch restarts after errors.', registers });
  new Gauge({
    name: 'chaingate_kcm_generation',
    help: 'The kcm generation read from the ClusterDeployment CRD (label generation: sequential for kcm v1.6+, classic before); 1 for the one in force.',
    labelNames: ['generation'],
    registers,
    collect() {
      this.reset();
      const generation = state.generation();
      if (generation) this.set({ generation }, 1);
    },
  });
  new Gauge({ name: 'chaingate_service_templates', help: 'ServiceTemplates in the cache (their resolved versions).', registers, collect() { this.set(state.templates.size); } });
  new Gauge({ name: 'chaingate_service_sets', help: 'ServiceSets in the cache (what kcm v1.6+ reports deployed).', registers, collect() { this.set(state.deployed.size); } });
  new Gauge({ name: 'chaingate_chains', help: 'ServiceTemplateChains in the cache.', registers, collect() { this.set(state.registry.size); } });
  new Gauge({ name: 'chaingate_chain_graphs_built', help: 'Chain graphs built now (at most --graph-cache-size).', registers, collect() { this.set(state.registry.graphs.size); } });
  // A counter fed from the registry's own running total: what it gained since the last scrape.
  let buildsReported = 0;
  new Counter({
    name: 'chaingate_chain_graph_builds_total',
    help: 'Chain graphs built, rebuilds after eviction included: growing much faster than chains change means --graph-cache-size is too small for the chains in use.',
    registers,
    collect() {
      this.inc(state.registry.graphs.builds - buildsReported);
      buildsReported = state.registry.graphs.builds;
    },
  });
  new Gauge({
    name: 'chaingate_chain_cache_staleness_seconds',
    help: 'Seconds since the chain cache last heard from the API server (list or watch event).',
    registers,
    collect() {
      // -1: the caches have not heard from the API server yet.
      const value = state.staleness();
      this.set(Number.isFinite(value) ? value : -1);
    },
  });
  return { restarts };
}
