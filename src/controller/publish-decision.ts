// The one decision of every reconcile: where the upgrade paths go (the status field or
// chaingate's annotation), and whether they need writing at all. Kept apart from the
// controller's watches and queue so that the rule can be read, and tested, on its own.
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../model/parse.ts';
import { metaOf } from '../model/meta.ts';
import type { ServiceUpgradePaths } from '../rules/published-paths.ts';
import { UPGRADE_PATHS_ANNOTATION, type StatusWriter } from '../rules/status-writer.ts';

/** chaingate's field manager name (client.ts sends it on every write). */
export const FIELD_MANAGER = 'chaingate';

export type PublishTarget = 'status' | 'annotation';

/** A write whose result the watch has not delivered yet. */
export interface PendingWrite {
  target: PublishTarget;
  value: string;
  /** resourceVersion of the written object, from the API server's answer. */
  written: string | undefined;
  /** After this (ms since epoch), the write no longer counts as in flight: a relist may skip it. */
  until: number;
}

export type PublishDecision =
  /** The writer is off: nothing is written or counted. */
  | { action: 'none' }
  /** The target already holds the value, or our write of it is still on its way. */
  | { action: 'skip'; target: PublishTarget }
  | { action: 'write'; target: PublishTarget; value: string };

export interface PublishInput {
  writer: StatusWriter;
  /** The object as cached. */
  object: Record<string, unknown>;
  /** Field managers owning status.servicesUpgradePaths (the cache keeps them in metadata). */
  owners: unknown;
  paths: ServiceUpgradePaths[];
  /** Our last write to this object that the watch has not shown yet. */
  pending: PendingWrite | undefined;
  /**
   * Under `auto`: chaingate has yielded this object's field before (another writer undid its
   * status write, or the object already carries chaingate's annotation). A writer that clears
   * the field (kcm, for a service whose chain it cannot read) leaves no owner behind, so
   * ownership alone would hand the field back and start the fight again.
   */
  yielded?: boolean;
  now: number;
}

export function publishDecision({ writer, object, owners, paths, pending, yielded = false, now }: PublishInput): PublishDecision {
  if (writer === 'off') return { action: 'none' };
  const someoneElse = Array.isArray(owners) && owners.some((owner) => owner !== FIELD_MANAGER);
  const target: PublishTarget = writer === 'status' || (writer === 'auto' && !someoneElse && !yielded) ? 'status' : 'annotation';
  const value = JSON.stringify(paths);
  // A reconcile can run on a cached object from before our own write reached the cache: the
  // same version, or a newer one another writer made meanwhile (kcm's status update racing
  // our patch). Until the watch shows our write's result, the value is in flight, not missing.
  const inFlight = pending !== undefined && pending.target === target && pending.value === value && now < pending.until;
  const current =
    target === 'status'
      ? samePaths(isRecord(object.status) ? object.status.servicesUpgradePaths : undefined, paths)
      : metaOf(object).annotations?.[UPGRADE_PATHS_ANNOTATION] === value;
  return current || inFlight ? { action: 'skip', target } : { action: 'write', target, value };
}

/**
 * Whether another writer has undone chaingate's status write: chaingate wrote the field (and
 * the watch has shown that write), and now it owns it no longer: replaced or cleared.
 */
export function statusWriteUndone(input: { wroteStatus: boolean; owners: unknown; pending: PendingWrite | undefined; now: number }): boolean {
  if (!input.wroteStatus) return false;
  if (input.pending !== undefined && input.pending.target === 'status' && input.now < input.pending.until) return false;
  return !(Array.isArray(input.owners) && input.owners.includes(FIELD_MANAGER));
}

/** An absent list and an empty one mean the same to a reader. */
function samePaths(current: unknown, desired: ServiceUpgradePaths[]): boolean {
  if (current === undefined || current === null) return desired.length === 0;
  return isDeepStrictEqual(current, desired);
}
