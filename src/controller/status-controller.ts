// Publishes status.servicesUpgradePaths on every ClusterDeployment and MultiClusterService,
// computed by the same graph code the webhook decides with. Only that field of the status
// subresource is written, only when it differs, and only by the leader.
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ChainRegistry } from '../graph/chain-registry.ts';
import { parseServices } from '../model/parse.ts';
import { chainKey, chainNamespaceOf, type OwnerKind } from '../model/resources.ts';
import { computeUpgradePaths, type RouteOptions, type ServiceUpgradePaths } from '../rules/published-paths.ts';
import { CLUSTER_DEPLOYMENTS, MULTI_CLUSTER_SERVICES, type KcmClient, type KcmResource } from '../kube/client.ts';
import { UPGRADE_PATHS_OWNERS } from '../kube/bookkeeping.ts';
import { ResilientInformer } from '../kube/resilient-informer.ts';
import { ReferenceIndex } from './reference-index.ts';
import { UPGRADE_PATHS_ANNOTATION, type StatusWriter } from '../rules/status-writer.ts';
import { WorkQueue } from './work-queue.ts';
import type { EventRecorder } from './event-recorder.ts';

export interface StatusControllerOptions {
  client: KcmClient;
  chains: ChainRegistry;
  logger: Logger;
  registry: Registry;
  systemNamespace: string;
  /** Watch only these namespaces for ClusterDeployments (MultiClusterServices are cluster-scoped). */
  namespaces?: string[];
  events?: EventRecorder;
  /** Status is written only while this says so (leader election). */
  isLeader?: () => boolean;
  resyncMs?: number;
  workers?: number;
  /**
   * Whether the chain cache has completed its first list. Until then a chain that exists
   * would look missing, and publishing that would strip every object's upgrades.
   */
  chainsSynced?: () => boolean;
  /** The policy in force and the template versions, read at each computation (auto may change). */
  routes?: () => RouteOptions;
  /** Record NoTemplateChain Events (services without a chain are the common case: off by default). */
  unchainedEvents?: boolean;
  /** Where the upgrades go (default auto: the status while no other manager owns the field, else the annotation). */
  statusWriter?: StatusWriter;
}

/** chaingate's field manager name (client.ts sends it on every write). */
const FIELD_MANAGER = 'chaingate';

/** A write whose result the watch has not delivered yet. */
interface PendingWrite {
  target: 'status' | 'annotation';
  value: string;
  /** resourceVersion of the written object, from the API server's answer. */
  written: string | undefined;
  /** After this (ms since epoch), the write no longer counts as in flight: a relist may skip it. */
  until: number;
}

/** How long a write stays "in flight" at most when the watch never shows its result. */
const IN_FLIGHT_MS = 30_000;

interface Tracked {
  kind: OwnerKind;
  object: Record<string, unknown>;
}

const KINDS: Array<{ kind: OwnerKind; resource: KcmResource; prefix: string }> = [
  { kind: 'ClusterDeployment', resource: CLUSTER_DEPLOYMENTS, prefix: 'cd' },
  { kind: 'MultiClusterService', resource: MULTI_CLUSTER_SERVICES, prefix: 'mcs' },
];

export class StatusController {
  private readonly options: StatusControllerOptions;
  private readonly objects = new Map<string, Tracked>();
  /**
   * The last write per object (by `Kind/namespace/name`): its value and the resourceVersion the
   * API server gave the result, until the watch has delivered that version.
   */
  private readonly lastWrites = new Map<string, PendingWrite>();
  private readonly index = new ReferenceIndex();
  private readonly queue: WorkQueue;
  private readonly informers: ResilientInformer[] = [];
  private resyncTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private lastSync = 0;
  private stopped = false;
  private readonly metrics;

  constructor(options: StatusControllerOptions) {
    this.options = options;
    this.queue = new WorkQueue({ workers: options.workers ?? 8 });
    const registers = [options.registry];
    const queue = this.queue;
    const self = this;
    this.metrics = {
      reconciles: new Counter({ name: 'chaingate_controller_reconciles_total', help: 'Objects reconciled.', labelNames: ['kind'], registers }),
      patches: new Counter({
        name: 'chaingate_controller_status_patches_total',
        help: 'Upgrade paths written: target status (status.servicesUpgradePaths) or annotation (another manager owns that field).',
        labelNames: ['kind', 'target'],
        registers,
      }),
      skipped: new Counter({ name: 'chaingate_controller_patches_skipped_total', help: 'Reconciles whose status was already up to date.', labelNames: ['kind'], registers }),
      errors: new Counter({ name: 'chaingate_controller_errors_total', help: 'Reconciles that failed (retried with backoff).', labelNames: ['kind'], registers }),
      depth: new Gauge({ name: 'chaingate_controller_queue_depth', help: 'Objects waiting to be reconciled.', registers, collect() { this.set(queue.depth); } }),
      sinceSync: new Gauge({
        name: 'chaingate_controller_seconds_since_last_sync',
        help: 'Seconds since the queue was last drained (-1 before the first sync).',
        registers,
        collect() { this.set(self.lastSync === 0 ? -1 : (Date.now() - self.lastSync) / 1000); },
      }),
    };
  }

  get hasSynced(): boolean {
    return this.informers.every((informer) => informer.hasSynced);
  }

  async start(): Promise<void> {
    const { client, logger, namespaces } = this.options;
    this.unsubscribe = this.options.chains.onChange((change) => {
      for (const key of this.index.objectsUsing(chainKey(change.namespace, change.name))) this.queue.add(key);
    });
    for (const { kind, resource, prefix } of KINDS) {
      const scopes: Array<string | undefined> = resource.namespaced && namespaces?.length ? namespaces : [undefined];
      for (const namespace of scopes) {
        this.informers.push(
          new ResilientInformer({
            client,
            resource,
            namespace,
            logger,
            resyncMs: this.options.resyncMs,
            events: {
              upsert: (object) => this.track(kind, prefix, object),
              remove: (object) => this.forget(prefix, object),
              relisted: (items) => {
                const keep = new Set(items.map((item) => this.track(kind, prefix, item)));
                for (const key of [...this.objects.keys()]) {
                  if (key.startsWith(`${prefix}/`) && !keep.has(key) && (namespace === undefined || key.startsWith(`${prefix}/${namespace}/`))) {
                    this.forgetKey(key);
                  }
                }
              },
            },
          }),
        );
      }
    }
    void this.startQueueWhenChainsSynced();
    // Not awaited, for the same reason as the chain cache: readiness reports the sync.
    void Promise.all(this.informers.map((informer) => informer.start())).catch((err: Error) =>
      logger.error({ err: err.message }, 'controller watches failed to start'),
    );
    const resyncMs = this.options.resyncMs ?? 5 * 60_000;
    this.resyncTimer = setInterval(() => this.resyncAll(), resyncMs);
    this.resyncTimer.unref();
  }

  private async startQueueWhenChainsSynced(): Promise<void> {
    while (!this.stopped && this.options.chainsSynced && !this.options.chainsSynced()) {
      await new Promise((resolve) => setTimeout(resolve, 100).unref());
    }
    if (!this.stopped) this.queue.start((key) => this.reconcile(key));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.unsubscribe?.();
    this.queue.stop();
    await Promise.all(this.informers.map((informer) => informer.stop()));
  }

  /** Queues every object, e.g. on becoming leader. */
  resyncAll(): void {
    for (const key of this.objects.keys()) this.queue.add(key);
  }

  /** Resolves when every queued reconcile has finished. */
  async whenIdle(): Promise<void> {
    await this.queue.whenIdle();
  }

  private track(kind: OwnerKind, prefix: string, object: Record<string, unknown>): string {
    const meta = object.metadata as { name?: string; namespace?: string } | undefined;
    const key = `${prefix}/${meta?.namespace ? `${meta.namespace}/` : ''}${meta?.name ?? ''}`;
    this.objects.set(key, { kind, object });
    // The watch delivers versions in order: once it shows our write's result, whatever comes
    // later reflects it, and a missing value there is a real change.
    const id = `${kind}/${meta?.namespace ?? ''}/${meta?.name ?? ''}`;
    const pending = this.lastWrites.get(id);
    if (pending && pending.written !== undefined && pending.written === (meta as { resourceVersion?: string } | undefined)?.resourceVersion) this.lastWrites.delete(id);
    const chainNamespace = this.chainNamespace(kind, meta?.namespace ?? '');
    let chains: string[] = [];
    try {
      chains = parseServices(object).flatMap((s) => (s.templateChain ? [chainKey(chainNamespace, s.templateChain)] : []));
    } catch {
      // malformed services: reconcile reports it
    }
    this.index.set(key, chains);
    this.queue.add(key);
    return key;
  }

  private forget(prefix: string, object: Record<string, unknown>): void {
    const meta = object.metadata as { name?: string; namespace?: string } | undefined;
    const kind = KINDS.find((k) => k.prefix === prefix)?.kind;
    this.lastWrites.delete(`${kind}/${meta?.namespace ?? ''}/${meta?.name ?? ''}`);
    this.forgetKey(`${prefix}/${meta?.namespace ? `${meta.namespace}/` : ''}${meta?.name ?? ''}`);
  }

  private forgetKey(key: string): void {
    this.objects.delete(key);
    this.index.remove(key);
  }

  private chainNamespace(kind: OwnerKind, namespace: string): string {
    return chainNamespaceOf(kind, namespace, this.options.systemNamespace);
  }

  private async reconcile(key: string): Promise<void> {
    const tracked = this.objects.get(key);
    try {
      if (tracked) await this.reconcileObject(tracked);
    } catch (err) {
      this.metrics.errors.inc({ kind: tracked?.kind ?? 'unknown' });
      this.options.logger.warn({ object: key, err: (err as Error).message }, 'status reconcile failed; will retry');
      throw err;
    } finally {
      if (this.queue.depth === 0) this.lastSync = Date.now();
    }
  }

  private async reconcileObject({ kind, object }: Tracked): Promise<void> {
    this.metrics.reconciles.inc({ kind });
    const meta = object.metadata as { name: string; namespace?: string; uid?: string };
    const leader = this.options.isLeader?.() ?? true;
    const involved = { apiVersion: String(object.apiVersion ?? ''), kind, name: meta.name, namespace: meta.namespace, uid: meta.uid };
    let services;
    try {
      services = parseServices(object);
    } catch (err) {
      if (leader) await this.options.events?.warn(involved, 'MalformedServices', (err as Error).message);
      return;
    }
    const { paths, problems } = computeUpgradePaths(services, this.chainNamespace(kind, meta.namespace ?? ''), this.options.chains, this.options.routes?.());
    if (!leader) return;
    for (const problem of problems) {
      if (problem.reason === 'NoTemplateChain' && !this.options.unchainedEvents) continue;
      await this.options.events?.record(involved, problem.type, problem.reason, problem.message);
    }
    const writer = this.options.statusWriter ?? 'auto';
    if (writer === 'off') return;
    // A reconcile can run on a cached object from before our own write reached the cache: the
    // same version, or a newer one another writer made meanwhile (kcm's status update racing
    // our patch). Until the watch shows our write's result, the value is in flight, not missing.
    const id = `${kind}/${meta.namespace ?? ''}/${meta.name}`;
    const inFlight = (target: PendingWrite['target'], value: string) => {
      const last = this.lastWrites.get(id);
      return last !== undefined && last.target === target && last.value === value && Date.now() < last.until;
    };
    const remember = (target: PendingWrite['target'], value: string, answer: unknown) => {
      const written = (answer as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion;
      // The watch may have delivered the result before the answer arrived.
      const prefix = KINDS.find((k) => k.kind === kind)?.prefix;
      const cached = this.objects.get(`${prefix}/${meta.namespace ? `${meta.namespace}/` : ''}${meta.name}`)?.object.metadata as { resourceVersion?: string } | undefined;
      if (typeof written === 'string' && cached?.resourceVersion === written) return;
      this.lastWrites.set(id, { target, value, written: typeof written === 'string' ? written : undefined, until: Date.now() + IN_FLIGHT_MS });
    };
    const owners = (meta as Record<string, unknown>)[UPGRADE_PATHS_OWNERS];
    const someoneElse = Array.isArray(owners) && owners.some((owner) => owner !== FIELD_MANAGER);
    const resource = kind === 'ClusterDeployment' ? CLUSTER_DEPLOYMENTS : MULTI_CLUSTER_SERVICES;
    if (writer === 'status' || (writer === 'auto' && !someoneElse)) {
      const current = (object.status as { servicesUpgradePaths?: unknown } | undefined)?.servicesUpgradePaths;
      const value = JSON.stringify(paths);
      if (samePaths(current, paths) || inFlight('status', value)) {
        this.metrics.skipped.inc({ kind });
        return;
      }
      remember('status', value, await this.options.client.patchStatus(resource, meta.namespace, meta.name, { status: { servicesUpgradePaths: paths } }));
      this.metrics.patches.inc({ kind, target: 'status' });
      return;
    }
    // Another writer owns the field (or the annotation was asked for): leave the status alone.
    const annotations = (object.metadata as { annotations?: Record<string, unknown> }).annotations;
    const value = JSON.stringify(paths);
    if (annotations?.[UPGRADE_PATHS_ANNOTATION] === value || inFlight('annotation', value)) {
      this.metrics.skipped.inc({ kind });
      return;
    }
    remember('annotation', value, await this.options.client.patch(resource, meta.namespace, meta.name, { metadata: { annotations: { [UPGRADE_PATHS_ANNOTATION]: value } } }));
    this.metrics.patches.inc({ kind, target: 'annotation' });
  }
}

/** An absent list and an empty one mean the same to a reader. */
function samePaths(current: unknown, desired: ServiceUpgradePaths[]): boolean {
  if (current === undefined || current === null) return desired.length === 0;
  return isDeepStrictEqual(current, desired);
}
