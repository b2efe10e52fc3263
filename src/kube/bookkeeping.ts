// The bookkeeping in every object's metadata that nothing in chaingate reads: managedFields
// and kubectl's last-applied annotation. For objects written by several managers they
// outweigh the spec, so cached and listed objects go without them (controller-runtime's
// TransformStripManagedFields does the same), keeping only the one ownership fact chaingate
// needs.
import { isRecord } from '../model/parse.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** Where stripBookkeeping leaves the field managers of status.servicesUpgradePaths (never sent anywhere). */
export const UPGRADE_PATHS_OWNERS = 'chaingate/upgradePathsOwners';

/** Field managers owning status.servicesUpgradePaths, from metadata.managedFields. */
export function upgradePathsOwners(managedFields: unknown): string[] {
  if (!Array.isArray(managedFields)) return [];
  const owners: string[] = [];
  for (const entry of managedFields) {
    if (!isRecord(entry) || typeof entry.manager !== 'string') continue;
    const fields = isRecord(entry.fieldsV1) ? entry.fieldsV1 : undefined;
    const status = fields && isRecord(fields['f:status']) ? fields['f:status'] : undefined;
    if (status && Object.hasOwn(status, 'f:servicesUpgradePaths')) owners.push(entry.manager);
  }
  return owners;
}

/**
 * Whether the raw JSON of a `"managedFields":...` member holds nothing stripBookkeeping keeps,
 * so a list reader may leave it out unparsed: it names no f:servicesUpgradePaths, and has no
 * \u escape that could spell one.
 */
export function managedFieldsUnread(member: Buffer): boolean {
  return member.indexOf('f:servicesUpgradePaths') === -1 && member.indexOf('\\u') === -1;
}

/** The object without the bookkeeping nothing in chaingate reads; the object itself when it has none. */
export function stripBookkeeping<T extends { metadata?: unknown }>(object: T): T {
  const meta = object.metadata;
  if (!isRecord(meta)) return object;
  const annotations = isRecord(meta.annotations) ? meta.annotations : undefined;
  const lastApplied = annotations !== undefined && Object.hasOwn(annotations, LAST_APPLIED);
  if (meta.managedFields === undefined && !lastApplied) return object;
  const { managedFields, ...metadata } = meta;
  // The one ownership fact chaingate reads: who owns status.servicesUpgradePaths (one writer
  // per field). Kept as bare manager names, so the cache stays as lean as without them.
  const owners = upgradePathsOwners(managedFields);
  if (owners.length > 0) metadata[UPGRADE_PATHS_OWNERS] = owners;
  if (lastApplied) {
    const { [LAST_APPLIED]: _lastApplied, ...rest } = annotations;
    metadata.annotations = rest;
  }
  return { ...object, metadata };
}
