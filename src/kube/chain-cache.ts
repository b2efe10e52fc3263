// The live chain source: ServiceTemplateChains (and the ServiceTemplates and ServiceSets
// decisions read beside them) watched in all namespaces or the listed ones, kept in the caches
// the webhook reads. This file wires them together: discovery, informers, the kcm generation
// watch, readiness, metrics (cache-metrics.ts) and the live reads (live-reads.ts).
import type { Logger } from 'pino';
import type { ServeConfig } from '../config/serve-config.ts';
import type { DecisionSources } from '../rules/decision-sources.ts';
import { ChainRegistry } from '../graph/chain-registry.ts';
import type { Metrics } from '../runtime/metrics.ts';
import type { ReadinessCheck } from '../runtime/readiness.ts';
import { CHAINS, KcmClient, SERVICE_TEMPLATES, SERVICE_SETS, type KcmResource } from './client.ts';
import { ASSUMED_VERSION, GroupNotServedError, preferredVersion, rediscoverUntilFound } from './discovery.ts';
import { loadKubeConfig } from './kubeconfig.ts';
import { ResilientInformer } from './resilient-informer.ts';
import { eventsInto, type InformerStore } from './informer-store.ts';
import { applyChainList, applyChainObject } from './chain-objects.ts';
import { registerCacheMetrics } from './cache-metrics.ts';
import { liveReads } from './live-reads.ts';
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

export async function startChainCache(options: ChainCacheOptions): Promise<ChainCache> {
  const { config, logger, metrics } = options;
  const kc = loadKubeConfig(config.kubeconfig);
  const server = kc.getCurrentCluster()?.server;
  // The lists start at the version every kcm serves, before discovery answers: the chain list
  // is most of start-up, and the API server takes a while to its first byte, so it must not wait
  // for a discovery round trip first. When the server prefers another version, the informers
  // start again at that one.
  const client = new KcmClient(kc, ASSUMED_VERSION);
  const registry = new ChainRegistry({ graphCacheSize: config.graphCacheSize });

  let stopped = false;
  let generation: KcmGeneration | undefined;
  // ServiceTemplates give targets their versions; ServiceSets (kcm v1.6+) what kcm has deployed.
  const templates = new TemplateVersions();
  const deployed = new DeployedServices();
  let serviceSetInformers: ResilientInformer[] = [];
  const informers = () => [...chainInformers, ...templateInformers, ...serviceSetInformers];
  const staleness = () => {
    const last = Math.min(...informers().map((i) => i.lastContact));
    return last === 0 ? Number.POSITIVE_INFINITY : (Date.now() - last) / 1000;
  };
  const { restarts } = registerCacheMetrics(metrics, { registry, templates, deployed, generation: () => generation, staleness });

  const scopes: Array<string | undefined> = config.namespaces.length > 0 ? config.namespaces : [undefined];
  // Each of these stores reads what it needs out of an object and keeps no reference to it.
  const watch = (resource: KcmResource, store: InformerStore) =>
    scopes.map(
      (namespace) =>
        new ResilientInformer({
          client,
          resource,
          namespace,
          logger,
          resyncMs: options.resyncMs,
          onRestart: () => restarts.inc(),
          events: eventsInto(store, namespace),
          cacheMetadataOnly: true,
        }),
    );
  const chains: InformerStore = {
    set: (object) => applyChainObject(registry, object, logger),
    delete: (namespace, name) => registry.delete(namespace, name),
    replaceAll: (items, namespace) => applyChainList(registry, items, namespace, logger),
    // Parsing 10,000 chains took 200-400 ms: done while the list streams in, not after it.
    setWhileListing: true,
  };
  const chainInformers = watch(CHAINS, chains);
  const templateInformers = watch(SERVICE_TEMPLATES, templates);

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
      // ServiceSets exist only on kcm v1.6+: watched from the moment the CRD says so.
      if (next === 'sequential' && serviceSetInformers.length === 0 && !stopped) {
        serviceSetInformers = watch(SERVICE_SETS, deployed);
        void Promise.all(serviceSetInformers.map((i) => i.start())).catch((err: Error) => logger.error({ err: err.message }, 'ServiceSet watch failed to start'));
      }
    },
  });

  // Not awaited: a blackholed API server must not keep the health port closed. Readiness
  // says "not synced" meanwhile, and decisions read missing chains live.
  void Promise.all([...chainInformers, ...templateInformers].map((informer) => informer.start())).catch((err: Error) =>
    logger.error({ err: err.message }, 'chain watch failed to start'),
  );
  const useVersion = async (version: string) => {
    if (version === client.version) return;
    client.version = version;
    await Promise.all(informers().map((informer) => informer.reconnect()));
  };

  // An unreachable API server must not keep the process from serving /healthz and (not
  // ready) /readyz: go on with the version every kcm serves and discover it again later.
  // Only "the kcm CRDs are not installed" is fatal.
  let rediscovery: { stop(): void } | undefined;
  try {
    await useVersion(await preferredVersion(kc));
  } catch (err) {
    if (err instanceof GroupNotServedError) {
      await Promise.all(informers().map((informer) => informer.stop()));
      throw err;
    }
    logger.warn({ server, err: (err as Error).message, assumedVersion: ASSUMED_VERSION }, 'API discovery failed; starting unready, retrying in the background');
    rediscovery = rediscoverUntilFound({ kc, logger, firstDelayMs: 1_000, onFound: useVersion });
  }
  logger.info({ server, version: client.version, namespaces: config.namespaces.length ? config.namespaces : '*' }, 'watching ServiceTemplateChains');
  await generationWatch.start();
  generationRead = true;

  const handlerDependencies: Omit<DecisionSources, 'options'> = {
    chains: registry,
    templateVersions: templates,
    deployed,
    policy: () => effectivePolicy(config.upgradePolicy, generation),
    ...liveReads(client, logger, { namespaces: config.namespaces, systemNamespace: config.decisions.systemNamespace }),
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
      rediscovery?.stop();
      generationWatch.stop();
      await Promise.all(informers().map((informer) => informer.stop()));
    },
  };
}

/** `auto`: kcm's own walk on kcm v1.6+, one declared edge before (and while the generation is unknown). */
export function effectivePolicy(configured: ConfiguredPolicy, generation: KcmGeneration | undefined): UpgradePolicy {
  if (configured !== 'auto') return configured;
  return generation === 'sequential' ? 'sequential' : 'edge';
}
