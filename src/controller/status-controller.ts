// Publishes status.servicesUpgradePaths on every ClusterDeployment and MultiClusterService,
// computed by the same graph code the webhook decides with. Only that field of the status
// subresource is written, only when it differs, and only by the leader, at most
// --status-write-budget writes per second (write-budget.ts).
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ChainRegistry } from '../graph/chain-registry.ts';
import { metaOf } from '../model/meta.ts';
import { isRecord, parseServices } from '../model/parse.ts';
import { chainKey, chainNamespaceOf, type OwnerKind } from '../model/resources.ts';
import { computeUpgradePaths, type RouteOptions } from '../rules/published-paths.ts';
import { CLUSTER_DEPLOYMENTS, MULTI_CLUSTER_SERVICES, type KcmClient, type KcmResource } from '../kube/client.ts';
import { UPGRADE_PATHS_OWNERS } from '../kube/bookkeeping.ts';
import { ResilientInformer, type ResilientInformerOptions } from '../kube/resilient-informer.ts';
import { ReferenceIndex } from './reference-index.ts';
import { UPGRADE_PATHS_ANNOTATION, type StatusWriter } from '../rules/status-writer.ts';
import { publishDecision, statusWriteUndone, type PendingWrite } from './publish-decision.ts';
import { WorkQueue } from './work-queue.ts';
import { WriteBudget, type BudgetClock } from './write-budget.ts';
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
  /**
   * Status and annotation writes per second at most (--status-write-budget; 0 or absent:
   * unlimited). A write waits for its turn inside the reconcile, so the queue simply waits.
   */
  writeBudget?: number;
  /** The budget's clock (tests pass one they drive). */
  budgetClock?: BudgetClock;
  /** Makes each watch (default: a ResilientInformer; tests pass one they drive). */
  informer?: (options: ResilientInformerOptions) => Informer;
}

/** What the controller needs of a watch. */
export type Informer = Pick<ResilientInformer, 'start' | 'stop' | 'hasSynced'>;

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
  /** Objects whose status field this process has written, as the watch has shown (by `Kind/namespace/name`). */
  private readonly wroteStatus = new Set<string>();
  /** Objects whose field another writer has taken: chaingate publishes their annotation only. */
  private readonly yielded = new Set<string>();
  /**
   * The versions the watch delivers for an object while a write to it is being sent: the watch
   * can show the result, and later versions too, before the API server's answer names it.
   */
  private readonly seenWhileWriting = new Map<string, Set<string>>();
  private readonly index = new ReferenceIndex();
  private readonly queue: WorkQueue;
  private readonly budget: WriteBudget;
  private readonly informers: Informer[] = [];
  private resyncTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private lastSync = 0;
  private stopped = false;
  private readonly metrics;

  constructor(options: StatusControllerOptions) {
    this.options = options;
    this.queue = new WorkQueue({ workers: options.workers ?? 8 });
    this.budget = new WriteBudget(options.writeBudget ?? 0, { clock: options.budgetClock });
    const budget = this.budget;
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
      pendingWrites: new Gauge({
        name: 'chaingate_controller_status_writes_pending',
        help: 'Status or annotation writes waiting for the write budget (--status-write-budget).',
        registers,
        collect() { this.set(budget.pending); },
      }),
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
    const makeInformer = this.options.informer ?? ((informerOptions: ResilientInformerOptions) => new ResilientInformer(informerOptions));
    for (const { kind, resource, prefix } of KINDS) {
      const scopes: Array<string | undefined> = resource.namespaced && namespaces?.length ? namespaces : [undefined];
      for (const namespace of scopes) {
        this.informers.push(
          makeInformer({
            client,
            resource,
            namespace,
            logger,
            resyncMs: this.options.resyncMs,
            events: {
              upsert: (object) => this.track(kind, prefix, object),
              remove: (object) => this.forget(prefix, object),
              relisted: (items) => {
                const keep = new Set(items.map((item) => this.track(kind, prefix, item, true)));
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
    this.budget.close();
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

  private track(kind: OwnerKind, prefix: string, object: Record<string, unknown>, listed = false): string {
    const meta = metaOf(object);
    const key = `${prefix}/${meta.namespace ? `${meta.namespace}/` : ''}${meta.name ?? ''}`;
    this.objects.set(key, { kind, object });
    // The watch delivers versions in order: once it shows our write's result, whatever comes
    // later reflects it, and a missing value there is a real change.
    const id = `${kind}/${meta.namespace ?? ''}/${meta.name ?? ''}`;
    if (meta.resourceVersion !== undefined) this.seenWhileWriting.get(id)?.add(meta.resourceVersion);
    const pending = this.lastWrites.get(id);
    if (pending && pending.written !== undefined && pending.written === meta.resourceVersion) {
      this.lastWrites.delete(id);
      if (pending.target === 'status') this.wroteStatus.add(id);
    } else if (pending && listed) {
      // A relist (after a watch broke) may skip our write's version for good: the list is the
      // state now, so the write is no longer awaited (re-sending an equal value changes nothing).
      this.lastWrites.delete(id);
    }
    const chainNamespace = this.chainNamespace(kind, meta.namespace ?? '');
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
    const meta = metaOf(object);
    const kind = KINDS.find((k) => k.prefix === prefix)?.kind;
    const id = `${kind}/${meta.namespace ?? ''}/${meta.name ?? ''}`;
    this.lastWrites.delete(id);
    this.wroteStatus.delete(id);
    this.yielded.delete(id);
    this.forgetKey(`${prefix}/${meta.namespace ? `${meta.namespace}/` : ''}${meta.name ?? ''}`);
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
    const meta = metaOf(object);
    const name = meta.name ?? '';
    const leader = this.options.isLeader?.() ?? true;
    const involved = { apiVersion: String(object.apiVersion ?? ''), kind, name, namespace: meta.namespace, uid: meta.uid };
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
    const id = `${kind}/${meta.namespace ?? ''}/${name}`;
    const owners = isRecord(object.metadata) ? object.metadata[UPGRADE_PATHS_OWNERS] : undefined;
    const pending = this.lastWrites.get(id);
    const now = Date.now();
    // Once another writer undoes our status write, it is that object's writer from then on.
    if (statusWriteUndone({ wroteStatus: this.wroteStatus.has(id), owners, pending, now })) {
      this.wroteStatus.delete(id);
      this.yielded.add(id);
    }
    const decision = publishDecision({
      writer: this.options.statusWriter ?? 'auto',
      object,
      owners,
      paths,
      pending,
      yielded: this.yielded.has(id) || metaOf(object).annotations?.[UPGRADE_PATHS_ANNOTATION] !== undefined,
      now,
    });
    if (decision.action === 'none') return;
    if (decision.action === 'skip') {
      this.metrics.skipped.inc({ kind });
      return;
    }
    const { target, value } = decision;
    if (!this.budget.unlimited) {
      const cachedVersion = meta.resourceVersion;
      if (!(await this.budget.take())) return; // stopping
      // While it waited, the object may have changed (it is queued again and will be
      // recomputed from the new version: writing the old value now would be a write too many),
      // or this replica may have stopped leading.
      const prefix = KINDS.find((k) => k.kind === kind)?.prefix;
      const now = this.objects.get(`${prefix}/${meta.namespace ? `${meta.namespace}/` : ''}${name}`);
      if (now === undefined || metaOf(now.object).resourceVersion !== cachedVersion) return;
      if (!(this.options.isLeader?.() ?? true)) return;
    }
    const resource = kind === 'ClusterDeployment' ? CLUSTER_DEPLOYMENTS : MULTI_CLUSTER_SERVICES;
    // Another writer owns the status field (or the annotation was asked for): leave the status alone.
    const seen = new Set<string>();
    this.seenWhileWriting.set(id, seen);
    let answer: unknown;
    try {
      answer =
        target === 'status'
          ? await this.options.client.patchStatus(resource, meta.namespace, name, { status: { servicesUpgradePaths: paths } })
          : await this.options.client.patch(resource, meta.namespace, name, { metadata: { annotations: { [UPGRADE_PATHS_ANNOTATION]: value } } });
    } finally {
      this.seenWhileWriting.delete(id);
    }
    const written = metaOf(answer).resourceVersion;
    // The watch may have delivered the result before the answer arrived, and later versions
    // after it (kcm's status update right behind our patch): then it is no longer on its way.
    if (written === undefined || !seen.has(written)) this.lastWrites.set(id, { target, value, written, until: Date.now() + IN_FLIGHT_MS });
    else if (target === 'status') this.wroteStatus.add(id);
    this.metrics.patches.inc({ kind, target });
  }
}
