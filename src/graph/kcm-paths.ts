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

/**
 * One step of a path, linked to the path before it. Paths that share a beginning share its
 * cells, so recording a path costs one cell, not a copy: on a 1,000-template chain the paths
 * from its first template total half a million steps but only a thousand cells.
 */
export interface PathCell {
  readonly entry: ChainEntry;
  readonly previous: PathCell | undefined;
  readonly length: number;
}

export interface KcmUpgradePath {
  destination: string;
  /** The path's last step; follow `previous` back to its first. */
  last: PathCell;
}

/** A path's entries in the order the path takes them. */
export function pathEntries(path: KcmUpgradePath): ChainEntry[] {
  const entries: ChainEntry[] = new Array(path.last.length);
  for (let cell: PathCell | undefined = path.last; cell; cell = cell.previous) entries[cell.length - 1] = cell.entry;
  return entries;
}

/** How many paths chaingate follows in one search before giving up, as kcm would not. */
export const KCM_PATH_SEARCH_BUDGET = 200_000;

export class PathSearchTooLargeError extends Error {
  override name = 'PathSearchTooLargeError';
}

export function entryOf(name: string, version: string | undefined): ChainEntry {
  const declared = version ?? '';
  return { name, version: declared === '' ? name : declared, declaredVersion: declared };
}

/** One upgrade of a template, with the integers the search works on. */
interface IndexedEntry {
  entry: ChainEntry;
  /** The entry's identity for kcm's "not twice on one path" check: name and declared version. */
  id: number;
  /** The target template's index (every name gets one, listed or not). */
  target: number;
}

/**
 * A chain's entries indexed for kcm's search: built once per chain, searched from any template.
 * Names and entries are numbered so that the search marks arrays, not string sets: on a
 * 1,000-template chain that made a search from its first template about 3x faster.
 */
export class KcmPathSearch {
  private readonly index = new Map<string, number>();
  private readonly names: string[] = [];
  /** Per template index: its upgrades when it is a supported template (as kcm's map, the last listing wins). */
  private readonly upgrades: Array<IndexedEntry[] | undefined> = [];
  private entryIds = 0;
  private readonly budget: number;

  constructor(supportedTemplates: readonly SupportedTemplate[], budget = KCM_PATH_SEARCH_BUDGET) {
    this.budget = budget;
    const ids = new Map<string, number>();
    for (const template of supportedTemplates) {
      const list = (template.availableUpgrades ?? []).map((u) => {
        const entry = entryOf(u.name, u.version);
        const key = `${entry.name}\u0000${entry.declaredVersion}`;
        let id = ids.get(key);
        if (id === undefined) ids.set(key, (id = this.entryIds++));
        return { entry, id, target: this.indexOf(entry.name) };
      });
      this.upgrades[this.indexOf(template.name)] = list;
    }
  }

  private indexOf(name: string): number {
    let i = this.index.get(name);
    if (i === undefined) {
      i = this.names.length;
      this.index.set(name, i);
      this.names.push(name);
    }
    return i;
  }

  /**
   * kcm's upgrade paths from `from`, one per destination; undefined when `from` is not a
   * supported template (kcm's "template not found", which stops its whole reconcile).
   */
  from(from: string): KcmUpgradePath[] | undefined {
    const start = this.index.get(from);
    if (start === undefined || !this.upgrades[start]) return undefined;
    const { upgrades, budget } = this;
    const best: Array<PathCell | undefined> = new Array(this.names.length);
    const order: number[] = [];
    const visited = new Uint8Array(this.names.length);
    /** Entries on the current path, as kcm's slices.ContainsFunc checks. */
    const onPath = new Uint8Array(this.entryIds);
    let followed = 0;

    // kcm recurses; chaingate keeps the same depth-first order on an explicit stack, since a
    // chain can be deeper than the JavaScript call stack (a generated 10,000-release chain).
    interface Frame {
      node: number;
      /** The path that arrived at `node`. */
      path: PathCell | undefined;
      list: IndexedEntry[];
      next: number;
      /** The entry that arrived here (marked on the path until the frame is done), or -1. */
      via: number;
    }
    const stack: Frame[] = [];
    const enter = (node: number, path: PathCell | undefined, via: number): boolean => {
      const list = upgrades[node];
      if (visited[node] || !list) return false;
      visited[node] = 1;
      stack.push({ node, path, list, next: 0, via });
      return true;
    };
    enter(start, undefined, -1);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      if (frame.next >= frame.list.length) {
        stack.pop();
        visited[frame.node] = 0;
        if (frame.via >= 0) onPath[frame.via] = 0;
        continue;
      }
      const { entry, id, target } = frame.list[frame.next++]!;
      if (onPath[id]) continue;
      if (++followed > budget) {
        throw new PathSearchTooLargeError(`kcm's path search from ${from} follows more than ${budget.toLocaleString('en-US')} paths in this chain`);
      }
      const length = (frame.path?.length ?? 0) + 1;
      const cell: PathCell = { entry, previous: frame.path, length };
      const kept = best[target];
      if (!kept) order.push(target);
      if (!kept || length > kept.length) best[target] = cell;
      onPath[id] = 1;
      if (!enter(target, cell, id)) onPath[id] = 0;
    }
    return order.map((target) => ({ destination: this.names[target]!, last: best[target]! }));
  }
}

/** kcm's upgrade paths from `from` in a chain given by its supported templates (see KcmPathSearch). */
export function kcmUpgradePaths(
  supportedTemplates: readonly SupportedTemplate[],
  from: string,
  budget = KCM_PATH_SEARCH_BUDGET,
): KcmUpgradePath[] | undefined {
  return new KcmPathSearch(supportedTemplates, budget).from(from);
}
