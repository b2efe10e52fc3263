import { describe, expect, it } from 'vitest';
import { GraphBudget, type BudgetedGraph } from '../../src/graph/graph-budget.ts';
import { ChainRegistry } from '../../src/graph/chain-registry.ts';
import { SPEC_EXAMPLE_EDGES, chainObject } from '../support/builders.ts';

/** A stand-in owner that records whether its graph is held. */
function owner(name: string): BudgetedGraph & { name: string; held: boolean } {
  return { name, graphReferenced: false, held: true, releaseGraph() { this.held = false; } };
}

describe('GraphBudget', () => {
  it('refuses a size that is not a whole number of at least 1', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new GraphBudget(bad)).toThrow(/at least 1/);
  });

  it('drops the graph built longest ago once the capacity is passed', () => {
    const budget = new GraphBudget(2);
    const [a, b, c] = [owner('a'), owner('b'), owner('c')];
    budget.admit(a);
    budget.admit(b);
    // a and b were queried when built; a sweep clears their flags before it evicts.
    a.graphReferenced = false;
    b.graphReferenced = false;
    budget.admit(c);
    expect(a.held).toBe(false);
    expect([b.held, c.held]).toEqual([true, true]);
    expect(budget.size).toBe(2);
    expect(budget.evictions).toBe(1);
    expect(budget.builds).toBe(3);
  });

  it('gives a graph queried since the last sweep a second chance', () => {
    const budget = new GraphBudget(2);
    const [a, b, c] = [owner('a'), owner('b'), owner('c')];
    budget.admit(a);
    budget.admit(b);
    b.graphReferenced = false;
    a.graphReferenced = true; // queried again
    budget.admit(c);
    expect([a.held, b.held, c.held]).toEqual([true, false, true]);
  });

  it('keeps the graph just built even when every other one is in use', () => {
    const budget = new GraphBudget(1);
    const [a, b] = [owner('a'), owner('b')];
    budget.admit(a);
    a.graphReferenced = true;
    budget.admit(b);
    expect([a.held, b.held]).toEqual([false, true]);
    expect(budget.size).toBe(1);
  });

  it('stops counting a forgotten owner', () => {
    const budget = new GraphBudget(1);
    const [a, b] = [owner('a'), owner('b')];
    budget.admit(a);
    budget.forget(a);
    budget.admit(b);
    expect(a.held).toBe(true); // not evicted: it was no longer counted
    expect(budget.size).toBe(1);
  });
});

describe('ChainRegistry with a graph cache', () => {
  const names = ['one', 'two', 'three', 'four'];
  const load = (size: number) => {
    const registry = new ChainRegistry({ graphCacheSize: size });
    for (const name of names) registry.set(chainObject(name, SPEC_EXAMPLE_EDGES, { resourceVersion: '1' }));
    return registry;
  };
  const answers = (registry: ChainRegistry, name: string) => {
    const chain = registry.get('kcm-system', name)!;
    return { edge: chain.hasEdge('010', '020'), path: chain.shortestPath('010', '100'), reachable: chain.reachableUpgrades('010'), edges: chain.edges() };
  };

  it('holds at most its size of built graphs, and answers the same after a rebuild', () => {
    const bounded = load(2);
    const unbounded = load(100);
    const expected = Object.fromEntries(names.map((name) => [name, answers(unbounded, name)]));
    // Two rounds over four chains with room for two: every query after the first round rebuilds.
    for (let round = 0; round < 2; round += 1) {
      for (const name of names) {
        expect(answers(bounded, name)).toEqual(expected[name]);
        expect(bounded.graphs.size).toBeLessThanOrEqual(2);
      }
    }
    const built = names.filter((name) => bounded.get('kcm-system', name)!.graphBuilt);
    expect(built).toHaveLength(2);
    expect(bounded.graphs.builds).toBeGreaterThan(names.length);
    expect(unbounded.graphs.builds).toBe(names.length);
  });

  it('does not count chains that were replaced or deleted', () => {
    const registry = load(2);
    answers(registry, 'one');
    answers(registry, 'two');
    expect(registry.graphs.size).toBe(2);
    registry.delete('kcm-system', 'one');
    expect(registry.graphs.size).toBe(1);
    registry.set(chainObject('two', { a: ['b'], b: [] }, { resourceVersion: '2' }));
    expect(registry.graphs.size).toBe(0);
    expect(registry.get('kcm-system', 'two')!.hasEdge('a', 'b')).toBe(true);
    expect(registry.graphs.size).toBe(1);
  });

  it('refuses an invalid size', () => {
    expect(() => new ChainRegistry({ graphCacheSize: 0 })).toThrow(/at least 1/);
  });
});
