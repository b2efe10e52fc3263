// One ServiceTemplateChain: its identity, its validity under SPEC's rules, and its graph.
//
// The graph is built on the first query, not when the chain is loaded. A cluster can hold
// many chains that nothing references (old release trains, rollback chains kept for later),
// and a graphology graph costs far more than the chain it comes from: eager graphs were most
// of the memory and of the load time (BENCHMARKS.md, "Scale"). Memory follows the chains in use, up to a
// GraphBudget shared by a registry's chains, past which the least recently used are dropped.
// Its validation waits for the first question too, for the same reason (BENCHMARKS.md, section 10).
import type { ServiceTemplateChain, SupportedTemplate } from '../model/resources.ts';
import { ChainGraph, compareNames, type ReachableUpgrade } from './chain-graph.ts';
import { validateChainSpec, type ChainValidation } from './chain-validation.ts';
import type { BudgetedGraph, GraphBudget } from './graph-budget.ts';
import { entryOf, KcmPathSearch, PathSearchTooLargeError, type ChainEntry, type KcmUpgradePath } from './kcm-paths.ts';

/** How many templates' kcm paths one chain remembers: a walk revisits a few, and a long chain's paths are large. */
const KCM_PATHS_MEMO = 64;

export { compareNames, type ReachableUpgrade };

export class LoadedChain implements BudgetedGraph {
  readonly namespace: string;
  readonly name: string;
  private checked: ChainValidation | undefined;
  private readonly parseErrors: readonly string[];
  readonly supportedTemplates: readonly SupportedTemplate[];
  readonly resourceVersion: string | undefined;
  private built: ChainGraph | undefined;
  /** Set by every query of the built graph, cleared by the budget's sweep. */
  graphReferenced = false;
  private readonly budget: GraphBudget | undefined;
  private readonly kcmPathsMemo = new Map<string, KcmUpgradePath[] | PathSearchTooLargeError | undefined>();
  private kcmSearch: KcmPathSearch | undefined;
  private entryVersionIndex: Map<string, string[]> | undefined;

  constructor(
    namespace: string,
    name: string,
    supportedTemplates: readonly SupportedTemplate[],
    resourceVersion?: string,
    /** Problems found before the graph could be built, e.g. a malformed watch event. */
    parseErrors: string[] = [],
    /** Bounds how many graphs stay built; without one, the graph lives as long as the chain. */
    budget?: GraphBudget,
  ) {
    this.namespace = namespace;
    this.budget = budget;
    this.name = name;
    this.resourceVersion = resourceVersion;
    this.supportedTemplates = supportedTemplates;
    this.parseErrors = parseErrors;
  }

  /** SPEC's rules applied to the chain, with the problems found while parsing it first. */
  get validation(): ChainValidation {
    if (this.checked) return this.checked;
    const validation = validateChainSpec(this.supportedTemplates);
    this.checked =
      this.parseErrors.length === 0 ? validation : { ...validation, valid: false, errors: [...this.parseErrors, ...validation.errors] };
    return this.checked;
  }

  static fromObject(chain: ServiceTemplateChain, budget?: GraphBudget): LoadedChain {
    return new LoadedChain(
      chain.metadata.namespace ?? '',
      chain.metadata.name ?? '',
      chain.spec?.supportedTemplates ?? [],
      chain.metadata.resourceVersion,
      [],
      budget,
    );
  }

  get key(): string {
    return `${this.namespace}/${this.name}`;
  }

  get valid(): boolean {
    return this.validation.valid;
  }

  /** Whether a query has built the graph yet (for tests and memory accounting). */
  get graphBuilt(): boolean {
    return this.built !== undefined;
  }

  /** Drops the built graph (and its memoised paths); the next query builds it again. */
  releaseGraph(): void {
    this.built = undefined;
    this.kcmPathsMemo.clear();
    this.kcmSearch = undefined;
    this.graphReferenced = false;
  }

  private get graph(): ChainGraph {
    const built = this.built;
    if (built) {
      this.graphReferenced = true;
      return built;
    }
    const graph = new ChainGraph(this.supportedTemplates);
    this.built = graph;
    this.budget?.admit(this);
    return graph;
  }

  /** Supported templates, in the order the chain lists them. */
  templates(): string[] {
    return this.graph.templates();
  }

  supports(template: string): boolean {
    return this.graph.supports(template);
  }

  hasEdge(from: string, to: string): boolean {
    return this.graph.hasEdge(from, to);
  }

  /** Templates one declared step away from `from`, sorted by name, without self-edges. */
  directUpgrades(from: string): string[] {
    return this.graph.directUpgrades(from);
  }

  /** Shortest path from `from` to `to` (steps after `from`, ending with `to`); ties broken by name. */
  shortestPath(from: string, to: string): string[] | undefined {
    return this.graph.shortestPath(from, to);
  }

  isReachable(from: string, to: string): boolean {
    return this.graph.isReachable(from, to);
  }

  /** Every template reachable from `from`, by path length then name: status.servicesUpgradePaths. */
  reachableUpgrades(from: string): ReachableUpgrade[] {
    return this.graph.reachableUpgrades(from);
  }

  /** reachableUpgrades' destinations, in its order, without building the paths. */
  reachableDestinations(from: string): string[] {
    return this.graph.reachableDestinations(from);
  }

  /** Graph edges in a stable order, for pictures and exports. */
  edges(): Array<[string, string]> {
    return this.graph.edges();
  }

  /** kcm's upgrade paths from `from` (see kcm-paths.ts); undefined when the chain does not list it. */
  kcmPaths(from: string): KcmUpgradePath[] | undefined {
    let paths = this.kcmPathsMemo.get(from);
    if (paths !== undefined || this.kcmPathsMemo.has(from)) {
      // Refresh: most recently used last.
      this.kcmPathsMemo.delete(from);
    } else {
      this.kcmSearch ??= new KcmPathSearch(this.supportedTemplates);
      try {
        paths = this.kcmSearch.from(from);
      } catch (err) {
        // Remembered too: a search past its budget costs its whole budget every time it runs.
        if (!(err instanceof PathSearchTooLargeError)) throw err;
        paths = err;
      }
      if (this.kcmPathsMemo.size >= KCM_PATHS_MEMO) this.kcmPathsMemo.delete(this.kcmPathsMemo.keys().next().value!);
    }
    this.kcmPathsMemo.set(from, paths);
    if (paths instanceof PathSearchTooLargeError) throw paths;
    return paths;
  }

  /** Every entry (upgrade target with its version) declared from `from` or from a template reachable from it. */
  entriesReachableFrom(from: string): ChainEntry[] {
    const sources = new Set([from, ...this.reachableDestinations(from)]);
    const entries: ChainEntry[] = [];
    for (const template of this.supportedTemplates) {
      if (!sources.has(template.name)) continue;
      for (const upgrade of template.availableUpgrades ?? []) entries.push(entryOf(upgrade.name, upgrade.version));
    }
    return entries;
  }

  /** The versions the chain's entries give `template` (its name where an entry has none), sorted. */
  entryVersions(template: string): readonly string[] {
    // Indexed on first use: decisions ask it for every changed service.
    if (!this.entryVersionIndex) {
      const index = new Map<string, Set<string>>();
      for (const t of this.supportedTemplates) {
        for (const upgrade of t.availableUpgrades ?? []) {
          let versions = index.get(upgrade.name);
          if (!versions) index.set(upgrade.name, (versions = new Set()));
          versions.add(entryOf(upgrade.name, upgrade.version).version);
        }
      }
      this.entryVersionIndex = new Map([...index].map(([name, versions]) => [name, [...versions].sort(compareNames)]));
    }
    return this.entryVersionIndex.get(template) ?? [];
  }

  nodes(): string[] {
    return this.graph.nodes();
  }
}
