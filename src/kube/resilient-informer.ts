// client-node's ListWatch relists on 410 Gone and reconnects after its 30 s inactivity
// timeout, but on any other error (connection refused, 5xx, a failed list) it emits `error`
// and stops for good. This wrapper restarts it with capped exponential backoff, tracks
// whether the first list has completed (readiness), and relists on a timer as a watchdog
// against watches that stay open but deliver nothing.
//
// Every (re)start and every periodic relist is a new "generation": the previous ListWatch is
// stopped first, and anything it still delivers afterwards (a list answered late, an event
// already in flight, a reconnect it had scheduled) is ignored. So a relist can never be
// overtaken by an older watch event (which would resurrect a deleted object), and nothing
// keeps talking to the API server after stop().
//
// client-node's watch handler is async and reads `object.metadata` unguarded: one malformed
// event line would become an unhandled rejection, which ends a Node 24 process. Events are
// therefore checked before client-node sees them.
//
// Objects are cached without metadata.managedFields and kubectl's last-applied annotation
// (controller-runtime's TransformStripManagedFields does the same): chaingate reads neither,
// and for objects written by several managers they outweigh the spec.
import { ListWatch, Watch, type KubeConfig, type KubernetesObject, type KubernetesListObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isRecord } from '../model/parse.ts';
import { nextBackoff } from '../runtime/backoff.ts';
import { stripBookkeeping } from './bookkeeping.ts';
import type { KcmClient, KcmResource } from './client.ts';
import type { KubeList } from './list-page.ts';

export interface InformerEvents {
  /** Called for add and update; must not throw (client-node swallows callback errors). */
  upsert(object: Record<string, unknown>): void;
  remove(object: Record<string, unknown>): void;
  /** Called after every successful (re)list with the full content. */
  relisted?(objects: Array<Record<string, unknown>>): void;
  /**
   * Called for each item of a (re)list as it arrives, before `relisted`: work done here overlaps
   * the rest of the list's transfer instead of following its last byte. A list that fails part
   * way has called it for some items; `relisted` is called only for a complete one.
   */
  listedItem?(object: Record<string, unknown>): void;
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
  /**
   * The store keeps its own parsed copy of what it reads (the chain registry does): client-node's
   * cache then keeps only each object's apiVersion, kind and metadata, which are all its relist
   * diff and its delete events read. Otherwise 10,000 chains were held twice, once as raw JSON.
   */
  cacheMetadataOnly?: boolean;
}

type Item = KubeList['items'][number];

/** An object client-node can key: metadata is an object with a non-empty name. */
function isKeyable(value: unknown): value is Item {
  if (!isRecord(value) || !isRecord(value.metadata)) return false;
  const { name, namespace } = value.metadata;
  return typeof name === 'string' && name !== '' && (namespace === undefined || typeof namespace === 'string');
}

/** Why a watch event must not reach client-node, or undefined when it is safe. */
function malformedEvent(phase: unknown, object: unknown): string | undefined {
  switch (phase) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED':
      return isKeyable(object) ? undefined : 'object has no metadata.name';
    case 'BOOKMARK':
      return isRecord(object) && isRecord(object.metadata) ? undefined : 'bookmark has no metadata';
    case 'ERROR':
      return isRecord(object) ? undefined : 'error event has no status object';
    default:
      return `unknown event type ${JSON.stringify(phase)?.slice(0, 40)}`;
  }
}

/** Drops, in place, everything client-node's cache does not read (see cacheMetadataOnly). */
export function keepOnlyMetadata(object: Record<string, unknown>): void {
  for (const key of Object.keys(object)) {
    if (key !== 'apiVersion' && key !== 'kind' && key !== 'metadata') delete object[key];
  }
}

class SupersededError extends Error {
  override name = 'SupersededError';
}

/** A Watch that checks events, and that will not connect for a stopped or superseded generation. */
class GuardedWatch extends Watch {
  private readonly live: () => boolean;
  private readonly logger: Logger;
  private readonly onConnected: () => void;

  constructor(kc: KubeConfig, live: () => boolean, logger: Logger, onConnected: () => void) {
    super(kc);
    this.live = live;
    this.logger = logger;
    this.onConnected = onConnected;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    // Never resolved: client-node's reconnect loop for a dead generation just ends here.
    if (!this.live()) return new AbortController();
    let failed = false;
    const checked = (phase: string, object: unknown, watchObject?: unknown): void => {
      if (!this.live()) return;
      const problem = malformedEvent(phase, object);
      if (problem) {
        this.logger.warn({ path, problem }, 'ignoring a malformed watch event');
        return;
      }
      const fail = (err: unknown) => this.logger.error({ path, err: (err as Error)?.message ?? String(err) }, 'watch event handling failed');
      const cached = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? stripBookkeeping(object as Item) : object;
      try {
        const result = (callback as (...args: unknown[]) => unknown)(phase, cached, watchObject);
        if (result instanceof Promise) result.catch(fail);
      } catch (err) {
        fail(err);
      }
    };
    const request = await super.watch(path, queryParams, checked, (err: unknown) => {
      if (err) failed = true;
      done(err);
    });
    if (!this.live()) request.abort(); // stopped while connecting
    else if (!failed) this.onConnected();
    return request;
  }
}

export class ResilientInformer {
  private readonly options: ResilientInformerOptions;
  private stopped = true;
  private synced = false;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  /** Timers of client-node's reconnect delays, cleared on stop. */
  private readonly delays = new Set<NodeJS.Timeout>();
  private generation = 0;
  private current: ListWatch<KubernetesObject> | undefined;
  /** A list of the current generation is in flight: a periodic relist would only supersede it. */
  private listing = false;
  /** When the last list or watch event arrived: the staleness of what we know. */
  lastContact = 0;

  constructor(options: ResilientInformerOptions) {
    this.options = options;
    this.backoffMs = this.initialBackoff;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Lists and starts watching; resolves after the first attempt, successful or not (see hasSynced). */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    const resyncMs = this.options.resyncMs ?? 5 * 60_000;
    this.resyncTimer = setInterval(() => void this.relist(), resyncMs);
    this.resyncTimer.unref();
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++; // whatever is still in flight belongs to a dead generation now
    clearTimeout(this.restartTimer);
    clearInterval(this.resyncTimer);
    for (const timer of this.delays) clearTimeout(timer);
    this.delays.clear();
    const current = this.current;
    this.current = undefined;
    await current?.stop();
  }

  /** A full list and a fresh watch: catches anything a silently stalled watch missed. */
  async relist(): Promise<void> {
    if (!this.listing) await this.reconnect();
  }

  /** A new list and watch now, even while a list is in flight: the resource's path has changed. */
  async reconnect(): Promise<void> {
    if (this.stopped) return;
    await this.connect();
  }

  private get initialBackoff(): number {
    return this.options.backoff?.initialMs ?? 500;
  }

  /** Replaces the current ListWatch by a new generation: list, then watch from the list's version. */
  private async connect(): Promise<void> {
    const generation = ++this.generation;
    const live = () => !this.stopped && generation === this.generation;
    clearTimeout(this.restartTimer);
    const previous = this.current;
    this.current = undefined;
    await previous?.stop();
    if (!live()) return;

    const { client, resource, namespace, events, logger } = this.options;
    const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      this.listing = true;
      let result: KubeList;
      try {
        result = await client.list(resource, namespace, undefined, true, events.listedItem ? (item) => {
          if (!live()) return;
          try {
            events.listedItem!(item);
          } catch (err) {
            logger.error({ resource: resource.plural, err: (err as Error).message }, 'listed item handler failed');
          }
        } : undefined);
      } finally {
        if (generation === this.generation) this.listing = false;
      }
      if (!live()) throw new SupersededError('list answered after its informer was stopped or replaced');
      const items = this.markSynced(result);
      return { ...result, items } as KubernetesListObject<KubernetesObject>;
    };
    const watch = new GuardedWatch(client.kc, live, logger, () => {
      this.backoffMs = this.initialBackoff; // connected: the next failure is retried quickly again
    });
    const informer = new ListWatch<KubernetesObject>(client.path(resource, namespace), watch, list, false, undefined, undefined, {
      delayFn: (ms) => this.delay(ms),
    });
    const guarded = (what: string, fn: (object: Record<string, unknown>) => void) => (object: KubernetesObject) => {
      if (!live()) return;
      this.lastContact = Date.now();
      this.backoffMs = this.initialBackoff;
      try {
        fn(object as unknown as Record<string, unknown>);
      } catch (err) {
        logger.error({ resource: resource.plural, err: (err as Error).message }, `${what} handler failed`);
      }
    };
    // Called after the store has read the object: the reference is the one client-node caches.
    const upsert = this.options.cacheMetadataOnly
      ? (o: Record<string, unknown>) => {
          events.upsert(o);
          keepOnlyMetadata(o);
        }
      : (o: Record<string, unknown>) => events.upsert(o);
    informer.on('add', guarded('add', upsert));
    informer.on('update', guarded('update', upsert));
    informer.on('delete', guarded('delete', (o) => events.remove(o)));
    informer.on('error', (err: unknown) => {
      if (live()) this.scheduleRestart(err);
    });
    this.current = informer;
    try {
      await informer.start();
    } catch (err) {
      // e.g. credentials that cannot be loaded: client-node throws instead of emitting `error`
      if (live()) this.scheduleRestart(err);
    }
  }

  /** Stands in for client-node's reconnect delay: does not hold the process open, and is cancelled by stop(). */
  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.delays.delete(timer);
        resolve();
      }, ms);
      timer.unref();
      this.delays.add(timer);
    });
  }

  /** Records a successful list; returns the items client-node can safely cache. */
  private markSynced(result: KubeList): Item[] {
    if (!Array.isArray(result?.items)) throw new Error(`list ${this.options.resource.plural}: response has no items`);
    this.lastContact = Date.now();
    // Listed items arrive stripped already (client.list); watch events are stripped in GuardedWatch.
    const items = result.items.filter(isKeyable);
    if (items.length !== result.items.length) {
      this.options.logger.warn({ resource: this.options.resource.plural, ignored: result.items.length - items.length }, 'ignoring listed objects without metadata.name');
    }
    try {
      this.options.events.relisted?.(items);
    } catch (err) {
      this.options.logger.error({ err: (err as Error).message }, 'relist handler failed');
    }
    if (!this.synced) this.options.logger.info({ resource: this.options.resource.plural, namespace: this.options.namespace ?? '*', count: items.length }, 'initial list synced');
    this.synced = true;
    return items;
  }

  private scheduleRestart(err: unknown): void {
    if (this.stopped) return;
    const delay = this.backoffMs;
    this.backoffMs = nextBackoff(this.backoffMs, this.options.backoff?.maxMs ?? 30_000);
    this.options.logger.warn(
      { resource: this.options.resource.plural, err: (err as Error)?.message ?? String(err), retryInMs: delay },
      'watch failed; restarting',
    );
    this.options.onRestart?.();
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => void this.connect(), delay);
    this.restartTimer.unref();
  }
}
