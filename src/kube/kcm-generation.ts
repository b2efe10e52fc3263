// Which kcm the cluster runs, read from the ClusterDeployment CRD the API server serves:
// services with a `version` field mean kcm v1.6+ ("sequential kcm", which walks multi-step
// targets one step at a time and serves ServiceSets); without it, kcm v1.0-v1.5 ("classic").
// Re-read on a timer, so that a kcm upgrade (new CRDs) changes `auto`'s policy without a restart.
import { ApiextensionsV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isRecord } from '../model/parse.ts';
import { GROUP } from '../model/resources.ts';
import type { UpgradeItemShape } from '../rules/published-paths.ts';
import { CALL_TIMEOUT_MS, withTimeout } from './timeouts.ts';

export type KcmGeneration = 'sequential' | 'classic';

export const CLUSTER_DEPLOYMENT_CRD = `clusterdeployments.${GROUP}`;

/** Whether any served version of the CRD has spec.serviceSpec.services[].version. */
export function generationOfCrd(crd: unknown): KcmGeneration {
  const versions = isRecord(crd) && isRecord(crd.spec) && Array.isArray(crd.spec.versions) ? crd.spec.versions : [];
  for (const version of versions) {
    if (!isRecord(version) || version.served === false) continue;
    const service = dig(version, ['schema', 'openAPIV3Schema', 'properties', 'spec', 'properties', 'serviceSpec', 'properties', 'services', 'items', 'properties']);
    if (isRecord(service) && isRecord(service.version)) return 'sequential';
  }
  return 'classic';
}

/**
 * The shape of a published upgrade item: `versions` when a served version of the CRD has
 * status.servicesUpgradePaths[].availableUpgrades[].versions (kcm v1.6+). The API server
 * prunes fields its schema lacks, so writing the other shape would never compare equal.
 */
export function upgradeItemShapeOfCrd(crd: unknown): UpgradeItemShape {
  const versions = isRecord(crd) && isRecord(crd.spec) && Array.isArray(crd.spec.versions) ? crd.spec.versions : [];
  for (const version of versions) {
    if (!isRecord(version) || version.served === false) continue;
    const item = dig(version, [
      'schema', 'openAPIV3Schema', 'properties', 'status', 'properties', 'servicesUpgradePaths', 'items', 'properties', 'availableUpgrades', 'items', 'properties',
    ]);
    if (isRecord(item) && isRecord(item.versions)) return 'versions';
  }
  return 'names';
}

function dig(value: unknown, path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return current;
}

export interface GenerationWatchOptions {
  kc: KubeConfig;
  logger: Logger;
  intervalMs?: number;
  onChange: (generation: KcmGeneration) => void;
  /** The published item shape changed (also called once on the first read). */
  onShapeChange?: (shape: UpgradeItemShape) => void;
}

/** Reads the CRD now and every `intervalMs`; keeps the last answer when a read fails. */
export class KcmGenerationWatch {
  generation: KcmGeneration | undefined;
  itemShape: UpgradeItemShape | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly options: GenerationWatchOptions;
  private readonly api: ApiextensionsV1Api;
  private resourceVersion: string | undefined;

  constructor(options: GenerationWatchOptions) {
    this.options = options;
    this.api = options.kc.makeApiClient(ApiextensionsV1Api);
  }

  async start(): Promise<void> {
    await this.read();
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = setTimeout(() => void this.read().finally(() => this.timer && this.schedule()), this.options.intervalMs ?? 30_000);
    this.timer.unref();
  }

  private async read(): Promise<void> {
    try {
      const crd = await withTimeout(this.api.readCustomResourceDefinition({ name: CLUSTER_DEPLOYMENT_CRD }), CALL_TIMEOUT_MS, 'CRD read');
      const rv = crd.metadata?.resourceVersion;
      if (rv !== undefined && rv === this.resourceVersion) return;
      this.resourceVersion = rv;
      const shape = upgradeItemShapeOfCrd(crd);
      if (shape !== this.itemShape) {
        this.itemShape = shape;
        this.options.onShapeChange?.(shape);
      }
      const generation = generationOfCrd(crd);
      if (generation !== this.generation) {
        this.generation = generation;
        this.options.logger.info({ generation, crd: CLUSTER_DEPLOYMENT_CRD }, generation === 'sequential' ? 'kcm v1.6+ detected (services carry version)' : 'kcm before v1.6 detected (services carry no version)');
        this.options.onChange(generation);
      }
    } catch (err) {
      this.options.logger.warn({ crd: CLUSTER_DEPLOYMENT_CRD, err: (err as Error).message, kept: this.generation ?? 'none yet' }, 'could not read the ClusterDeployment CRD to tell the kcm generation');
    }
  }
}
