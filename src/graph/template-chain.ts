// One ServiceTemplateChain as a directed graph: each supported template S and each entry U
// of its availableUpgrades is an edge S -> U. Chains are immutable, so every query result
// derived from the graph can be memoised for the lifetime of the object.
import graphology from 'graphology';
import type { ServiceTemplateChain, SupportedTemplate } from '../model/resources.ts';
import { validateChainSpec, type ChainValidation } from './chain-validation.ts';

const { DirectedGraph } = graphology;

/** One destination reachable from a template, with the shortest path to it. */
export interface ReachableUpgrade {
  destination: string;
  /** Steps after the current template, ending with the destination. */
  path: string[];
}

/** How many BFS results one chain remembers; bounds memory on very large chains. */
const MEMO_LIMIT = 512;

export class TemplateChain {
  readonly namespace: string;
  readonly name: string;
  readonly validation: ChainValidation;
  readonly supportedTemplates: readonly SupportedTemplate[];
  readonly resourceVersion: string | undefined;
  private readonly graph = new DirectedGraph({ allowSelfLoops: true, multi: false });
  private readonly supported = new Set<string>();
  private readonly sortedOut = new Map<string, string[]>();
  private readonly parentsMemo = new Map<string, Map<string, string>>();

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
    for (const template of supportedTemplates) {
      this.supported.add(template.name);
      this.graph.mergeNode(template.name);
    }
    for (const template of supportedTemplates) {
      for (const upgrade of template.availableUpgrades ?? []) {
        this.graph.mergeNode(upgrade.name);
        this.graph.mergeEdge(template.name, upgrade.name);
      }
    }
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

  /** Supported templates, in the order the chain lists them. */
  templates(): string[] {
    return [...this.supported];
  }

  supports(template: string): boolean {
    return this.supported.has(template);
  }

  hasEdge(from: string, to: string): boolean {
    // graphology answers false for unknown nodes itself; no separate hasNode checks needed.
    return this.graph.hasDirectedEdge(from, to);
  }

  /** Templates one declared step away from `from`, sorted by name, without self-edges. */
  directUpgrades(from: string): string[] {
    let out = this.sortedOut.get(from);
    if (!out) {
      out = this.graph.hasNode(from)
        ? this.graph.outNeighbors(from).filter((n) => n !== from).sort(compareNames)
        : [];
      this.sortedOut.set(from, out);
    }
    return out;
  }

  /**
   * Shortest path from `from` to `to` as the steps after `from` (ending with `to`), ties
   * broken by name; undefined when `to` is not reachable or equals `from`.
   */
  shortestPath(from: string, to: string): string[] | undefined {
    if (from === to) return undefined;
    const parents = this.bfsParents(from);
    if (!parents.has(to)) return undefined;
    return unwind(parents, from, to);
  }

  isReachable(from: string, to: string): boolean {
    return from !== to && this.bfsParents(from).has(to);
  }

  /**
   * Every template reachable from `from`, ordered by path length then destination name,
   * each with its shortest path: the shape of status.servicesUpgradePaths.
   */
  reachableUpgrades(from: string): ReachableUpgrade[] {
    const parents = this.bfsParents(from);
    const result: ReachableUpgrade[] = [];
    for (const destination of parents.keys()) {
      result.push({ destination, path: unwind(parents, from, destination) });
    }
    // BFS discovers in order of distance; within one distance, order by destination name.
    return result.sort((a, b) => a.path.length - b.path.length || compareNames(a.destination, b.destination));
  }

  /** Graph edges in a stable order, for pictures and exports. */
  edges(): Array<[string, string]> {
    const edges: Array<[string, string]> = [];
    for (const node of [...this.graph.nodes()].sort(compareNames)) {
      for (const target of [...this.graph.outNeighbors(node)].sort(compareNames)) edges.push([node, target]);
    }
    return edges;
  }

  nodes(): string[] {
    return [...this.graph.nodes()].sort(compareNames);
  }

  /**
   * Breadth-first search visiting neighbours in name order. The first discovery of a node
   * is then along the lexicographically smallest of its shortest paths, which is how SPEC
   * breaks ties. Returns parent pointers (destination -> previous step), in discovery order.
   */
  private bfsParents(from: string): Map<string, string> {
    const memo = this.parentsMemo.get(from);
    if (memo) return memo;
    const parents = new Map<string, string>();
    if (this.graph.hasNode(from)) {
      const queue = [from];
      for (let head = 0; head < queue.length; head++) {
        const node = queue[head]!;
        for (const next of this.directUpgrades(node)) {
          if (next === from || parents.has(next)) continue;
          parents.set(next, node);
          queue.push(next);
        }
      }
    }
    if (this.parentsMemo.size >= MEMO_LIMIT) {
      const oldest = this.parentsMemo.keys().next().value;
      if (oldest !== undefined) this.parentsMemo.delete(oldest);
    }
    this.parentsMemo.set(from, parents);
    return parents;
  }
}

function unwind(parents: Map<string, string>, from: string, to: string): string[] {
  const path = [to];
  for (let node = parents.get(to); node !== undefined && node !== from; node = parents.get(node)) {
    path.push(node);
  }
  return path.reverse();
}

/** Plain code-unit order: stable across locales, unlike localeCompare. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
