// Every cache chaingate keeps from a watch is written the same way: an object upserted or
// removed per event, and the whole content replaced after every (re)list. One adapter, so
// that the three caches cannot drift apart in how they read an event.
import { metaOf } from '../model/meta.ts';
import type { InformerEvents } from './resilient-informer.ts';

/** A cache of one namespaced resource, as TemplateVersions and DeployedServices are. */
export interface InformerStore {
  set(object: unknown): unknown;
  delete(namespace: string, name: string): unknown;
  /** `namespace`: the scope the list covered; undefined for all namespaces. */
  replaceAll(objects: unknown[], namespace?: string): void;
  /**
   * Set each listed object as it arrives (replaceAll then finds it already there). For a store
   * whose set() is costly and idempotent for one resourceVersion, as the chain registry's is.
   */
  setWhileListing?: boolean;
}

/** The informer events that keep `store` equal to what the API server holds in `namespace`. */
export function eventsInto(store: InformerStore, namespace: string | undefined): InformerEvents {
  return {
    upsert: (object) => void store.set(object),
    remove: (object) => {
      const meta = metaOf(object);
      if (meta.name && meta.namespace) store.delete(meta.namespace, meta.name);
    },
    relisted: (items) => store.replaceAll(items, namespace),
    ...(store.setWhileListing ? { listedItem: (object: Record<string, unknown>) => void store.set(object) } : {}),
  };
}
