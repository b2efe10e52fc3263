// Live mode of `chaingate paths`: what the controller published on the object, or, when
// nothing is published yet, the same computation over the cluster's chains.
import { chainNamespaceOf } from '../model/resources.ts';
import { metaOf } from '../model/meta.ts';
import { parseChain } from '../model/parse.ts';
import { ChainRegistry } from '../graph/chain-registry.ts';
import { ApiextensionsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { computeUpgradePaths, type ServiceUpgradePaths, type UpgradeItemShape } from '../rules/published-paths.ts';
import { CHAINS, KcmClient } from '../kube/client.ts';
import { preferredVersion } from '../kube/discovery.ts';
import { CALL_TIMEOUT_MS, withTimeout } from '../kube/timeouts.ts';
import { CLUSTER_DEPLOYMENT_CRD, upgradeItemShapeOfCrd } from '../kube/kcm-generation.ts';
import { connectCluster, parseObjectRef, readObject, servicesOf } from './cluster-connection.ts';
import { UPGRADE_PATHS_ANNOTATION } from '../rules/status-writer.ts';


export interface LivePathsRequest {
  target: string;
  /** -n; unset means the context's namespace, else "default" (as kubectl). */
  namespace: string | undefined;
  kubeconfig: string | undefined;
  context?: string | undefined;
  systemNamespace: string;
}

export interface LivePathsResult {
  paths: ServiceUpgradePaths[];
  source: 'published' | 'annotation' | 'computed';
  problems: string[];
  /** Where kcm's own status.servicesUpgradePaths differs from chaingate's view: one line per service. */
  disagreements: string[];
}

export async function livePaths(request: LivePathsRequest): Promise<LivePathsResult> {
  const entry = parseObjectRef(request.target);
  const { kc, contextNamespace } = connectCluster(request);
  const client = new KcmClient(kc, await preferredVersion(kc));
  const namespace = entry.kind === 'ClusterDeployment' ? (request.namespace ?? contextNamespace ?? 'default') : '';
  const object = await readObject(client, entry, namespace);

  const published = (object.status as { servicesUpgradePaths?: unknown } | undefined)?.servicesUpgradePaths;
  // Where another writer (kcm v1.6+) owns the status, chaingate's view is its annotation.
  const annotation = metaOf(object).annotations?.[UPGRADE_PATHS_ANNOTATION];
  if (typeof annotation === 'string') {
    let mine: ServiceUpgradePaths[] | undefined;
    try {
      mine = JSON.parse(annotation) as ServiceUpgradePaths[];
    } catch {
      mine = undefined;
    }
    if (Array.isArray(mine)) return { paths: mine, source: 'annotation', problems: [], disagreements: Array.isArray(published) ? disagreements(mine, published) : [] };
  }
  if (Array.isArray(published)) return { paths: published as ServiceUpgradePaths[], source: 'published', problems: [], disagreements: [] };

  const services = servicesOf(entry, object);
  const chainNamespace = chainNamespaceOf(entry.kind, namespace, request.systemNamespace);
  const chains = new ChainRegistry();
  for (const item of (await client.list(CHAINS, chainNamespace)).items) {
    try {
      chains.set(parseChain(item));
    } catch {
      // an unreadable chain simply offers no paths; computeUpgradePaths says so
    }
  }
  const { paths, problems } = computeUpgradePaths(services, chainNamespace, chains, { itemShape: await servedItemShape(kc) });
  return { paths, source: 'computed', problems: problems.filter((p) => p.type === 'Warning').map((p) => p.message), disagreements: [] };
}

/** The item shape of the served ClusterDeployment CRD; `names` when it cannot be read (RBAC). */
async function servedItemShape(kc: KubeConfig): Promise<UpgradeItemShape> {
  try {
    const crd = await withTimeout(kc.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: CLUSTER_DEPLOYMENT_CRD }), CALL_TIMEOUT_MS, 'CRD read');
    return upgradeItemShapeOfCrd(crd);
  } catch {
    return 'names';
  }
}

/** A published item's steps as names: chaingate's upgradePaths, or kcm's versions (v1.6+). */
function stepsOf(item: unknown): string[] {
  const i = item as { upgradePaths?: unknown; versions?: unknown } | null;
  if (Array.isArray(i?.upgradePaths)) return i.upgradePaths.map(String);
  if (Array.isArray(i?.versions)) return i.versions.map((v) => String((v as { name?: unknown })?.name));
  return [];
}

/**
 * One line per service whose entry in kcm's status differs from chaingate's: what kcm lists
 * that chaingate does not, what it lacks, or, where both list the same steps, the order kcm
 * gives them (kcm sorts a path's steps by version text).
 */
export function disagreements(mine: ServiceUpgradePaths[], kcm: unknown[]): string[] {
  const lines: string[] = [];
  const theirs = new Map<string, unknown[]>();
  for (const entry of kcm) {
    const e = entry as { name?: unknown; namespace?: unknown; availableUpgrades?: unknown };
    theirs.set(`${String(e?.namespace ?? 'default')}/${String(e?.name)}`, Array.isArray(e?.availableUpgrades) ? e.availableUpgrades : []);
  }
  for (const service of mine) {
    const id = `${service.namespace}/${service.name}`;
    const kcmItems = theirs.get(id);
    if (!kcmItems) {
      lines.push(`service ${id}: kcm's status has no entry for it`);
      continue;
    }
    const ours = (service.availableUpgrades ?? []).map((u) => u.upgradePaths);
    const kcmSteps = kcmItems.map(stepsOf);
    const byKey = (steps: string[]) => [...steps].sort().join(' ');
    const ourKeys = new Set(ours.map(byKey));
    const kcmKeys = new Set(kcmSteps.map(byKey));
    const extra = kcmSteps.filter((s) => !ourKeys.has(byKey(s)));
    const missing = ours.filter((s) => !kcmKeys.has(byKey(s)));
    const reordered = kcmSteps.find((s) => ourKeys.has(byKey(s)) && !ours.some((o) => o.join(' ') === s.join(' ')));
    const parts: string[] = [];
    if (extra.length > 0) parts.push(`kcm also lists ${extra.map((s) => `[${s.join(' -> ')}]`).join(', ')}`);
    if (missing.length > 0) parts.push(`kcm does not list ${missing.map((s) => `[${s.join(' -> ')}]`).join(', ')}`);
    if (reordered) {
      const mineOrder = ours.find((o) => byKey(o) === byKey(reordered))!;
      const i = reordered.findIndex((step, k) => step !== mineOrder[k]);
      parts.push(`kcm lists ${reordered[i]} before ${mineOrder[i]}`);
    }
    if (parts.length > 0) lines.push(`service ${id}: kcm's status differs: ${parts.join('; ')}`);
  }
  return lines;
}
