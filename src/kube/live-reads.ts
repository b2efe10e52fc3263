// The reads a decision makes of the API server itself rather than of the caches: a chain the
// watch has not delivered yet, the ServiceTemplates of a namespace, and (for delete
// protection, which must never act on a stale cache) the objects referencing a chain.
import type { Logger } from 'pino';
import { LoadedChain } from '../graph/loaded-chain.ts';
import { metaOf } from '../model/meta.ts';
import { parseChain } from '../model/parse.ts';
import { chainReferences } from '../rules/chain-references.ts';
import type { DecisionSources } from '../rules/decision-sources.ts';
import { CHAINS, CLUSTER_DEPLOYMENTS, MULTI_CLUSTER_SERVICES, SERVICE_TEMPLATES, type KcmClient } from './client.ts';
import { CALL_TIMEOUT_MS } from './timeouts.ts';

export type LiveReads = Required<Pick<DecisionSources, 'fetchChain' | 'listReferences' | 'listTemplates'>>;

export interface LiveReadScope {
  /** The watched namespaces; empty for all. A chain outside them is not chaingate's. */
  namespaces: string[];
  systemNamespace: string;
}

export function liveReads(client: KcmClient, logger: Logger, scope: LiveReadScope): LiveReads {
  const watched = (namespace: string) => scope.namespaces.length === 0 || scope.namespaces.includes(namespace);
  return {
    fetchChain: (namespace, name) => (watched(namespace) ? fetchChain(client, logger, namespace, name) : Promise.resolve(undefined)),
    listReferences: (namespace, chain) => listReferences(client, scope.systemNamespace, namespace, chain),
    listTemplates: (namespace) => listTemplates(client, namespace),
  };
}

/** A chain read live; undefined when it does not exist or cannot be read now. */
export async function fetchChain(client: KcmClient, logger: Logger, namespace: string, name: string): Promise<LoadedChain | undefined> {
  try {
    const object = await client.get(CHAINS, namespace, name, CALL_TIMEOUT_MS);
    if (object === undefined) return undefined;
    logger.info({ chain: `${namespace}/${name}` }, 'chain not in cache yet: read it live');
    try {
      return LoadedChain.fromObject(parseChain(object));
    } catch (err) {
      // It exists but cannot be read: invalid, with the reason, rather than "does not exist".
      return new LoadedChain(namespace, name, [], metaOf(object).resourceVersion, [(err as Error).message]);
    }
  } catch (err) {
    logger.warn({ chain: `${namespace}/${name}`, err: (err as Error).message }, 'live chain read failed');
    return undefined;
  }
}

/** The ServiceTemplate names in `namespace`; undefined when unknown (no warning rather than a wrong one). */
export async function listTemplates(client: KcmClient, namespace: string): Promise<Set<string> | undefined> {
  try {
    const list = await client.list(SERVICE_TEMPLATES, namespace, CALL_TIMEOUT_MS);
    return new Set(list.items.map((item) => item.metadata?.name ?? ''));
  } catch {
    return undefined;
  }
}

/**
 * Every object through which kcm resolves a chain (src/rules/chain-references.ts): the
 * ClusterDeployments in its namespace, and the MultiClusterServices (cluster-scoped) naming it
 * that live by the system namespace or select one of those ClusterDeployments.
 */
export async function listReferences(client: KcmClient, systemNamespace: string, namespace: string, chain: string): Promise<string[]> {
  const clusterDeployments = (await client.list(CLUSTER_DEPLOYMENTS, namespace, CALL_TIMEOUT_MS)).items;
  // Outside the system namespace an MCS reaches the chain only through a ClusterDeployment here.
  const needMultiClusterServices = namespace === systemNamespace || clusterDeployments.length > 0;
  const multiClusterServices = needMultiClusterServices ? (await client.list(MULTI_CLUSTER_SERVICES, undefined, CALL_TIMEOUT_MS)).items : [];
  return chainReferences(namespace, chain, systemNamespace, clusterDeployments, multiClusterServices);
}
