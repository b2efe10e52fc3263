// What `graph --from` and `graph --object` highlight, from the same pure functions the
// webhook and the controller use: LoadedChain.reachableUpgrades for edge and reachable
// (both publish the shortest path, behaviour.md "Published upgrades"), sequentialRoutes for
// the steps kcm v1.6+ deploys.
import type { LoadedChain } from '../graph/loaded-chain.ts';
import type { ChainHighlight } from '../graph/render.ts';
import { sequentialRoutes } from '../rules/sequential-routes.ts';
import { templateVersion, type TemplateVersionLookup } from '../rules/service-versions.ts';

export function highlightFrom(chain: LoadedChain, current: string, options: { version?: string; who?: string; lookup?: TemplateVersionLookup } = {}): ChainHighlight {
  const versionOf = (t: string) => templateVersion(t, chain.namespace, chain, options.lookup);
  const shortest = chain.reachableUpgrades(current);
  const sequential = sequentialRoutes(chain, { template: current, version: options.version || versionOf(current) }, versionOf).routes;
  const paths = shortest.map((r) => r.path);
  return {
    current,
    ...(options.who ? { who: options.who } : {}),
    reachable: shortest.map((r) => r.destination),
    routes: { edge: paths, reachable: paths, sequential: sequential.map((r) => r.path) },
  };
}
