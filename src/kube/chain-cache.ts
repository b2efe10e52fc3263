// The live chain source: ServiceTemplateChains watched in all namespaces (or the listed
// ones), kept in the ChainRegistry the webhook reads, plus the live reads the webhook
// needs at decision time (cache misses, references for delete protection, templates).
import type { Logger } from 'pino';
import { Gauge, Counter } from 'prom-client';
import type { ServeConfig } from '../config/serve-config.ts';
import type { HandlerDependencies } from '../admission/handler.ts';
import { ChainRegistry } from '../graph/chain-registry.ts';
import { compareNames } from '../graph/template-chain.ts';
import { parseChain, parseServices } from '../model/parse.ts';
import type { ServiceTemplateChain } from '../model/resources.ts';
import type { Metrics } from '../server/metrics.ts';
import type { ReadinessCheck } from '../server/run.ts';
import {
  CHAINS,
  CLUSTER_DEPLOYMENTS,
  KcmClient,
  MULTI_CLUSTER_SERVICES,
  SERVICE_TEMPLATES,
  loadKubeConfig,
  preferredVersion,
  CALL_TIMEOUT_MS,
} from './client.ts';
import { ResilientInformer } from './resilient-informer.ts';

export interface ChainCacheOptions {
  config: ServeConfig;
  logger: Logger;
  metrics: Metrics;
  resyncMs?: number;
}

export interface ChainCache {
  registry: ChainRegistry;
  client: KcmClient;
  handlerDependencies: Omit<HandlerDependencies, 'options'>;
  readiness: ReadinessCheck[];
  /** Seconds since the cache last heard from the API server. */
  staleness(): number;
  stop(): Promise<void>;
}

/** Reads a chain object from the API server, never throwing: bad objects become "invalid". */
export function applyChainObject(registry: ChainRegistry, object: unknown, logger: Logger): void {
  const meta = (object as { metadata?: { name?: unknown; namespace?: unknown; resourceVersion?: unknown } } | null)?.metadata;
  const name = typeof meta?.name === 'string' ? meta.name : undefined;
  const namespace = typeof meta?.namespace === 'string' ? meta.namespace : undefined;
  if (!name || !namespace) {
    logger.warn('ignoring a ServiceTemplateChain event without metadata.name/namespace');
    return;
  }
  try {
    registry.set(parseChain(object));
  } catch (err) {
    const rv = typeof meta?.resourceVersion === 'string' ? meta.resourceVersion : undefined;
    logger.warn({ chain: `${namespace}/${name}`, err: (err as Error).message }, 'unreadable ServiceTemplateChain: treated as invalid');
    registry.setUnreadable(namespace, name, rv, (err as Error).message);
  }
}

export async function startChainCache(options: ChainCacheOptions): Promise<ChainCache> {
  const { config, logger, metrics } = options;
  const kc = loadKubeConfig(config.kubeconfig);
  const client = new KcmClient(kc, await preferredVersion(kc));
  const registry = new ChainRegistry();
  logger.info({ server: kc.getCurrentCluster()?.server, version: client.version, namespaces: config.namespaces.length ? config.namespaces : '*' }, 'watching ServiceTemplateChains');

  const restarts = new Counter({ name: 'chaingate_watch_restarts_total', help: 'Chain watch restarts after errors.', registers: [metrics.registry] });
  const scopes: Array<string | undefined> = config.namespaces.length > 0 ? config.namespaces : [undefined];
  const informers = scopes.map(
    (namespace) =>
      new ResilientInformer({
        client,
        resource: CHAINS,
        namespace,
        logger,
        resyncMs: options.resyncMs,
        onRestart: () => restarts.inc(),
        events: {
          upsert: (object) => applyChainObject(registry, object, logger),
          remove: (object) => {
            const meta = (object as { metadata?: { name?: string; namespace?: string } }).metadata;
            if (meta?.name && meta.namespace) registry.delete(meta.namespace, meta.name);
          },
          relisted: (items) => {
            const readable: ServiceTemplateChain[] = [];
            for (const item of items) {
              try {
                readable.push(parseChain(item));
              } catch {
                applyChainObject(registry, item, logger);
              }
            }
            registry.replaceAll(readable, namespace);
          },
        },
      }),
  );

  const staleness = () => {
    const last = Math.min(...informers.map((i) => i.lastContact));
    return last === 0 ? Number.POSITIVE_INFINITY : (Date.now() - last) / 1000;
  };
  new Gauge({ name: 'chaingate_chains', help: 'ServiceTemplateChains in the cache.', registers: [metrics.registry], collect() { this.set(registry.size); } });
  new Gauge({
    name: 'chaingate_chain_cache_staleness_seconds',
    help: 'Seconds since the chain cache last heard from the API server (list or watch event).',
    registers: [metrics.registry],
    collect() {
      const value = staleness();
      this.set(Number.isFinite(value) ? value : -1);
    },
  });

  await Promise.all(informers.map((informer) => informer.start()));

  const watched = (namespace: string) => config.namespaces.length === 0 || config.namespaces.includes(namespace);
  const handlerDependencies: Omit<HandlerDependencies, 'options'> = {
    chains: registry,
    fetchChain: async (namespace, name) => {
      if (!watched(namespace)) return undefined;
      try {
        const object = await client.get(CHAINS, namespace, name, CALL_TIMEOUT_MS);
        if (object === undefined) return undefined;
        logger.info({ chain: `${namespace}/${name}` }, 'chain not in cache yet: read it live');
        return parseChain(object);
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
    readiness: [{ name: 'chain cache not synced', ready: () => informers.every((i) => i.hasSynced) }],
    staleness,
    async stop() {
      await Promise.all(informers.map((informer) => informer.stop()));
    },
  };
}

/** Every ClusterDeployment (same namespace) and MultiClusterService (system namespace) using a chain. */
async function listReferences(client: KcmClient, systemNamespace: string, namespace: string, chain: string): Promise<string[]> {
  const users: string[] = [];
  const collect = (kind: string, items: Array<Record<string, unknown>>) => {
    for (const item of items) {
      let services;
      try {
        services = parseServices(item);
      } catch {
        continue;
      }
      if (services.some((s) => s.templateChain === chain)) {
        const meta = item.metadata as { name?: string; namespace?: string } | undefined;
        users.push(`${kind} ${meta?.namespace ? `${meta.namespace}/` : ''}${meta?.name ?? ''}`);
      }
    }
  };
  collect('ClusterDeployment', (await client.list(CLUSTER_DEPLOYMENTS, namespace, CALL_TIMEOUT_MS)).items);
  if (namespace === systemNamespace) collect('MultiClusterService', (await client.list(MULTI_CLUSTER_SERVICES, undefined, CALL_TIMEOUT_MS)).items);
  return users.sort(compareNames);
}
