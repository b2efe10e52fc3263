// The live chain source: ServiceTemplateChains watched in all namespaces (or the listed
// ones), kept in the ChainRegistry the webhook reads, plus the live reads the webhook
// needs at decision time (cache misses, references for delete protection, templates).
import type { Logger } from 'pino';
import { Gauge, Counter } from 'prom-client';
import type { ServeConfig } from '../config/serve-config.ts';
import type { DecisionSources } from '../rules/decision-sources.ts';
import { ChainRegistry } from '../graph/chain-registry.ts';
import { LoadedChain } from '../graph/loaded-chain.ts';
import { parseChain } from '../model/parse.ts';
import { chainReferences } from '../rules/chain-references.ts';
import type { Metrics } from '../runtime/metrics.ts';
import type { ReadinessCheck } from '../runtime/readiness.ts';
import { nextBackoff } from '../runtime/backoff.ts';
import {
  CHAINS,
  CLUSTER_DEPLOYMENTS,
  KcmClient,
  MULTI_CLUSTER_SERVICES,
  SERVICE_TEMPLATES,
  SERVICE_SETS,
  type KcmResource,
  loadKubeConfig,
  preferredVersion,
  CALL_TIMEOUT_MS,
  ASSUMED_VERSION,
  GroupNotServedError,
} from './client.ts';
import { ResilientInformer, type InformerEvents } from './resilient-informer.ts';
import { DeployedServices, TemplateVersions } from '../graph/deployment-index.ts';
import { KcmGenerationWatch, type KcmGeneration } from './kcm-generation.ts';
import type { ConfiguredPolicy, UpgradePolicy } from '../rules/types.ts';
import type { UpgradeItemShape } from '../rules/published-paths.ts';

export interface ChainCacheOptions {
  config: ServeConfig;
  logger: Logger;
  metrics: Metrics;
  resyncMs?: number;
}

export interface ChainCache {
  registry: ChainRegistry;
  client: KcmClient;
  handlerDependencies: Omit<DecisionSources, 'options'>;
  readiness: ReadinessCheck[];
  templates: TemplateVersions;
  deployed: DeployedServices;
  /** The kcm generation read from the served CRD; undefined until read. */
  generation(): KcmGeneration | undefined;
  /** The published item shape the served CRD defines (`names` until read). */
  itemShape(): UpgradeItemShape;
  /**
   * Called when what the published upgrades depend on in the cluster's kcm changes after
   * start (generation, hence `auto`'s policy, or item shape): everything is recomputed.
   */
  onKcmChange(listener: () => void): void;
  /** Seconds since the cache last heard from the API server. */
  staleness(): number;
  stop(): Promise<void>;
}

/**
 * Reads a chain object from the API server, never throwing: bad objects become "invalid".
 * Returns the chain's key, or undefined when the object cannot even be named.
 */
export function applyChainObject(registry: ChainRegistry, object: unknown, logger: Logger): string | undefined {
  const meta = (object as { metadata?: { name?: unknown; namespace?: unknown; resourceVersion?: unknown } } | null)?.metadata;
  const name = typeof meta?.name === 'string' ? meta.name : undefined;
  const namespace = typeof meta?.namespace === 'string' ? meta.namespace : undefined;
  if (!name || !namespace) {
    logger.warn('ignoring a ServiceTemplateChain event without metadata.name/namespace');
    return undefined;
  }
  try {
    return registry.set(parseChain(object)).key;
  } catch (err) {
    const rv = typeof meta?.resourceVersion === 'string' ? meta.resourceVersion : undefined;
    if (registry.get(namespace, name)?.resourceVersion !== rv || rv === undefined) {
      logger.warn({ chain: `${namespace}/${name}`, err: (err as Error).message }, 'unreadable ServiceTemplateChain: treated as invalid');
    }
    return registry.setUnreadable(namespace, name, rv, (err as Error).message).key;
  }
}

/**
 * Makes the registry's content (in `namespace`, or everywhere) what a list returned. Unreadable
 * chains are kept, as invalid: dropping them would turn "invalid, here is why" into "does not exist".
 */
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

export async function startChainCache(options: ChainCacheOptions): Promise<ChainCache> {
  const { config, logger, metrics } = options;
  const kc = loadKubeConfig(config.kubeconfig);
  const server = kc.getCurrentCluster()?.server;
  // An unreachable API server must not keep the process from serving /healthz and (not
  // ready) /readyz: start with the version every kcm serves and discover it again later.
  // Only "the kcm CRDs are not installed" is fatal.
  let discovered: string | undefined;
  try {
    discovered = await preferredVersion(kc);
  } catch (err) {
    if (err instanceof GroupNotServedError) throw err;
    logger.warn({ server, err: (err as Error).message, assumedVersion: ASSUMED_VERSION }, 'API discovery failed; starting unready, retrying in the background');
  }
  const client = new KcmClient(kc, discovered ?? ASSUMED_VERSION);
  const registry = new ChainRegistry({ graphCacheSize: config.graphCacheSize });
  logger.info({ server, version: client.version, namespaces: config.namespaces.length ? config.namespaces : '*' }, 'watching ServiceTemplateChains');

  let stopped = false;
  const restarts = new Counter({ name: 'chaingate_watch_restarts_total', help: 'Chain watch restarts after errors.', registers: [metrics.registry] });
  const scopes: Array<string | undefined> = config.namespaces.length > 0 ? config.namespaces : [undefined];
  const watch = (resource: KcmResource, events: (namespace: string | undefined) => InformerEvents) =>
    scopes.map(
      (namespace) =>
        new ResilientInformer({ client, resource, namespace, logger, resyncMs: options.resyncMs, onRestart: () => restarts.inc(), events: events(namespace) }),
    );
  const nameOf = (object: unknown) => (object as { metadata?: { name?: string; namespace?: string } }).metadata;
  const chainInformers = watch(CHAINS, (namespace) => ({
    upsert: (object) => applyChainObject(registry, object, logger),
    remove: (object) => {
      const meta = nameOf(object);
      if (meta?.name && meta.namespace) registry.delete(meta.namespace, meta.name);
    },
    relisted: (items) => applyChainList(registry, items, namespace, logger),
  }));
  // ServiceTemplates give targets their versions; ServiceSets (kcm v1.6+) what kcm has deployed.
  const templates = new TemplateVersions();
  const templateInformers = watch(SERVICE_TEMPLATES, (namespace) => ({
    upsert: (object) => void templates.set(object),
    remove: (object) => {
      const meta = nameOf(object);
      if (meta?.name && meta.namespace) templates.delete(meta.namespace, meta.name);
    },
    relisted: (items) => templates.replaceAll(items, namespace),
  }));
  const deployed = new DeployedServices();
  let serviceSetInformers: ResilientInformer[] = [];
  const informers = () => [...chainInformers, ...templateInformers, ...serviceSetInformers];

  let generation: KcmGeneration | undefined;
  const kcmListeners: Array<() => void> = [];
  let generationRead = false;
  const kcmChanged = () => {
    if (generationRead) for (const listener of kcmListeners) listener();
  };
  const generationWatch = new KcmGenerationWatch({
    kc,
    logger,
    onShapeChange: kcmChanged,
    onChange: (next) => {
      generation = next;
      kcmChanged();
      if (next === 'sequential' && serviceSetInformers.length === 0 && !stopped) {
        serviceSetInformers = watch(SERVICE_SETS, (namespace) => ({
          upsert: (object) => deployed.set(object),
          remove: (object) => {
            const meta = nameOf(object);
            if (meta?.name && meta.namespace) deployed.delete(meta.namespace, meta.name);
          },
          relisted: (items) => deployed.replaceAll(items, namespace),
        }));
        void Promise.all(serviceSetInformers.map((i) => i.start())).catch((err: Error) => logger.error({ err: err.message }, 'ServiceSet watch failed to start'));
      }
    },
  });
  new Gauge({
    name: 'chaingate_kcm_generation',
    help: 'The kcm generation read from the ClusterDeployment CRD (label generation: sequential for kcm v1.6+, classic before); 1 for the one in force.',
    labelNames: ['generation'],
    registers: [metrics.registry],
    collect() {
      this.reset();
      if (generation) this.set({ generation }, 1);
    },
  });
  new Gauge({ name: 'chaingate_service_templates', help: 'ServiceTemplates in the cache (their resolved versions).', registers: [metrics.registry], collect() { this.set(templates.size); } });
  new Gauge({ name: 'chaingate_service_sets', help: 'ServiceSets in the cache (what kcm v1.6+ reports deployed).', registers: [metrics.registry], collect() { this.set(deployed.size); } });

  const staleness = () => {
    const last = Math.min(...informers().map((i) => i.lastContact));
    return last === 0 ? Number.POSITIVE_INFINITY : (Date.now() - last) / 1000;
  };
  new Gauge({ name: 'chaingate_chains', help: 'ServiceTemplateChains in the cache.', registers: [metrics.registry], collect() { this.set(registry.size); } });
  new Gauge({ name: 'chaingate_chain_graphs_built', help: 'Chain graphs built now (at most --graph-cache-size).', registers: [metrics.registry], collect() { this.set(registry.graphs.size); } });
  let buildsReported = 0;
  new Counter({
    name: 'chaingate_chain_graph_builds_total',
    help: 'Chain graphs built, rebuilds after eviction included: growing much faster than chains change means --graph-cache-size is too small for the chains in use.',
    registers: [metrics.registry],
    collect() {
      this.inc(registry.graphs.builds - buildsReported);
      buildsReported = registry.graphs.builds;
    },
  });
  new Gauge({
    name: 'chaingate_chain_cache_staleness_seconds',
    help: 'Seconds since the chain cache last heard from the API server (list or watch event).',
    registers: [metrics.registry],
    collect() {
      const value = staleness();
      this.set(Number.isFinite(value) ? value : -1);
    },
  });

  let discoveryTimer: NodeJS.Timeout | undefined;
  const rediscover = (delayMs: number) => {
    discoveryTimer = setTimeout(async () => {
      try {
        const version = await preferredVersion(kc);
        if (stopped) return;
        logger.info({ server, version }, 'API discovery succeeded');
        if (version !== client.version) {
          client.version = version;
          await Promise.all(informers().map((informer) => informer.relist()));
        }
      } catch (err) {
        if (stopped) return;
        logger.warn({ server, err: (err as Error).message }, 'API discovery failed again');
        rediscover(nextBackoff(delayMs, 30_000));
      }
    }, delayMs);
    discoveryTimer.unref();
  };
  if (discovered === undefined) rediscover(1_000);

  // Not awaited: a blackholed API server must not keep the health port closed. Readiness
  // says "not synced" meanwhile, and decisions read missing chains live.
  void Promise.all([...chainInformers, ...templateInformers].map((informer) => informer.start())).catch((err: Error) =>
    logger.error({ err: err.message }, 'chain watch failed to start'),
  );
  await generationWatch.start();
  generationRead = true;

  const watched = (namespace: string) => config.namespaces.length === 0 || config.namespaces.includes(namespace);
  const handlerDependencies: Omit<DecisionSources, 'options'> = {
    chains: registry,
    templateVersions: templates,
    deployed,
    policy: () => effectivePolicy(config.upgradePolicy, generation),
    fetchChain: async (namespace, name) => {
      if (!watched(namespace)) return undefined;
      try {
        const object = await client.get(CHAINS, namespace, name, CALL_TIMEOUT_MS);
        if (object === undefined) return undefined;
        logger.info({ chain: `${namespace}/${name}` }, 'chain not in cache yet: read it live');
        try {
          return LoadedChain.fromObject(parseChain(object));
        } catch (err) {
          // It exists but cannot be read: invalid, with the reason, rather than "does not exist".
          const rv = (object as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
          return new LoadedChain(namespace, name, [], rv, [(err as Error).message]);
        }
      } catch (err) {
        logger.warn({ chain: `${namespace}/${name}`, err: (err as Error).message }, 'live chain read failed');
        return undefined;
      }
    },
    listReferences: (namespace, chain) => listReferences(client, config.decisions.systemNamespace, namespace, chain),
    listTemplates: async (namespace) => {
      try {
        const list = await client.list(SERVICE_TEMPLATES, namespace, CALL_TIMEOUT_MS);
        return new Set(list.items.map((item) => item.metadata?.name ?? ''));
      } catch {
        return undefined; // unknown: no warning rather than a wrong one
      }
    },
  };

  return {
    registry,
    client,
    handlerDependencies,
    readiness: [
      { name: 'chain cache not synced', ready: () => chainInformers.every((i) => i.hasSynced) },
      { name: 'ServiceTemplate cache not synced', ready: () => templateInformers.every((i) => i.hasSynced) },
      { name: 'ServiceSet cache not synced', ready: () => serviceSetInformers.every((i) => i.hasSynced) },
    ],
    templates,
    deployed,
    generation: () => generation,
    itemShape: () => generationWatch.itemShape ?? 'names',
    onKcmChange: (listener) => void kcmListeners.push(listener),
    staleness,
    async stop() {
      stopped = true;
      clearTimeout(discoveryTimer);
      generationWatch.stop();
      await Promise.all(informers().map((informer) => informer.stop()));
    },
  };
}

/**
 * Every object through which kcm resolves a chain (src/rules/chain-references.ts): the
 * ClusterDeployments in its namespace, and the MultiClusterServices (cluster-scoped) naming it
 * that live by the system namespace or select one of those ClusterDeployments.
 */
async function listReferences(client: KcmClient, systemNamespace: string, namespace: string, chain: string): Promise<string[]> {
  const clusterDeployments = (await client.list(CLUSTER_DEPLOYMENTS, namespace, CALL_TIMEOUT_MS)).items;
  // Outside the system namespace an MCS reaches the chain only through a ClusterDeployment here.
  const needMultiClusterServices = namespace === systemNamespace || clusterDeployments.length > 0;
  const multiClusterServices = needMultiClusterServices ? (await client.list(MULTI_CLUSTER_SERVICES, undefined, CALL_TIMEOUT_MS)).items : [];
  return chainReferences(namespace, chain, systemNamespace, clusterDeployments, multiClusterServices);
}

/** `auto`: kcm's own walk on kcm v1.6+, one declared edge before (and while the generation is unknown). */
export function effectivePolicy(configured: ConfiguredPolicy, generation: KcmGeneration | undefined): UpgradePolicy {
  if (configured !== 'auto') return configured;
  return generation === 'sequential' ? 'sequential' : 'edge';
}
