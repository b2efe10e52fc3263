// Kubernetes Events on the objects whose services cannot get upgrade paths, at most once per
// object and reason. The Event's name is derived from the object's uid and the reason, so the
// API server itself remembers what was reported: a new leader, or a restarted replica, gets
// 409 AlreadyExists instead of repeating every Event of the cluster in a burst.
import { createHash } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { statusCode } from '../kube/errors.ts';
import { withTimeout, CALL_TIMEOUT_MS } from '../kube/timeouts.ts';

/** A name of at most 253 characters, the same for the same object and reason. */
export function eventName(object: InvolvedObject, reason: string): string {
  const digest = createHash('sha256').update(`${object.uid ?? `${object.namespace ?? ''}/${object.name}`}|${reason}`).digest('hex').slice(0, 16);
  return `${object.name.slice(0, 200)}.chaingate-${digest}`;
}

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

/**
 * Object-and-reason pairs remembered as reported. It must exceed the objects that can have a
 * problem at once: past it the oldest pair is forgotten, and every reconcile of that object
 * sends its Event again only to get 409 from the API server, outside the write budget (at
 * 10,000, a 50,000-object run with a missing chain made tens of thousands of such calls,
 * BENCHMARKS.md section 9). An entry is a uid and a reason, about 100 bytes with the Map's own
 * cost: 200,000 of them are about 20 MiB, the most this can hold.
 */
export const EVENT_MEMORY = 200_000;

/** The one Event call the recorder makes (tests pass an in-memory one). */
export type EventApi = Pick<CoreV1Api, 'createNamespacedEvent'>;

export class EventRecorder {
  private readonly api: EventApi;
  private readonly logger: Logger;
  private readonly instance: string;
  private readonly seen = new Map<string, true>();

  constructor(kc: KubeConfig, logger: Logger, instance: string, api?: EventApi) {
    this.api = api ?? kc.makeApiClient(CoreV1Api);
    this.logger = logger;
    this.instance = instance;
  }

  warn(object: InvolvedObject, reason: string, message: string): Promise<void> {
    return this.record(object, 'Warning', reason, message);
  }

  async record(object: InvolvedObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const key = `${object.uid ?? `${object.namespace}/${object.name}`}|${reason}`;
    if (this.seen.has(key)) return;
    if (this.seen.size >= EVENT_MEMORY) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, true);
    // Cluster-scoped objects (MultiClusterService) get their events in "default", as kubectl expects.
    const namespace = object.namespace || 'default';
    const now = new Date();
    try {
      await withTimeout(
        this.api.createNamespacedEvent({
          namespace,
          body: {
            metadata: { name: eventName(object, reason), namespace },
            involvedObject: { apiVersion: object.apiVersion, kind: object.kind, name: object.name, namespace: object.namespace, uid: object.uid },
            reason,
            message: message.slice(0, 1024),
            type,
            source: { component: 'chaingate' },
            reportingComponent: 'chaingate',
            reportingInstance: this.instance,
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        }),
        CALL_TIMEOUT_MS,
        'create event',
      );
    } catch (err) {
      if (statusCode(err) === 409) return; // reported before, by this replica or another
      this.seen.delete(key); // try again on the next reconcile
      this.logger.warn({ object: `${object.namespace ?? ''}/${object.name}`, reason, err: (err as Error).message }, 'could not record event');
    }
  }
}
