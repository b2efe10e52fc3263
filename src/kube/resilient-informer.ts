// client-node's ListWatch relists on 410 Gone and reconnects after its 30 s inactivity
// timeout, but on any other error (connection refused, 5xx, a failed list) it emits `error`
// and stops for good. This wrapper restarts it with capped exponential backoff, tracks
// whether the first list has completed (readiness), and relists on a timer as a watchdog
// against watches that stay open but deliver nothing.
import { makeInformer, type KubernetesObject, type KubernetesListObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KcmClient, KcmResource, KubeList } from './client.ts';

export interface InformerEvents {
  /** Called for add and update; must not throw (client-node swallows callback errors). */
  upsert(object: Record<string, unknown>): void;
  remove(object: Record<string, unknown>): void;
  /** Called after every successful (re)list with the full content. */
  relisted?(objects: Array<Record<string, unknown>>): void;
}

export interface ResilientInformerOptions {
  client: KcmClient;
  resource: KcmResource;
  namespace?: string;
  events: InformerEvents;
  logger: Logger;
  resyncMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  onRestart?: () => void;
}

export class ResilientInformer {
  private readonly options: ResilientInformerOptions;
  private readonly informer;
  private stopped = false;
  private synced = false;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  /** When the last list or watch event arrived: the staleness of what we know. */
  lastContact = 0;

  constructor(options: ResilientInformerOptions) {
    this.options = options;
    this.backoffMs = options.backoff?.initialMs ?? 500;
    const { client, resource, namespace, events, logger } = options;
    const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const result = await client.list(resource, namespace);
      this.markSynced(result);
      return result as KubernetesListObject<KubernetesObject>;
    };
    this.informer = makeInformer(client.kc, client.path(resource, namespace), list);
    const guarded = (what: string, fn: (object: Record<string, unknown>) => void) => (object: KubernetesObject) => {
      this.lastContact = Date.now();
      this.backoffMs = options.backoff?.initialMs ?? 500;
      try {
        fn(object as unknown as Record<string, unknown>);
      } catch (err) {
        logger.error({ resource: resource.plural, err: (err as Error).message }, `${what} handler failed`);
      }
    };
    this.informer.on('add', guarded('add', events.upsert));
    this.informer.on('update', guarded('update', events.upsert));
    this.informer.on('delete', guarded('delete', events.remove));
    this.informer.on('error', (err: unknown) => this.scheduleRestart(err));
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.informer.start();
    const resyncMs = this.options.resyncMs ?? 5 * 60_000;
    this.resyncTimer = setInterval(() => void this.relist(), resyncMs);
    this.resyncTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.resyncTimer);
    await this.informer.stop();
  }

  /** A full list outside the watch: catches anything a silently stalled watch missed. */
  async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      const result = await this.options.client.list(this.options.resource, this.options.namespace);
      this.markSynced(result);
    } catch (err) {
      this.options.logger.warn({ resource: this.options.resource.plural, err: (err as Error).message }, 'periodic relist failed');
    }
  }

  private markSynced(result: KubeList): void {
    this.lastContact = Date.now();
    if (!Array.isArray(result?.items)) throw new Error(`list ${this.options.resource.plural}: response has no items`);
    try {
      this.options.events.relisted?.(result.items);
    } catch (err) {
      this.options.logger.error({ err: (err as Error).message }, 'relist handler failed');
    }
    if (!this.synced) this.options.logger.info({ resource: this.options.resource.plural, namespace: this.options.namespace ?? '*', count: result.items.length }, 'initial list synced');
    this.synced = true;
  }

  private scheduleRestart(err: unknown): void {
    if (this.stopped) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.backoff?.maxMs ?? 30_000);
    this.options.logger.warn(
      { resource: this.options.resource.plural, err: (err as Error)?.message ?? String(err), retryInMs: delay },
      'watch failed; restarting',
    );
    this.options.onRestart?.();
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (!this.stopped) void this.informer.start();
    }, delay);
    this.restartTimer.unref();
  }
}
