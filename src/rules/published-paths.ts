// status.servicesUpgradePaths as SPEC defines it, computed from the same chain graphs the
// webhook uses, so that what the status promises is exactly what admission accepts
// (under the `reachable` policy every listed path is allowed; under `edge`, its steps are).
import type { ChainLookup } from '../graph/chain-registry.ts';
import type { Service } from '../model/resources.ts';
import { DEFAULT_SERVICE_NAMESPACE } from '../model/resources.ts';
import { resolveChain, unsupportedTemplate } from './chain-problems.ts';
import type { UpgradePolicy } from './types.ts';
import { sequentialRoutes } from './sequential-routes.ts';
import { templateVersion, type TemplateVersionLookup } from './service-versions.ts';

/**
 * How a published item looks, as the served CRD defines it: `names` is classic kcm's
 * `{upgradePaths}`; `versions` (kcm v1.6+, whose schema has the field) adds
 * `versions: [{name, version}]`, one per step, beside the names.
 */
export type UpgradeItemShape = 'names' | 'versions';
export const UPGRADE_ITEM_SHAPES: readonly UpgradeItemShape[] = ['names', 'versions'];

/** How routes are chosen and published: the policy in force, template versions, item shape. */
export interface RouteOptions {
  policy?: UpgradePolicy;
  templateVersion?: TemplateVersionLookup;
  /** Default `names`. */
  itemShape?: UpgradeItemShape;
}

/** One step of a route, as kcm v1.6+ names it (AvailableUpgrade). */
export interface UpgradeStep {
  name: string;
  version: string;
}

export interface UpgradeItem {
  versions?: UpgradeStep[];
  upgradePaths: string[];
}

export interface ServiceUpgradePaths {
  name: string;
  namespace: string;
  template: string;
  availableUpgrades?: UpgradeItem[];
}

/** Why a service got no upgrades: becomes a Kubernetes Event. */
export interface PathProblem {
  service: string;
  reason: 'NoTemplateChain' | 'ChainNotFound' | 'ChainInvalid' | 'TemplateNotInChain';
  /** A service without a chain is a choice, not a fault: reported, but not as a warning. */
  type: 'Normal' | 'Warning';
  message: string;
}

export interface UpgradePathsResult {
  paths: ServiceUpgradePaths[];
  problems: PathProblem[];
}

export function computeUpgradePaths(
  services: readonly Service[],
  chainNamespace: string,
  chains: ChainLookup,
  routeOptions: RouteOptions = {},
): UpgradePathsResult {
  const problems: PathProblem[] = [];
  const paths = services.map((service): ServiceUpgradePaths => {
    const entry: ServiceUpgradePaths = {
      name: service.name,
      namespace: service.namespace || DEFAULT_SERVICE_NAMESPACE,
      template: service.template,
    };
    const id = `${entry.namespace}/${entry.name}`;
    if (!service.templateChain) {
      problems.push({
        service: id,
        reason: 'NoTemplateChain',
        type: 'Normal',
        message: `service ${id} names no templateChain, so no upgrades are declared for ${service.template}`,
      });
      return entry;
    }
    const resolved = resolveChain(chains, chainNamespace, service.templateChain);
    if ('problem' in resolved) {
      const missing = !chains.get(chainNamespace, service.templateChain);
      problems.push({ service: id, reason: missing ? 'ChainNotFound' : 'ChainInvalid', type: 'Warning', message: `service ${id}: ${resolved.problem}` });
      return entry;
    }
    if (!resolved.chain.supports(service.template)) {
      problems.push({
        service: id,
        reason: 'TemplateNotInChain',
        type: 'Warning',
        message: `service ${id}: ${unsupportedTemplate(resolved.chain, service.template)}`,
      });
      return entry;
    }
    const chain = resolved.chain;
    // Under edge and reachable, the shortest path (each step one edit); under sequential,
    // the steps kcm's walk deploys, over the fewest edits that policy admits.
    const reachable =
      routeOptions.policy === 'sequential'
        ? sequentialRoutes(
            chain,
            { template: service.template, version: service.version || templateVersion(service.template, chainNamespace, chain, routeOptions.templateVersion) },
            (t) => templateVersion(t, chainNamespace, chain, routeOptions.templateVersion),
          ).routes
        : chain.reachableUpgrades(service.template);
    if (reachable.length > 0) {
      // A step's version is what kcm would read for it (the template's, else the chain's;
      // kcm too falls back to the name when neither says).
      const versionOf = (t: string) => templateVersion(t, chainNamespace, chain, routeOptions.templateVersion);
      entry.availableUpgrades = reachable.map((r) =>
        routeOptions.itemShape === 'versions'
          ? { versions: r.path.map((name) => ({ name, version: versionOf(name) })), upgradePaths: r.path }
          : { upgradePaths: r.path },
      );
    }
    return entry;
  });
  return { paths, problems };
}
