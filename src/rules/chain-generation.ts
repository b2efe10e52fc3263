// `chaingate chain generate`: a ServiceTemplateChain computed from the ServiceTemplates of one
// Helm chart, under one of three graph modes borrowed from Operator Lifecycle Manager
// (`opm registry add --mode`): `semver`, `semver-skippatch` and `replaces`. Pure: the CLI reads
// the templates (files or the cluster) and prints what this returns.
//
// Every entry carries its target's version, so kcm v1.6+ can walk the chain step by step, and
// every edge raises the version, so kcm's walk (smallest version above the deployed one on the
// paths to the target) always lands on a declared edge: the `sequential` policy admits any
// target along the chain. The property tests check both, and kcm's own IsValid.
import { isRecord } from '../model/parse.ts';
import { compareSemVer, parseSemVer, type SemVer } from '../model/semver.ts';
import type { AvailableUpgrade, ServiceTemplateChain, SupportedTemplate } from '../model/resources.ts';
import { KCM_PATH_SEARCH_BUDGET } from '../graph/kcm-paths.ts';

/** On a ServiceTemplate: the template it upgrades from (OLM's `spec.replaces`). */
export const REPLACES_ANNOTATION = 'chaingate.k0rdent.mirantis.com/replaces';
/** On a ServiceTemplate: more templates it upgrades from directly, comma-separated (OLM's `spec.skips`). */
export const SKIPS_ANNOTATION = 'chaingate.k0rdent.mirantis.com/skips';
/** On a ServiceTemplate: its chart name, for templates whose spec names none (chartRef, chartSource). */
export const CHART_ANNOTATION = 'chaingate.k0rdent.mirantis.com/chart';

export const GENERATION_MODES = ['semver', 'semver-skippatch', 'replaces'] as const;
export type GenerationMode = (typeof GENERATION_MODES)[number];

export const CHAIN_API_VERSION = 'k0rdent.mirantis.com/v1beta1';

/** Bad input: the command prints the message and exits 2 without writing a chain. */
export class ChainGenerationError extends Error {
  override name = 'ChainGenerationError';
}

/** What generation needs of one ServiceTemplate. */
export interface TemplateFacts {
  name: string;
  namespace?: string;
  /** The Helm chart name; undefined when neither the spec nor the annotation names one. */
  chart?: string;
  /** spec.version, else spec.helm.chartSpec.version (kcm's order, without its fallback to the name). */
  version?: string;
  replaces?: string;
  skips: string[];
  /** Where it was read (file and document, or the cluster), for messages. */
  source: string;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);

/**
 * The chart name a Helm user recognises: the annotation when set, else the last segment of
 * spec.helm.chartSpec.chart (a GitRepository or Bucket source gives a path, `./charts/nginx`;
 * a HelmRepository gives the name itself). chartRef and chartSource name a Flux object, which
 * k0rdent creates per template version, not a chart: those templates need the annotation.
 */
function chartName(annotation: string | undefined, chart: string | undefined): string | undefined {
  if (annotation) return annotation;
  if (!chart) return undefined;
  const last = chart.replace(/\/+$/, '').split('/').pop();
  return last ? last.replace(/\.tgz$/, '') : undefined;
}

/** The facts of a ServiceTemplate object; undefined for objects of other kinds. */
export function readTemplate(object: unknown, source: string): TemplateFacts | undefined {
  if (!isRecord(object) || object.kind !== 'ServiceTemplate') return undefined;
  const metadata = isRecord(object.metadata) ? object.metadata : {};
  const name = text(metadata.name);
  if (!name) throw new ChainGenerationError(`${source}: a ServiceTemplate without metadata.name`);
  const annotations = isRecord(metadata.annotations) ? metadata.annotations : {};
  const spec = isRecord(object.spec) ? object.spec : {};
  const helm = isRecord(spec.helm) ? spec.helm : {};
  const chartSpec = isRecord(helm.chartSpec) ? helm.chartSpec : {};
  const skips = (text(annotations[SKIPS_ANNOTATION]) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const facts: TemplateFacts = { name, skips, source };
  const namespace = text(metadata.namespace);
  if (namespace) facts.namespace = namespace;
  const chart = chartName(text(annotations[CHART_ANNOTATION]), text(chartSpec.chart));
  if (chart) facts.chart = chart;
  const version = text(spec.version) ?? text(chartSpec.version);
  if (version) facts.version = version;
  const replaces = text(annotations[REPLACES_ANNOTATION]);
  if (replaces) facts.replaces = replaces;
  return facts;
}

/** semver.org's grammar: MAJOR.MINOR.PATCH, optional pre-release and build, no `v`, no leading zeros. */
const STRICT = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export interface GenerateOptions {
  mode: GenerationMode;
  /** Only this chart's templates. */
  chart?: string;
  /** The chain's name (one chart only); default the chart name, `-rollback` appended for a rollback chain. */
  name?: string;
  /** Only templates of this namespace, and the chain's namespace. */
  namespace?: string;
  /** The oldest version to include. */
  from?: string;
  /** The reverse chain: every edge turned round, for rolling back one step at a time. */
  rollback?: boolean;
}

export interface GenerateResult {
  chains: ServiceTemplateChain[];
  /** Templates left out and why: printed on stderr, not errors. */
  notes: string[];
  /** Chains kcm v1.6+ cannot walk (its path search explodes): printed on stderr; the chain is still printed. */
  warnings: string[];
}

interface Versioned {
  facts: TemplateFacts;
  semver: SemVer;
}

/** The chains of `templates` under `options`; throws ChainGenerationError on bad input. */
export function generateChains(templates: readonly TemplateFacts[], options: GenerateOptions): GenerateResult {
  const notes: string[] = [];
  let from: SemVer | undefined;
  if (options.from !== undefined) {
    from = STRICT.test(options.from) ? parseSemVer(options.from) : undefined;
    if (!from) throw new ChainGenerationError(`--from ${JSON.stringify(options.from)} is not a semantic version (MAJOR.MINOR.PATCH)`);
  }
  const inScope = options.namespace === undefined ? templates : templates.filter((t) => t.namespace === undefined || t.namespace === options.namespace);
  const namespaces = [...new Set(inScope.map((t) => t.namespace).filter((n): n is string => n !== undefined))].sort();
  if (options.namespace === undefined && namespaces.length > 1) {
    throw new ChainGenerationError(`ServiceTemplates of ${namespaces.length} namespaces (${namespaces.join(', ')}): a chain lives in one, pick it with -n`);
  }
  const namespace = options.namespace ?? namespaces[0];

  const groups = new Map<string, TemplateFacts[]>();
  for (const t of inScope) {
    if (t.chart === undefined) {
      if (options.chart === undefined) notes.push(`${t.name}: no Helm chart name (spec.helm.chartSpec.chart, or the ${CHART_ANNOTATION} annotation); left out`);
      continue;
    }
    if (options.chart !== undefined && t.chart !== options.chart) continue;
    let group = groups.get(t.chart);
    if (!group) groups.set(t.chart, (group = []));
    group.push(t);
  }
  if (groups.size === 0) {
    const charts = [...new Set(inScope.map((t) => t.chart).filter(Boolean))].sort();
    if (options.chart !== undefined) throw new ChainGenerationError(`no ServiceTemplate of chart ${options.chart}${namespace ? ` in ${namespace}` : ''}${charts.length ? ` (charts found: ${charts.join(', ')})` : ''}`);
    throw new ChainGenerationError(`no ServiceTemplate with a Helm chart name${namespace ? ` in ${namespace}` : ''}`);
  }
  if (options.name !== undefined && groups.size > 1) {
    throw new ChainGenerationError(`--name names one chain, but the templates are of ${groups.size} charts (${[...groups.keys()].sort().join(', ')}): pick one with --chart`);
  }

  const chains: ServiceTemplateChain[] = [];
  for (const chart of [...groups.keys()].sort()) {
    const chain = chainOf(chart, groups.get(chart)!, options, from, namespace, notes);
    if (chain) chains.push(chain);
  }
  if (chains.length === 0) throw new ChainGenerationError('no template is left to chain (see the notes above)');
  const warnings = chains.flatMap((chain) => kcmPathSearchProblem(chain) ?? []);
  return { chains, notes, warnings };
}

/**
 * Why kcm v1.6+ cannot walk the chain, or undefined. kcm's UpgradePaths enumerates every simple
 * path from the deployed template, which grows exponentially with alternative routes: a minor
 * with twenty patches under `semver-skippatch` is already past chaingate's budget (and costs
 * kcm's controller minutes). A generated chain is acyclic (every edge raises the version, or
 * lowers it for --rollback), so the paths from each template are counted rather than walked:
 * paths(t) = sum over its upgrades u of 1 + paths(u), capped past the budget, in reverse
 * topological order, without recursion (a 10,000-step train would overflow the stack).
 */
export function kcmPathSearchProblem(chain: ServiceTemplateChain): string | undefined {
  const templates = chain.spec?.supportedTemplates ?? [];
  const next = new Map(templates.map((t) => [t.name, [...new Set((t.availableUpgrades ?? []).map((u) => u.name))]]));
  const incoming = new Map(templates.map((t) => [t.name, 0]));
  for (const targets of next.values()) for (const u of targets) incoming.set(u, (incoming.get(u) ?? 0) + 1);
  const order: string[] = [...incoming].filter(([, n]) => n === 0).map(([name]) => name);
  for (let i = 0; i < order.length; i++) {
    for (const u of next.get(order[i]!) ?? []) {
      const left = incoming.get(u)! - 1;
      incoming.set(u, left);
      if (left === 0) order.push(u);
    }
  }
  if (order.length < incoming.size) return undefined; // a cycle: not a generated chain
  const paths = new Map<string, number>();
  // The earliest template in topological order past the budget: the one kcm's search suffers most from.
  let worst: string | undefined;
  for (let i = order.length - 1; i >= 0; i--) {
    const name = order[i]!;
    let count = 0;
    for (const u of next.get(name) ?? []) count = Math.min(KCM_PATH_SEARCH_BUDGET + 1, count + 1 + (paths.get(u) ?? 0));
    paths.set(name, count);
    if (count > KCM_PATH_SEARCH_BUDGET) worst = name;
  }
  if (!worst) return undefined;
  return `ServiceTemplateChain ${chain.metadata.name}: kcm's path search from ${worst} follows more than ${KCM_PATH_SEARCH_BUDGET.toLocaleString('en-US')} paths in this chain, so kcm v1.6+ cannot walk it in reasonable time and chaingate's sequential policy refuses multi-step targets on it; use --mode semver, --from, or fewer skips`;
}

function chainOf(chart: string, group: TemplateFacts[], options: GenerateOptions, from: SemVer | undefined, namespace: string | undefined, notes: string[]): ServiceTemplateChain | undefined {
  const byName = new Map<string, TemplateFacts>();
  for (const t of group) {
    if (byName.has(t.name)) throw new ChainGenerationError(`ServiceTemplate ${t.name} is given twice (${byName.get(t.name)!.source}, ${t.source})`);
    byName.set(t.name, t);
  }
  const kept: Versioned[] = [];
  for (const t of group) {
    if (t.version === undefined) {
      throw new ChainGenerationError(`ServiceTemplate ${t.name} (${t.source}) has no version: set spec.version or spec.helm.chartSpec.version (kcm would fall back to the name, which orders nothing)`);
    }
    const semver = parseSemVer(t.version);
    if (!semver) {
      notes.push(`${t.name}: version ${JSON.stringify(t.version)} is not a semantic version; left out`);
      continue;
    }
    if (!STRICT.test(t.version)) {
      // kcm's semver library coerces these (v1 is 1.0.0, 1.2 is 1.2.0); a chain built on the
      // coercion would silently equate v1 and 1.0.0, so the author is asked to spell it out.
      const full = `${semver.major}.${semver.minor}.${semver.patch}${semver.prerelease ? `-${semver.prerelease}` : ''}`;
      throw new ChainGenerationError(`ServiceTemplate ${t.name} (${t.source}): version ${JSON.stringify(t.version)} is not a full semantic version (kcm reads it as ${full}); write it as ${full}`);
    }
    if (from && compareSemVer(semver, from) < 0) continue;
    kept.push({ facts: t, semver });
  }
  kept.sort((a, b) => compareSemVer(a.semver, b.semver) || (a.facts.name < b.facts.name ? -1 : a.facts.name > b.facts.name ? 1 : 0));
  for (let i = 1; i < kept.length; i++) {
    if (compareSemVer(kept[i - 1]!.semver, kept[i]!.semver) === 0) {
      const [a, b] = [kept[i - 1]!.facts, kept[i]!.facts];
      throw new ChainGenerationError(`ServiceTemplates ${a.name} and ${b.name} of chart ${chart} both have version ${a.version === b.version ? a.version : `${a.version} = ${b.version}`}: kcm finds a chain entry by its version, so one template per version`);
    }
  }
  if (kept.length === 0) {
    notes.push(`chart ${chart}: no template left${from ? ` at or above ${options.from}` : ''}; no chain`);
    return undefined;
  }

  const edges = edgesOf(chart, kept, byName, options.mode);
  const upgrades: number[][] = kept.map(() => []);
  for (const [a, b] of edges) {
    if (options.rollback) upgrades[b]!.push(a);
    else upgrades[a]!.push(b);
  }
  const entry = (i: number): AvailableUpgrade => ({ name: kept[i]!.facts.name, version: kept[i]!.facts.version! });
  const order = options.rollback ? kept.map((_, i) => kept.length - 1 - i) : kept.map((_, i) => i);
  const supportedTemplates: SupportedTemplate[] = order.map((i) => {
    // Closest first: the next version up (or, rolling back, the next down).
    const targets = [...new Set(upgrades[i])].sort((x, y) => (options.rollback ? y - x : x - y));
    return targets.length > 0 ? { name: kept[i]!.facts.name, availableUpgrades: targets.map(entry) } : { name: kept[i]!.facts.name };
  });
  const name = options.name ?? (options.rollback ? `${chart}-rollback` : chart);
  return {
    apiVersion: CHAIN_API_VERSION,
    kind: 'ServiceTemplateChain',
    metadata: namespace ? { name, namespace } : { name },
    spec: { supportedTemplates },
  };
}

/** Edges as [from, to] indexes into `kept` (sorted by version); every edge raises the version. */
function edgesOf(chart: string, kept: Versioned[], byName: Map<string, TemplateFacts>, mode: GenerationMode): [number, number][] {
  const edges: [number, number][] = [];
  if (mode === 'semver' || mode === 'semver-skippatch') {
    for (let i = 0; i + 1 < kept.length; i++) edges.push([i, i + 1]);
    if (mode === 'semver-skippatch') {
      for (let i = 0; i < kept.length; i++) {
        const a = kept[i]!.semver;
        // Sorted, so the versions of a's minor follow it; i+1 is already an edge.
        for (let j = i + 2; j < kept.length; j++) {
          const b = kept[j]!.semver;
          if (b.major !== a.major || b.minor !== a.minor) break;
          edges.push([i, j]);
        }
      }
    }
    return edges;
  }
  const index = new Map(kept.map((v, i) => [v.facts.name, i]));
  for (let j = 0; j < kept.length; j++) {
    const t = kept[j]!.facts;
    const sources = [...(t.replaces ? [{ name: t.replaces, how: 'replaces' }] : []), ...t.skips.map((name) => ({ name, how: 'skips' }))];
    for (const { name, how } of sources) {
      if (name === t.name) throw new ChainGenerationError(`ServiceTemplate ${t.name} ${how} itself`);
      if (!byName.has(name)) throw new ChainGenerationError(`ServiceTemplate ${t.name} ${how} ${name}, which is not a ServiceTemplate of chart ${chart}`);
      const i = index.get(name);
      // Left out (below --from, or a version that is not semver): its edge goes with it.
      if (i === undefined) continue;
      if (compareSemVer(kept[i]!.semver, kept[j]!.semver) >= 0) {
        throw new ChainGenerationError(`ServiceTemplate ${t.name} (${t.version}) ${how} ${name} (${kept[i]!.facts.version}): an upgrade must raise the version (kcm walks upwards only)`);
      }
      edges.push([i, j]);
    }
  }
  return edges;
}
