// Offline mode: ServiceTemplateChains from files, no cluster needed. Other kinds in the same
// files are skipped, so a directory of mixed manifests (a GitOps repo) can be pointed at.
import { parseChain, MalformedObjectError } from '../model/parse.ts';
import { ChainRegistry } from '../graph/chain-registry.ts';
import { ManifestError, readManifests, type ReadOptions } from './manifest-files.ts';
import { TemplateVersions } from '../graph/deployment-index.ts';

export interface ChainFileOptions extends ReadOptions {
  /** Namespace for chains whose metadata has none (as kubectl apply would do). */
  defaultNamespace?: string;
  /** How many chain graphs stay built (see GraphBudget). */
  graphCacheSize?: number;
}

export function loadChainFiles(path: string, options: ChainFileOptions = {}): ChainRegistry {
  return loadChainSources(path, options).chains;
}

export interface ChainSources {
  chains: ChainRegistry;
  /** The ServiceTemplates found beside the chains, for their resolved versions. */
  templates: TemplateVersions;
}

/** Chains and ServiceTemplates from files: what the webhook reads from the cluster, offline. */
export function loadChainSources(path: string, options: ChainFileOptions = {}): ChainSources {
  const registry = new ChainRegistry({ graphCacheSize: options.graphCacheSize });
  const templates = new TemplateVersions();
  const seen = new Map<string, string>();
  for (const { object, source } of readManifests(path, options)) {
    if (object.kind === 'ServiceTemplate') {
      if (!templates.set(object, options.defaultNamespace ?? 'default')) throw new ManifestError(`${source}: ServiceTemplate without metadata.name`);
      continue;
    }
    if (object.kind !== 'ServiceTemplateChain') continue;
    let chain;
    try {
      chain = parseChain(object);
    } catch (err) {
      if (err instanceof MalformedObjectError) throw new ManifestError(`${source}: ServiceTemplateChain: ${err.message}`);
      throw err;
    }
    chain.metadata.namespace ||= options.defaultNamespace ?? 'default';
    const key = `${chain.metadata.namespace}/${chain.metadata.name}`;
    const previous = seen.get(key);
    if (previous) throw new ManifestError(`${source}: ServiceTemplateChain ${key} is also defined in ${previous}`);
    seen.set(key, source);
    registry.set(chain);
  }
  return { chains: registry, templates };
}

/** Why a --chains path with no ServiceTemplateChain in it is refused: said the same way by every command. */
export const noChainsMessage = (path: string) => `no ServiceTemplateChain found in ${path === '-' ? '(stdin)' : path}`;

/** loadChainSources for the offline commands: a path with no chain (ServiceTemplates alone do not count) is bad input. */
export function requireChainSources(path: string, options: ChainFileOptions = {}): ChainSources {
  const sources = loadChainSources(path, options);
  if (sources.chains.size === 0) throw new ManifestError(noChainsMessage(path));
  return sources;
}
