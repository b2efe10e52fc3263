// Who still resolves a ServiceTemplateChain, in the words delete protection prints: the
// objects through which kcm v1.11.4 would look the chain up.
//  - A ClusterDeployment in the chain's namespace naming it in a service's templateChain.
//  - A MultiClusterService naming it, when the chain is in the system namespace (the MCS's
//    own status and self-management ServiceSet resolve chains there).
//  - A MultiClusterService naming it whose spec.clusterSelector selects a ClusterDeployment in
//    the chain's namespace: kcm builds one ServiceSet per selected cluster in that cluster's
//    namespace and resolves the services' chains in it (internal/serviceset/util.go).
// Pure: the lists come from the caller (live reads in src/kube/live-reads.ts).
import { parseServices } from '../model/parse.ts';
import { metaOf } from '../model/meta.ts';
import { clusterSelectorMatcher } from '../model/label-selector.ts';
import { compareNames } from '../graph/loaded-chain.ts';

/** Whether an object's services name `chain`; malformed objects name nothing. */
function namesChain(item: unknown, chain: string): boolean {
  try {
    return parseServices(item).some((s) => s.templateChain === chain);
  } catch {
    return false;
  }
}

/**
 * The objects referencing chain `namespace/chain`, sorted: "ClusterDeployment team-a/dev",
 * "MultiClusterService global" (system namespace) and
 * "MultiClusterService global-kyverno (selects ClusterDeployment team-a/dev)".
 * `clusterDeployments` are the ones in `namespace`; `multiClusterServices` all of them.
 */
export function chainReferences(
  namespace: string,
  chain: string,
  systemNamespace: string,
  clusterDeployments: readonly unknown[],
  multiClusterServices: readonly unknown[],
): string[] {
  const users: string[] = [];
  // What an MCS's selector is matched against: kcm skips ClusterDeployments being deleted.
  const selectable: Array<{ key: string; labels: unknown }> = [];
  for (const item of clusterDeployments) {
    const meta = metaOf(item);
    const key = `${meta.namespace || namespace}/${meta.name ?? ''}`;
    if (namesChain(item, chain)) users.push(`ClusterDeployment ${key}`);
    if (!meta.deletionTimestamp) selectable.push({ key, labels: meta.labels });
  }
  selectable.sort((a, b) => compareNames(a.key, b.key));
  for (const item of multiClusterServices) {
    if (!namesChain(item, chain)) continue;
    const name = metaOf(item).name ?? '';
    if (namespace === systemNamespace) {
      users.push(`MultiClusterService ${name}`);
      continue;
    }
    const spec = (item as { spec?: { clusterSelector?: unknown } }).spec;
    const matches = clusterSelectorMatcher(typeof spec === 'object' && spec !== null ? spec.clusterSelector : undefined);
    const selected = selectable.filter((cd) => matches(cd.labels)).map((cd) => cd.key);
    if (selected.length === 0) continue;
    const more = selected.length > 1 ? ` and ${selected.length - 1} more` : '';
    users.push(`MultiClusterService ${name} (selects ClusterDeployment ${selected[0]}${more})`);
  }
  return users.sort(compareNames);
}
