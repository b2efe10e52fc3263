// The directed graph of one chain's templates, with the queries decisions and status need.
// Chains are immutable, so every query result is memoised for the lifetime of the graph.
//
// Graph nodes are keyed by the template's index ("0", "1", ...), not by its name. graphology
// stores adjacency as `node.out[neighbourKey] = edge`; with names as keys, V8 gives every
// distinct template name its own hidden-class transition, which made building many graphs
// about three times slower. Index-like keys are stored as array elements instead
// (BENCHMARKS.md, "Figures behind design choices").
import graphology from 'graphology';
import type { SupportedTemplate } from '../model/resources.ts';

const { DirectedGraph } = graphology;

/** One destination reachable from a template, with the shortest path to it. */
export interface ReachableUpgrade {
  destination: string;
  /** Steps after the current template, ending with the destination. */
  path: string[];
}

/** How many BFS results one chain remembers; bounds memory on very large chains. */
const MEMO_LIMIT = 512;

export class ChainGraph {
  private readonly graph = new DirectedGraph({ allowSelfLoops: true, multi: false });
  /** Template name -> graph node key; supported templates first, in the chain's order. */
  private readonly ids = new Map<string, string>();
  /** Graph node key (as a number) -> template name. */
  private readonly names: string[] = [];
  private readonly supportedCount: number;
  private readonly sortedOut = new Map<string, string[]>();
  private readonly parentsMemo = new Map<string, Map<string, string>>();

  constructor(supportedTemplates: readonly SupportedTemplate[]) {
    for (const template of supportedTemplates) this.node(template.name);
    this.supportedCount = this.names.length;
    for (const template of supportedTemplates) {
      const from = this.ids.get(template.name)!;
      for (const upgrade of template.availableUpgrades ?? []) this.graph.mergeEdge(from, this.node(upgrade.name));
    }
  }

  /** Supported templates, in the order the chain lists them. */
  templates(): string[] {
    return this.names.slice(0, this.supportedCount);
  }

  supports(template: string): boolean {
    const id = this.ids.get(template);
    return id !== undefined && Number(id) < this.supportedCount;
  }

  hasEdge(from: string, to: string): boolean {
    const source = this.ids.get(from);
    const target = this.ids.get(to);
    return source !== undefined && target !== undefined && this.graph.hasDirectedEdge(source, target);
  }

  /** Templates one declared step away from `from`, sorted by name, without self-edges. */
  directUpgrades(from: string): string[] {
    let out = this.sortedOut.get(from);
    if (!out) {
      const id = this.ids.get(from);
      out = id === undefined ? [] : this.graph.outNeighbors(id).filter((n) => n !== id).map((n) => this.nameOf(n)).sort(compareNames);
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

  /**
   * The destinations of reachableUpgrades(from) in the same order, without their paths: on a
   * long chain the paths together are quadratic in its length, and most callers need only these.
   */
  reachableDestinations(from: string): string[] {
    const parents = this.bfsParents(from);
    const depth = new Map<string, number>();
    const found: Array<[string, number]> = [];
    // Parents are discovered before their children, so each parent's depth is known.
    for (const [node, parent] of parents) {
      const d = parent === from ? 1 : (depth.get(parent) ?? 0) + 1;
      depth.set(node, d);
      found.push([node, d]);
    }
    return found.sort((a, b) => a[1] - b[1] || compareNames(a[0], b[0])).map(([node]) => node);
  }

  /** Every template named by the chain (supported or only an upgrade target), sorted by name. */
  nodes(): string[] {
    return [...this.names].sort(compareNames);
  }

  /** Graph edges in a stable order, for pictures and exports. */
  edges(): Array<[string, string]> {
    const edges: Array<[string, string]> = [];
    for (const node of this.nodes()) {
      const targets = this.graph.outNeighbors(this.ids.get(node)!).map((n) => this.nameOf(n));
      for (const target of targets.sort(compareNames)) edges.push([node, target]);
    }
    return edges;
  }

  /** The graph node of a template, added on first sight. */
  private node(name: string): string {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = String(this.names.length);
      this.ids.set(name, id);
      this.names.push(name);
      this.graph.addNode(id);
    }
    return id;
  }

  private nameOf(id: string): string {
    return this.names[Number(id)]!;
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
    if (this.ids.has(from)) {
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
