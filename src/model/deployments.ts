// The two facts kcm v1.6+ adds to a decision, read from objects chaingate does not own:
// a ServiceTemplate's resolved version, and what a ServiceSet reports deployed. Both arrive
// from watch events and files, so every field is checked and odd values fall back to
// "unknown" (never a throw): kcm's own fallbacks are then what chaingate predicts.
import { isRecord } from './parse.ts';
import { DEFAULT_SERVICE_NAMESPACE } from './resources.ts';

/** A template and version as kcm deploys them (a ServiceSet's report, or a step of kcm's walk). */
export interface DeployedState {
  template: string;
  version: string;
}

/** Longer strings are not versions kcm could compare (semver's own limit is 256). */
const MAX_VERSION_LENGTH = 1024;

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' && value.length <= MAX_VERSION_LENGTH ? value : undefined;

/**
 * kcm's fillServiceVersions: spec.version, else spec.helm.chartSpec.version, else the
 * template's name. Undefined when the object has no name at all.
 */
export function resolvedTemplateVersion(object: unknown): string | undefined {
  if (!isRecord(object) || !isRecord(object.metadata)) return undefined;
  const name = text(object.metadata.name);
  if (!name) return undefined;
  const spec = isRecord(object.spec) ? object.spec : {};
  const helm = isRecord(spec.helm) ? spec.helm : {};
  const chartSpec = isRecord(helm.chartSpec) ? helm.chartSpec : {};
  return text(spec.version) ?? text(chartSpec.version) ?? name;
}

export interface ServiceSetStates {
  /** "ClusterDeployment <ns>/<name>" or "MultiClusterService <name>": whose services these are. */
  owner: string;
  /** namespace/name of a service -> what kcm reports deployed (state Deployed, version set). */
  deployed: Map<string, { template: string; version: string }>;
}

export const clusterDeploymentOwner = (namespace: string, name: string): string => `ClusterDeployment ${namespace}/${name}`;
export const multiClusterServiceOwner = (name: string): string => `MultiClusterService ${name}`;

/** A ServiceSet's owner and deployed services; undefined when it names no owner. */
export function readServiceSet(object: unknown): ServiceSetStates | undefined {
  if (!isRecord(object) || !isRecord(object.metadata)) return undefined;
  const spec = isRecord(object.spec) ? object.spec : {};
  const mcs = text(spec.multiClusterService);
  const cluster = text(spec.cluster);
  const namespace = text(object.metadata.namespace) ?? '';
  let owner: string;
  if (mcs) owner = multiClusterServiceOwner(mcs);
  else if (cluster) owner = clusterDeploymentOwner(namespace, cluster);
  else return undefined;
  const deployed = new Map<string, { template: string; version: string }>();
  const status = isRecord(object.status) ? object.status : {};
  for (const entry of Array.isArray(status.services) ? status.services : []) {
    if (!isRecord(entry) || entry.state !== 'Deployed') continue;
    const name = text(entry.name);
    const template = text(entry.template);
    const version = text(entry.version);
    if (!name || !template || !version) continue;
    deployed.set(`${text(entry.namespace) ?? DEFAULT_SERVICE_NAMESPACE}/${name}`, { template, version });
  }
  return { owner, deployed };
}
