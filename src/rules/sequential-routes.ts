// The upgrades a service can reach under `sequential`, each with the steps kcm will deploy:
// over the fewest edits the policy admits (one edit when kcm's walk to the destination is all
// declared edges), so that what is published is what `kubectl apply` will accept, step by step.
import type { LoadedChain, ReachableUpgrade } from '../graph/loaded-chain.ts';
import { compareNames } from '../graph/chain-graph.ts';
import { PathSearchTooLargeError } from '../graph/kcm-paths.ts';
import { memoisedKcmWalk, type DeployedState } from './kcm-walk.ts';

/**
 * Walks simulated per service at most: a status must not cost seconds on a chain of a
 * thousand templates (each walk there can take a thousand steps). Destinations past the
 * budget are left out rather than published with a route chaingate has not checked.
 */
export const ROUTE_WALK_BUDGET = 2_000;

/** Every destination with an admitted route, by route length then name; `walks` counts the work. */
export function sequentialRoutes(
  chain: LoadedChain,
  current: DeployedState,
  versionOf: (template: string) => string,
  budget = ROUTE_WALK_BUDGET,
): { routes: ReachableUpgrade[]; complete: boolean } {
  const routes = new Map<string, string[]>();
  const expanded = new Set([current.template]);
  let frontier: Array<{ state: DeployedState; steps: string[] }> = [{ state: current, steps: [] }];
  let walks = 0;
  let complete = true;
  search: while (frontier.length > 0) {
    const next: typeof frontier = [];
    for (const { state, steps } of frontier) {
      for (const destination of chain.reachableDestinations(state.template)) {
        if (destination === current.template || routes.has(destination)) continue;
        if (++walks > budget) {
          complete = false;
          break search;
        }
        let walk;
        try {
          walk = memoisedKcmWalk(chain, state, { template: destination, version: versionOf(destination) });
        } catch (err) {
          if (err instanceof PathSearchTooLargeError) {
            complete = false;
            break search;
          }
          throw err;
        }
        if ('problem' in walk || walk.steps.length === 0) continue;
        let previous = state.template;
        if (!walk.steps.every((s) => { const edge = chain.hasEdge(previous, s.template); previous = s.template; return edge; })) continue;
        const route = [...steps, ...walk.steps.map((s) => s.template)];
        routes.set(destination, route);
        if (!expanded.has(destination)) {
          expanded.add(destination);
          next.push({ state: walk.steps.at(-1)!, steps: route });
        }
      }
    }
    frontier = next;
  }
  const list = [...routes].map(([destination, path]) => ({ destination, path }));
  list.sort((a, b) => a.path.length - b.path.length || compareNames(a.destination, b.destination));
  return { routes: list, complete };
}
