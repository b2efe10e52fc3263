// One ServiceTemplateChain: its identity, its validity under SPEC's rules, and its graph.
//
// The graph is built on the first query, not when the chain is loaded. A cluster can hold
// many chains that nothing references (old release trains, rollback chains kept for later),
// and a graphology graph costs about 30 KiB for a 20-template chain: 10,000 eager graphs
// were 300 MiB and most of the load time. Memory now follows the chains in use.
import type { ServiceTemplateChain, SupportedTemplate } from '../model/resources.ts';
import { ChainGraph, compareNames, type ReachableUpgrade } from './chain-graph.ts';
import { validateChainSpec, type ChainValidation } from './chain-validation.ts';

export { compareNames, type ReachableUpgrade };

export class TemplateChain {
  readonly namespace: string;
  readonly name: string;
  readonly validation: ChainValidation;
  readonly supportedTemplates: readonly SupportedTemplate[];
  readonly resourceVersion: string | undefined;
  private built: ChainGraph | undefined;

  constructor(
    namespace: string,
    name: string,
    supportedTemplates: readonly SupportedTemplate[],
    resourceVersion?: string,
    /** Problems found before the graph could be built, e.g. a malformed watch event. */
    parseErrors: string[] = [],
  ) {
    this.namespace = namespace;
    this.name = name;
    this.resourceVersion = resourceVersion;
    this.supportedTemplates = supportedTemplates;
    const validation = validateChainSpec(supportedTemplates);
    this.validation =
      parseErrors.length === 0 ? validation : { ...validation, valid: false, errors: [...parseErrors, ...validation.errors] };
  }

  static fromObject(chain: ServiceTemplateChain): TemplateChain {
    return new TemplateChain(
      chain.metadata.namespace ?? '',
      chain.metadata.name ?? '',
      chain.spec?.supportedTemplates ?? [],
      chain.metadata.resourceVersion,
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

  private get graph(): ChainGraph {
    return (this.built ??= new ChainGraph(this.supportedTemplates));
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

  /** Graph edges in a stable order, for pictures and exports. */
  edges(): Array<[string, string]> {
    return this.graph.edges();
  }

  nodes(): string[] {
    return this.graph.nodes();
  }
}
