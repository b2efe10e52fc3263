// How many chain graphs stay built at once. Graphs are large beside the chains they come from
// and cheap to rebuild (BENCHMARKS.md, "Scale"), and a cluster that used all of its chains at
// once could hold more graphs than the heap Node gives the chart's container, which crashed
// the process. Past the budget, a graph is dropped and rebuilt on its next query: memory is
// bounded, answers are unchanged.
//
// Eviction is "second chance" (CLOCK): a query of a built graph only sets a flag, so the hot
// path of a decision pays one field write instead of reordering a list.

/** What the budget needs of a chain: the flag its queries set, and a way to drop its graph. */
export interface BudgetedGraph {
  graphReferenced: boolean;
  releaseGraph(): void;
}

/** Enough for every chain of all but the largest clusters, well inside the chart's memory limit (BENCHMARKS.md). */
export const DEFAULT_GRAPH_CACHE_SIZE = 2000;

export class GraphBudget {
  /** Built graphs, oldest first (a Set keeps insertion order). */
  private readonly built = new Set<BudgetedGraph>();
  /** Graphs built since start: rebuilds after eviction included. */
  builds = 0;
  evictions = 0;

  readonly capacity: number;

  constructor(capacity: number = DEFAULT_GRAPH_CACHE_SIZE) {
    this.capacity = capacity;
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`graph cache size must be a whole number of at least 1 (got ${capacity})`);
  }

  /** Graphs built now. */
  get size(): number {
    return this.built.size;
  }

  /** `owner` has just built its graph; drops the least recently used ones past the capacity. */
  admit(owner: BudgetedGraph): void {
    this.builds += 1;
    // Just queried: it gets its second chance like any other graph in use.
    owner.graphReferenced = true;
    this.built.delete(owner);
    this.built.add(owner);
    // Each pass either evicts or clears a flag, so this ends within two sweeps.
    while (this.built.size > this.capacity) {
      const oldest = this.built.values().next().value!;
      this.built.delete(oldest);
      if (oldest.graphReferenced) {
        oldest.graphReferenced = false;
        this.built.add(oldest);
        continue;
      }
      oldest.releaseGraph();
      this.evictions += 1;
    }
  }

  /** `owner` is gone (deleted or replaced): its graph no longer counts. */
  forget(owner: BudgetedGraph): void {
    this.built.delete(owner);
  }
}
