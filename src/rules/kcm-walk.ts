// What kcm's controller (v1.6-v1.12, internal/serviceset) deploys, step by step, when a
// service's desired version changes: the rule SPEC calls "sequential upgrade". Each reconcile
// takes kcm's upgrade paths from the template deployed now, keeps those that contain the
// desired version, and deploys the entry with the smallest semver version above the deployed
// one and at most the desired one. When versions are not semver, when the desired version is
// on no path, or when nothing qualifies, kcm deploys the desired template directly: a jump.
import type { ChainEntry, KcmUpgradePath, PathCell } from '../graph/kcm-paths.ts';
import { compareNames } from '../graph/chain-graph.ts';
import { compareSemVer, parseSemVer, type SemVer } from '../model/semver.ts';
import type { DeployedState } from '../model/deployments.ts';

export type { DeployedState };

export interface WalkStep extends DeployedState {
  /** `step`: an entry on kcm's paths; `jump`: the desired template deployed directly. */
  kind: 'step' | 'jump';
  /** Why kcm jumps, in words for a denial message. */
  why?: string;
}

export type WalkResult = { steps: WalkStep[] } | { problem: string };

/** kcm compares version strings with Go's `<` in one place (a downgrade test): byte order. */
function goStringLess(a: string, b: string): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) < 0;
}

/** What one step of the walk needs to know of a path, aggregated from its first entry to a cell. */
interface PathFacts {
  /** An entry's version text equals the desired version (kcm's desiredVersionInUpgradePaths). */
  hasDesiredText: boolean;
  /** An entry's version is semver-equal to the desired one (kcm's minimumUpgradeStep filter). */
  hasDesiredVersion: boolean;
  /** The smallest semver entry in (current, desired], ties broken by name then version text. */
  best: ChainEntry | undefined;
  bestVersion: SemVer | undefined;
}

function better(entry: ChainEntry, version: SemVer, best: ChainEntry | undefined, bestVersion: SemVer | undefined): boolean {
  if (!best || !bestVersion) return true;
  const order = compareSemVer(version, bestVersion);
  return order < 0 || (order === 0 && (compareNames(entry.name, best.name) || compareNames(entry.version, best.version)) < 0);
}

/**
 * Facts of every path in one pass: paths share their beginnings (PathCell), so each cell is
 * looked at once per step however many paths run through it.
 */
class PathFactsMemo {
  private readonly memo = new Map<PathCell, PathFacts>();
  private readonly current: SemVer | undefined;
  private readonly desired: SemVer | undefined;
  private readonly desiredText: string;

  constructor(current: SemVer | undefined, desired: SemVer | undefined, desiredText: string) {
    this.current = current;
    this.desired = desired;
    this.desiredText = desiredText;
  }

  of(last: PathCell): PathFacts {
    const pending: PathCell[] = [];
    let cell: PathCell | undefined = last;
    while (cell && !this.memo.has(cell)) {
      pending.push(cell);
      cell = cell.previous;
    }
    let facts: PathFacts = cell ? this.memo.get(cell)! : { hasDesiredText: false, hasDesiredVersion: false, best: undefined, bestVersion: undefined };
    for (let i = pending.length - 1; i >= 0; i--) {
      const { entry } = pending[i]!;
      const version = parseSemVer(entry.version);
      const next = { ...facts };
      if (entry.version === this.desiredText) next.hasDesiredText = true;
      if (version && this.desired) {
        if (compareSemVer(version, this.desired) === 0) next.hasDesiredVersion = true;
        if (this.current && compareSemVer(version, this.current) > 0 && compareSemVer(version, this.desired) <= 0 && better(entry, version, facts.best, facts.bestVersion)) {
          next.best = entry;
          next.bestVersion = version;
        }
      }
      this.memo.set(pending[i]!, next);
      facts = next;
    }
    return facts;
  }
}

/**
 * The smallest semver entry in (current, desired] on the paths that contain the desired
 * version. kcm keeps the first of equal versions in Go map order (random); chaingate breaks
 * the tie by template name, then version text, so that its answer is stable.
 */
function minimumStep(paths: readonly KcmUpgradePath[], facts: PathFactsMemo): ChainEntry | undefined {
  let best: ChainEntry | undefined;
  let bestVersion: SemVer | undefined;
  for (const path of paths) {
    const f = facts.of(path.last);
    if (!f.hasDesiredVersion || !f.best || !f.bestVersion) continue;
    if (better(f.best, f.bestVersion, best, bestVersion)) {
      best = f.best;
      bestVersion = f.bestVersion;
    }
  }
  return best;
}

/** Why kcm's step rule finds nothing and kcm deploys the target directly. */
function jumpReason(desiredOnPaths: boolean, from: DeployedState, target: DeployedState): string {
  if (!parseSemVer(from.version)) return `the deployed version ${from.version} is not a semantic version`;
  if (!parseSemVer(target.version)) return `the desired version ${target.version} is not a semantic version`;
  if (!desiredOnPaths) return `no upgrade path from ${from.template} contains version ${target.version}`;
  return `no entry on the paths to ${target.version} has a semantic version between ${from.version} and ${target.version}`;
}

/**
 * kcm's walk from `from` to `target`, one reconcile per step, each step assumed deployed before
 * the next (kcm waits for that). `pathsFrom` answers kcm's upgrade paths from a template, or
 * undefined when the chain does not support it (kcm then stops reconciling the object).
 */
export function simulateKcmWalk(
  pathsFrom: (template: string) => readonly KcmUpgradePath[] | undefined,
  from: DeployedState,
  target: DeployedState,
  workBudget = KCM_WALK_WORK_BUDGET,
): WalkResult {
  const steps: WalkStep[] = [];
  let current = from;
  let work = 0;
  // Each step raises the semver version and a jump lands on the target, so the walk is short;
  // the bound only guards against a bug turning into a hung request.
  for (let guard = 0; guard < 100_000; guard++) {
    // At the target kcm stays: nothing lies in (desired, desired], and a jump lands where it is.
    if (current.template === target.template && current.version === target.version) return { steps };
    const paths = pathsFrom(current.template);
    if (!paths) return { problem: `kcm stops: the chain does not list ${current.template}, so kcm cannot compute its upgrade paths` };
    // Every step re-reads the paths from where it stands: a walk across a very long chain costs
    // the square of its length, more than an admission request can wait for.
    work += paths.length;
    if (work > workBudget) {
      return { problem: `kcm's walk to ${target.version} is longer than chaingate follows (over ${steps.length} steps, ${workBudget.toLocaleString('en-US')} paths read), so chaingate cannot predict it; upgrade in smaller steps` };
    }
    const facts = new PathFactsMemo(parseSemVer(current.version), parseSemVer(target.version), target.version);
    const desiredOnPaths = paths.some((p) => facts.of(p.last).hasDesiredText);
    const upgradeAvailable = goStringLess(target.version, current.version) || desiredOnPaths;
    let next: WalkStep;
    const entry = upgradeAvailable ? minimumStep(paths, facts) : undefined;
    if (entry) next = { template: entry.name, version: entry.version, kind: 'step' };
    else next = { ...target, kind: 'jump', why: jumpReason(desiredOnPaths, current, target) };
    if (next.template === current.template && next.version === current.version) return { steps };
    steps.push(next);
    current = next;
  }
  return { problem: 'kcm walk did not settle' };
}

/** How many upgrade paths one walk may read, over all its steps, before chaingate gives up. */
export const KCM_WALK_WORK_BUDGET = 200_000;

/** Walks remembered per chain: an upgrade wave asks the same walk of many objects. */
const WALK_MEMO = 256;
const walkMemo = new WeakMap<object, Map<string, WalkResult>>();

/**
 * simulateKcmWalk over one chain, remembered per (deployed state, target): chains are
 * immutable, so a replaced chain is a new object and its walks are forgotten with it.
 */
export function memoisedKcmWalk(
  chain: { kcmPaths(template: string): readonly KcmUpgradePath[] | undefined },
  from: DeployedState,
  target: DeployedState,
): WalkResult {
  let memo = walkMemo.get(chain);
  if (!memo) walkMemo.set(chain, (memo = new Map()));
  const key = `${from.template}\u0000${from.version}\u0000${target.template}\u0000${target.version}`;
  const known = memo.get(key);
  if (known) return known;
  const result = simulateKcmWalk((t) => chain.kcmPaths(t), from, target);
  if (memo.size >= WALK_MEMO) memo.delete(memo.keys().next().value!);
  memo.set(key, result);
  return result;
}
