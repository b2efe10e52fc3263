// Kubernetes Events on the objects whose services cannot get upgrade paths. Each distinct
// (object, reason, message) is reported once per process, so a periodic resync does not
// flood the namespace with copies.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { withTimeout, CALL_TIMEOUT_MS } from '../kube/client.ts';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

const MEMORY = 10_000;

export class EventRecorder {
  private readonly api: CoreV1Api;
  private readonly logger: Logger;
  private readonly instance: string;
  private readonly seen = new Map<string, true>();

  constructor(kc: KubeConfig, logger: Logger, instance: string) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.logger = logger;
    this.instance = instance;
  }

  warn(object: InvolvedObject, reason: string, message: string): Promise<void> {
    return this.record(object, 'Warning', reason, message);
  }

  async record(object: InvolvedObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const key = `${object.uid ?? `${object.namespace}/${object.name}`}|${reason}|${message}`;
    if (this.seen.has(key)) return;
    if (this.seen.size >= MEMORY) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, true);
    // Cluster-scoped objects (MultiClusterService) get their events in "default", as kubectl expects.
    const namespace = object.namespace || 'default';
    const now = new Date();
    try {
      await withTimeout(
        this.api.createNamespacedEvent({
          namespace,
          body: {
            metadata: { generateName: `${object.name}.`, namespace },
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
      this.seen.delete(key); // try again on the next reconcile
      this.logger.warn({ object: `${object.namespace ?? ''}/${object.name}`, reason, err: (err as Error).message }, 'could not record event');
    }
  }
}
