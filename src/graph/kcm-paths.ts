// kcm's own search for upgrade paths (TemplateChainSpec.UpgradePaths, kcm v1.6-v1.12), which
// its sequential walk starts from. Reproduced in behaviour, not in code: a depth-first search
// over the chain's entries in the order the chain lists them, that never expands a template
// twice on one path and never repeats an entry (same name and version) on it, recording every
// prefix it walks; per destination it keeps the first longest path it found. kcm then sets each
// entry's empty version to its name and sorts a path's entries by version string; the walk only
// reads which entries are on a path, so paths here keep the order of their edges.
//
// The search enumerates simple paths, which grows exponentially on densely connected chains
// (kcm's own controller then spends minutes in it). A budget bounds chaingate's copy: past it
// the chain is reported as too complex to predict instead of stalling an admission request.
import type { SupportedTemplate } from '../model/resources.ts';

/** One chain entry: an upgrade target with its version (the name when the entry has none). */
export interface ChainEntry {
  readonly name: string;
  readonly version: string;
  /** The entry's own `version` field ('' when absent), which kcm compares to tell entries apart. */
  readonly declaredVersion: string;
}

export interface KcmUpgradePath {
  destination: string;
  /** Entries in the order the path takes them. */
  entries: readonly ChainEntry[];
}

/** How many paths chaingate follows in one search before giving up, as kcm would not. */
export const KCM_PATH_SEARCH_BUDGET = 1_000_000;

export class PathSearchTooLargeError extends Error {
  override name = 'PathSearchTooLargeError';
}

export function entryOf(name: string, version: string | undefined): ChainEntry {
  const declared = version ?? '';
  return { name, version: declared === '' ? name : declared, declaredVersion: declared };
}

/**
 * kcm's upgrade paths from `from`, one per destination; undefined when `from` is not a
 * supported template (kcm's "template not found", which stops its whole reconcile).
 */
export function kcmUpgradePaths(
  supportedTemplates: readonly SupportedTemplate[],
  from: string,
  budget = KCM_PATH_SEARCH_BUDGET,
): KcmUpgradePath[] | undefined {
  // As kcm's map: a template listed twice is known by its last entry.
  const byName = new Map<string, ChainEntry[]>();
  for (const template of supportedTemplates) {
    byName.set(template.name, (template.availableUpgrades ?? []).map((u) => entryOf(u.name, u.version)));
  }
  if (!byName.has(from)) return undefined;

  const best = new Map<string, ChainEntry[]>();
  const order: string[] = [];
  const visited = new Set<string>();
  const path: ChainEntry[] = [];
  let followed = 0;

  const expand = (current: string): void => {
    if (visited.has(current)) return;
    const upgrades = byName.get(current);
    if (!upgrades) return;
    visited.add(current);
    for (const upgrade of upgrades) {
      if (path.some((e) => e.name === upgrade.name && e.declaredVersion === upgrade.declaredVersion)) continue;
      if (++followed > budget) {
        throw new PathSearchTooLargeError(`kcm's path search from ${from} follows more than ${budget.toLocaleString('en-US')} paths in this chain`);
      }
      path.push(upgrade);
      const kept = best.get(upgrade.name);
      if (!kept) order.push(upgrade.name);
      if (!kept || path.length > kept.length) best.set(upgrade.name, [...path]);
      expand(upgrade.name);
      path.pop();
    }
    visited.delete(current);
  };
  expand(from);
  return order.map((destination) => ({ destination, entries: best.get(destination)! }));
}
