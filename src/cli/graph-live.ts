// Live mode of `chaingate graph --object KIND/NAME`: the chains that object's services name,
// read through the kubeconfig as `chaingate paths KIND/NAME` does, each service's current
// template highlighted with what it can reach.
import { chainNamespaceOf, DEFAULT_SERVICE_NAMESPACE } from '../model/resources.ts';
import { parseChain } from '../model/parse.ts';
import { resolvedTemplateVersion } from '../model/deployments.ts';
import { metaOf } from '../model/meta.ts';
import { LoadedChain, compareNames } from '../graph/loaded-chain.ts';
import type { ChainHighlight } from '../graph/render.ts';
import { CHAINS, KcmClient, SERVICE_TEMPLATES } from '../kube/client.ts';
import { preferredVersion } from '../kube/discovery.ts';
import { UsageError } from './command.ts';
import { connectCluster, parseObjectRef, readObject, servicesOf } from './cluster-connection.ts';
import { highlightFrom } from './graph-highlights.ts';


export interface LiveGraphRequest {
  target: string;
  namespace: string | undefined;
  kubeconfig: string | undefined;
  context: string | undefined;
  systemNamespace: string;
}

export interface LiveGraph {
  chains: LoadedChain[];
  highlights: Map<string, ChainHighlight[]>;
  /** Services that cannot be drawn (no chain named, chain missing, template not in it). */
  problems: string[];
}

export async function liveGraph(request: LiveGraphRequest): Promise<LiveGraph> {
  const entry = parseObjectRef(request.target, '--object: ');
  const { name } = entry;
  const { kc, contextNamespace } = connectCluster(request);
  const client = new KcmClient(kc, await preferredVersion(kc));
  const namespace = entry.kind === 'ClusterDeployment' ? (request.namespace ?? contextNamespace ?? 'default') : '';
  const object = await readObject(client, entry, namespace);
  const services = servicesOf(entry, object);
  const chainNamespace = chainNamespaceOf(entry.kind, namespace, request.systemNamespace);
  const versions = new Map<string, string>();
  try {
    for (const item of (await client.list(SERVICE_TEMPLATES, chainNamespace)).items) {
      const version = resolvedTemplateVersion(item);
      const template = metaOf(item).name;
      if (version !== undefined && template) versions.set(template, version);
    }
  } catch {
    // Without read access to ServiceTemplates, versions fall back to the chains' entries (as offline).
  }
  const chains = new Map<string, LoadedChain>();
  const highlights = new Map<string, ChainHighlight[]>();
  const problems: string[] = [];
  for (const service of services) {
    const id = `${service.namespace || DEFAULT_SERVICE_NAMESPACE}/${service.name}`;
    if (!service.templateChain) {
      problems.push(`service ${id} names no templateChain: not drawn`);
      continue;
    }
    let chain = chains.get(service.templateChain);
    if (!chain) {
      const found = await client.get(CHAINS, chainNamespace, service.templateChain);
      if (!found) {
        problems.push(`service ${id}: ServiceTemplateChain ${chainNamespace}/${service.templateChain} not found`);
        continue;
      }
      try {
        chain = LoadedChain.fromObject(parseChain(found));
      } catch (err) {
        problems.push(`service ${id}: ServiceTemplateChain ${chainNamespace}/${service.templateChain}: ${(err as Error).message}`);
        continue;
      }
      chains.set(service.templateChain, chain);
    }
    if (!chain.supports(service.template)) problems.push(`service ${id}: template ${service.template} is not in ${chain.key}`);
    const highlight = highlightFrom(chain, service.template, { version: service.version, who: `service ${id}`, lookup: (_ns, t) => versions.get(t) });
    highlights.set(chain.key, [...(highlights.get(chain.key) ?? []), highlight]);
  }
  if (chains.size === 0) throw new UsageError(`${entry.kind} ${namespace ? `${namespace}/` : ''}${name}: no service has a chain to draw${problems.length ? ` (${problems.join('; ')})` : ''}`);
  return { chains: [...chains.values()].sort((a, b) => compareNames(a.key, b.key)), highlights, problems };
}
