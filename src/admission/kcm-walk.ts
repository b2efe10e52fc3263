// What kcm's controller (v1.6-v1.12, internal/serviceset) deploys, step by step, when a
// service's desired version changes: the rule SPEC calls "sequential upgrade". Each reconcile
// takes kcm's upgrade paths from the template deployed now, keeps those that contain the
// desired version, and deploys the entry with the smallest semver version above the deployed
// one and at most the desired one. When versions are not semver, when the desired version is
// on no path, or when nothing qualifies, kcm deploys the desired template directly: a jump.
import type { ChainEntry, KcmUpgradePath } from '../graph/kcm-paths.ts';
import { compareNames } from '../graph/chain-graph.ts';
import { compareSemVer, parseSemVer, type SemVer } from '../model/semver.ts';

export interface DeployedState {
  template: string;
  version: string;
}

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

/**
 * The smallest semver entry in (current, desired] on the paths that contain the desired
 * version. kcm keeps the first of equal versions in Go map order (random); chaingate breaks
 * the tie by template name, then version text, so that its answer is stable.
 */
function minimumStep(paths: readonly KcmUpgradePath[], current: SemVer, desired: SemVer): ChainEntry | undefined {
  let best: ChainEntry | undefined;
  let bestVersion: SemVer | undefined;
  for (const path of paths) {
    if (!path.entries.some((e) => { const v = parseSemVer(e.version); return v !== undefined && compareSemVer(v, desired) === 0; })) continue;
    for (const entry of path.entries) {
      const v = parseSemVer(entry.version);
      if (!v || compareSemVer(v, current) <= 0 || compareSemVer(v, desired) > 0) continue;
      const order = bestVersion ? compareSemVer(v, bestVersion) : -1;
      if (order < 0 || (order === 0 && best && (compareNames(entry.name, best.name) || compareNames(entry.version, best.version)) < 0)) {
        best = entry;
        bestVersion = v;
      }
    }
  }
  return best;
}

/** Why kcm's step rule finds nothing and kcm deploys the target directly. */
function jumpReason(paths: readonly KcmUpgradePath[], from: DeployedState, target: DeployedState): string {
  if (!parseSemVer(from.version)) return `the deployed version ${from.version} is not a semantic version`;
  if (!parseSemVer(target.version)) return `the desired version ${target.version} is not a semantic version`;
  if (!paths.some((p) => p.entries.some((e) => e.version === target.version))) {
    return `no upgrade path from ${from.template} contains version ${target.version}`;
  }
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
): WalkResult {
  const steps: WalkStep[] = [];
  let current = from;
  // Each step raises the semver version and a jump lands on the target, so the walk is short;
  // the bound only guards against a bug turning into a hung request.
  for (let guard = 0; guard < 100_000; guard++) {
    const paths = pathsFrom(current.template);
    if (!paths) return { problem: `kcm stops: the chain does not list ${current.template}, so kcm cannot compute its upgrade paths` };
    const desiredOnPaths = paths.some((p) => p.entries.some((e) => e.version === target.version));
    const upgradeAvailable = goStringLess(target.version, current.version) || desiredOnPaths;
    let next: WalkStep;
    const currentVersion = parseSemVer(current.version);
    const desiredVersion = parseSemVer(target.version);
    const entry = upgradeAvailable && currentVersion && desiredVersion ? minimumStep(paths, currentVersion, desiredVersion) : undefined;
    if (entry) next = { template: entry.name, version: entry.version, kind: 'step' };
    else next = { ...target, kind: 'jump', why: jumpReason(paths, current, target) };
    if (next.template === current.template && next.version === current.version) return { steps };
    steps.push(next);
    current = next;
  }
  return { problem: 'kcm walk did not settle' };
}
