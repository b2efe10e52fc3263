import { describe, it, expect } from 'vitest';
import { LoadedChain, compareNames } from '../../src/graph/loaded-chain.ts';
import { ChainRegistry, type ChainChange } from '../../src/graph/chain-registry.ts';
import { validateChainSpec } from '../../src/graph/chain-validation.ts';
import { renderChains } from '../../src/graph/render.ts';
import { parseChain } from '../../src/model/parse.ts';
import { SPEC_EXAMPLE_EDGES, chainObject, templateChain } from '../support/builders.ts';

const paths = (chain: LoadedChain, from: string) => chain.reachableUpgrades(from).map((r) => r.path);

describe('LoadedChain edges', () => {
  const chain = templateChain({ b: ['c', 'a'], a: ['b', 'c'], c: [] }, 'abc', 'ns');

  it('has identity and key', () => {
    expect(chain.namespace).toBe('ns');
    expect(chain.name).toBe('abc');
    expect(chain.key).toBe('ns/abc');
    expect(chain.valid).toBe(true);
  });

  it('turns every supported template S and each of its upgrades U into the edge S -> U', () => {
    expect(chain.edges()).toEqual([
      ['a', 'b'],
      ['a', 'c'],
      ['b', 'a'],
      ['b', 'c'],
    ]);
    expect(chain.hasEdge('a', 'b')).toBe(true);
    expect(chain.hasEdge('b', 'a')).toBe(true);
    expect(chain.hasEdge('c', 'a')).toBe(false);
    expect(chain.hasEdge('a', 'zzz')).toBe(false);
    expect(chain.hasEdge('zzz', 'a')).toBe(false);
  });

  it('lists templates in chain order and nodes sorted', () => {
    expect(chain.templates()).toEqual(['b', 'a', 'c']);
    expect(chain.nodes()).toEqual(['a', 'b', 'c']);
    expect(chain.supports('a')).toBe(true);
    expect(chain.supports('d')).toBe(false);
  });

  it('directUpgrades are sorted by name and leave out self-edges', () => {
    const c = templateChain({ m: ['z', 'm', 'b', 'k'], z: [], b: [], k: [] });
    expect(c.directUpgrades('m')).toEqual(['b', 'k', 'z']);
    expect(c.hasEdge('m', 'm')).toBe(true);
    expect(c.directUpgrades('z')).toEqual([]);
    expect(c.directUpgrades('unknown')).toEqual([]);
    // Memoised results are stable across calls.
    expect(c.directUpgrades('m')).toEqual(['b', 'k', 'z']);
  });

  it('sorts by code units, not locale', () => {
    const c = templateChain({ x: ['b', 'B', 'a', 'A', '_'], b: [], B: [], a: [], A: [], _: [] });
    expect(c.directUpgrades('x')).toEqual(['A', 'B', '_', 'a', 'b']);
    expect(compareNames('A', 'a')).toBeLessThan(0);
    expect(compareNames('a', 'a')).toBe(0);
    expect(compareNames('b', 'a')).toBeGreaterThan(0);
  });

  it('a repeated upgrade entry is one edge', () => {
    const c = templateChain({ a: ['b', 'b'], b: [] });
    expect(c.edges()).toEqual([['a', 'b']]);
    expect(c.directUpgrades('a')).toEqual(['b']);
  });

  it('keeps template names apart from the index keys of its graph nodes', () => {
    // Nodes are keyed "0", "1", ... inside the graph: templates named like indices must
    // still mean themselves, whatever position they hold in the chain.
    const c = templateChain([
      ['1', ['0', '2']],
      ['0', ['x']],
      ['x', ['1']],
      ['2', []],
    ]);
    expect(c.hasEdge('1', '0')).toBe(true);
    expect(c.hasEdge('0', '1')).toBe(false);
    expect(c.hasEdge('0', 'x')).toBe(true);
    expect(c.hasEdge('x', '1')).toBe(true);
    expect(c.hasEdge('x', '0')).toBe(false);
    expect(c.templates()).toEqual(['1', '0', 'x', '2']);
    expect(c.directUpgrades('1')).toEqual(['0', '2']);
    expect(c.edges()).toEqual([['0', 'x'], ['1', '0'], ['1', '2'], ['x', '1']]);
    expect(c.shortestPath('0', '2')).toEqual(['x', '1', '2']);
  });

  it('an upgrade target the chain does not support is a node, not a supported template', () => {
    const c = LoadedChain.fromObject(parseChain({ metadata: { name: 'c', namespace: 'ns' }, spec: { supportedTemplates: [{ name: 'a', availableUpgrades: [{ name: 'ghost' }] }] } }));
    expect(c.valid).toBe(false);
    expect(c.supports('ghost')).toBe(false);
    expect(c.supports('a')).toBe(true);
    expect(c.hasEdge('a', 'ghost')).toBe(true);
    expect(c.nodes()).toEqual(['a', 'ghost']);
    expect(c.templates()).toEqual(['a']);
  });

  it('builds its graph on the first query, not when loaded', () => {
    const registry = new ChainRegistry();
    const loaded = registry.set(chainObject('lazy', { a: ['b'], b: [] }, { resourceVersion: '1' }));
    expect(loaded.graphBuilt).toBe(false);
    expect(loaded.valid).toBe(true); // validity needs no graph
    expect(loaded.hasEdge('a', 'b')).toBe(true);
    expect(loaded.graphBuilt).toBe(true);
    const invalid = registry.set(chainObject('broken', { a: ['missing'] }, { resourceVersion: '1' }));
    expect(invalid.valid).toBe(false);
    expect(invalid.validation.errors).toEqual(['upgrade target missing (from a) is not a supported template']);
    expect(invalid.graphBuilt).toBe(false);
  });
});

describe('LoadedChain.shortestPath', () => {
  const chain = templateChain(SPEC_EXAMPLE_EDGES);

  it('returns the steps after `from`, ending with the destination', () => {
    expect(chain.shortestPath('010', '020')).toEqual(['020']);
    expect(chain.shortestPath('010', '100')).toEqual(['040', '100']);
    expect(chain.shortestPath('020', '100')).toEqual(['040', '100']);
  });

  it('is undefined for unreachable, identical or unknown templates', () => {
    expect(chain.shortestPath('100', '010')).toBeUndefined();
    expect(chain.shortestPath('040', '030')).toBeUndefined();
    expect(chain.shortestPath('010', '010')).toBeUndefined();
    expect(chain.shortestPath('nope', '010')).toBeUndefined();
    expect(chain.shortestPath('010', 'nope')).toBeUndefined();
    expect(chain.isReachable('010', '100')).toBe(true);
    expect(chain.isReachable('100', '010')).toBe(false);
    expect(chain.isReachable('010', '010')).toBe(false);
  });

  it('breaks ties between equally short paths by name (diamond)', () => {
    // s -> {x, b} -> t: two shortest paths, s -> b -> t wins over s -> x -> t.
    const diamond = templateChain({ s: ['x', 'b'], x: ['t'], b: ['t'], t: [] });
    expect(diamond.shortestPath('s', 't')).toEqual(['b', 't']);
    expect(diamond.reachableUpgrades('s')).toEqual([
      { destination: 'b', path: ['b'] },
      { destination: 'x', path: ['x'] },
      { destination: 't', path: ['b', 't'] },
    ]);
  });

  it('breaks ties lexicographically at the first differing step (longer diamond)', () => {
    // Two 3-step paths s -> a -> y -> t and s -> b -> c -> t: the one through `a` wins even
    // though its second step (y) sorts after the other path's (c).
    const chain2 = templateChain({ s: ['b', 'a'], a: ['y'], b: ['c'], y: ['t'], c: ['t'], t: [] });
    expect(chain2.shortestPath('s', 't')).toEqual(['a', 'y', 't']);
    // The same graph with the names swapped picks the other branch.
    const chain3 = templateChain({ s: ['b', 'd'], d: ['y'], b: ['c'], y: ['t'], c: ['t'], t: [] });
    expect(chain3.shortestPath('s', 't')).toEqual(['b', 'c', 't']);
  });

  it('prefers the shorter path over the lexicographically smaller one', () => {
    const c = templateChain({ s: ['a', 'z'], a: ['b'], b: ['t'], z: ['t'], t: [] });
    expect(c.shortestPath('s', 't')).toEqual(['z', 't']);
  });
});

describe('LoadedChain.reachableUpgrades', () => {
  it('matches the SPEC status example exactly', () => {
    const chain = templateChain(SPEC_EXAMPLE_EDGES);
    expect(paths(chain, '010')).toEqual([['020'], ['030'], ['040'], ['040', '100']]);
    expect(paths(chain, '030')).toEqual([['040'], ['040', '100']]);
    expect(paths(chain, '040')).toEqual([['100']]);
    expect(paths(chain, '100')).toEqual([]);
    expect(chain.reachableUpgrades('010').map((r) => r.destination)).toEqual(['020', '030', '040', '100']);
  });

  it('orders by path length, then destination name', () => {
    const chain = templateChain({ s: ['m', 'c'], m: ['a'], c: ['z', 'b'], a: [], z: [], b: [] });
    expect(chain.reachableUpgrades('s').map((r) => r.destination)).toEqual(['c', 'm', 'a', 'b', 'z']);
    expect(paths(chain, 's')).toEqual([['c'], ['m'], ['m', 'a'], ['c', 'b'], ['c', 'z']]);
  });

  it('is empty for a template the chain does not know', () => {
    expect(templateChain(SPEC_EXAMPLE_EDGES).reachableUpgrades('999')).toEqual([]);
  });

  it('terminates on cycles (rollback chains) and never lists the start', () => {
    const chain = templateChain({ a: ['b'], b: ['c', 'a'], c: ['a', 'c'] });
    expect(paths(chain, 'a')).toEqual([['b'], ['b', 'c']]);
    expect(paths(chain, 'b')).toEqual([['a'], ['c']]);
    expect(paths(chain, 'c')).toEqual([['a'], ['a', 'b']]);
    expect(chain.shortestPath('c', 'b')).toEqual(['a', 'b']);
  });

  it('terminates on a two-node rollback cycle and a self-loop', () => {
    const chain = templateChain({ v1: ['v2', 'v1'], v2: ['v1'] });
    expect(paths(chain, 'v1')).toEqual([['v2']]);
    expect(paths(chain, 'v2')).toEqual([['v1']]);
    expect(chain.valid).toBe(true);
  });

  it('handles a long chain without recursion limits', () => {
    const n = 2000;
    const edges: Record<string, string[]> = {};
    const name = (i: number) => `t${String(i).padStart(5, '0')}`;
    for (let i = 0; i < n; i++) edges[name(i)] = i + 1 < n ? [name(i + 1)] : [];
    const chain = templateChain(edges);
    const reachable = chain.reachableUpgrades(name(0));
    expect(reachable).toHaveLength(n - 1);
    expect(reachable.at(-1)!.path).toHaveLength(n - 1);
    expect(reachable.at(-1)!.destination).toBe(name(n - 1));
  });

  it('gives the same answers after its memo evicts old entries', () => {
    const edges: Record<string, string[]> = { n0: ['n1'], n1: ['n2'], n2: ['n3'], n3: [] };
    for (let i = 0; i < 600; i++) edges[`leaf${i}`] = [];
    const chain = templateChain(edges);
    const first = chain.shortestPath('n0', 'n3');
    for (let i = 0; i < 600; i++) expect(chain.reachableUpgrades(`leaf${i}`)).toEqual([]);
    expect(chain.shortestPath('n0', 'n3')).toEqual(first);
    expect(first).toEqual(['n1', 'n2', 'n3']);
  });
});

describe('chain validation', () => {
  it('accepts a chain whose every target is supported', () => {
    expect(validateChainSpec(chainObject('c', SPEC_EXAMPLE_EDGES).spec!.supportedTemplates!)).toEqual({
      valid: true,
      errors: [],
      warnings: [],
    });
  });

  it('an empty chain is valid', () => {
    expect(validateChainSpec([]).valid).toBe(true);
    expect(templateChain({}).valid).toBe(true);
  });

  it('an upgrade target that is not a supported template makes the chain invalid', () => {
    const chain = templateChain({ a: ['b'] });
    expect(chain.valid).toBe(false);
    expect(chain.validation.errors).toEqual(['upgrade target b (from a) is not a supported template']);
    // Invalid chains are still graphs (for pictures and explanations).
    expect(chain.hasEdge('a', 'b')).toBe(true);
    expect(chain.nodes()).toEqual(['a', 'b']);
    expect(chain.templates()).toEqual(['a']);
  });

  it('a supported template listed twice makes the chain invalid', () => {
    const result = validateChainSpec([
      { name: 'a', availableUpgrades: [{ name: 'b' }] },
      { name: 'b' },
      { name: 'a', availableUpgrades: [] },
    ]);
    expect(result.valid).toBe(false);
    expect(result.errors).toEqual(['supported template a is listed more than once']);
    const chain = LoadedChain.fromObject({
      metadata: { name: 'dup', namespace: 'ns' },
      spec: { supportedTemplates: [{ name: 'a' }, { name: 'a' }] },
    });
    expect(chain.valid).toBe(false);
  });

  it('a self-edge is a warning, not an error', () => {
    const result = validateChainSpec([{ name: 'a', availableUpgrades: [{ name: 'a' }, { name: 'b' }] }, { name: 'b' }]);
    expect(result.valid).toBe(true);
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual(['a lists itself as an upgrade']);
  });

  it('a repeated upgrade entry is a warning', () => {
    const result = validateChainSpec([{ name: 'a', availableUpgrades: [{ name: 'b' }, { name: 'b' }] }, { name: 'b' }]);
    expect(result.valid).toBe(true);
    expect(result.warnings).toEqual(['a lists upgrade b twice']);
  });

  it('cycles are valid', () => {
    expect(templateChain({ a: ['b'], b: ['a'] }).valid).toBe(true);
  });

  it('collects every broken rule', () => {
    const result = validateChainSpec([
      { name: 'a', availableUpgrades: [{ name: 'x' }, { name: 'y' }] },
      { name: 'a' },
    ]);
    expect(result.valid).toBe(false);
    expect(result.errors).toHaveLength(3);
    expect(result.errors).toContain('supported template a is listed more than once');
    expect(result.errors).toContain('upgrade target x (from a) is not a supported template');
    expect(result.errors).toContain('upgrade target y (from a) is not a supported template');
  });

  it('ignores status.valid: the spec decides', () => {
    const chain = LoadedChain.fromObject(chainObject('c', { a: ['ghost'] }, { status: { valid: true } }));
    expect(chain.valid).toBe(false);
    const good = LoadedChain.fromObject(
      chainObject('c', { a: [] }, { status: { valid: false, validationError: 'stale' } }),
    );
    expect(good.valid).toBe(true);
  });
});

describe('ChainRegistry', () => {
  const record = (registry: ChainRegistry) => {
    const events: ChainChange[] = [];
    registry.onChange((change) => events.push(change));
    return events;
  };

  it('set adds a chain and emits a set event', () => {
    const registry = new ChainRegistry();
    const events = record(registry);
    const graph = registry.set(chainObject('c1', { a: ['b'], b: [] }, { namespace: 'ns1', resourceVersion: '1' }));
    expect(events).toEqual([{ type: 'set', namespace: 'ns1', name: 'c1' }]);
    expect(registry.size).toBe(1);
    expect(registry.get('ns1', 'c1')).toBe(graph);
    expect(registry.has('ns1', 'c1')).toBe(true);
    expect(registry.get('ns2', 'c1')).toBeUndefined();
    expect(registry.has('ns2', 'c1')).toBe(false);
    expect(registry.list()).toEqual([graph]);
    expect(graph.resourceVersion).toBe('1');
  });

  it('an unchanged resourceVersion is not rebuilt and not announced', () => {
    const registry = new ChainRegistry();
    const first = registry.set(chainObject('c1', { a: ['b'], b: [] }, { resourceVersion: '7' }));
    const events = record(registry);
    const again = registry.set(chainObject('c1', { a: ['b'], b: [] }, { resourceVersion: '7' }));
    expect(again).toBe(first);
    expect(events).toEqual([]);
  });

  it('a new resourceVersion replaces the graph and emits', () => {
    const registry = new ChainRegistry();
    const first = registry.set(chainObject('c1', { a: ['b'], b: [] }, { resourceVersion: '7' }));
    const events = record(registry);
    const second = registry.set(chainObject('c1', { a: [], b: ['a'] }, { resourceVersion: '8' }));
    expect(second).not.toBe(first);
    expect(registry.get('kcm-system', 'c1')).toBe(second);
    expect(registry.get('kcm-system', 'c1')!.hasEdge('b', 'a')).toBe(true);
    expect(registry.get('kcm-system', 'c1')!.hasEdge('a', 'b')).toBe(false);
    expect(registry.size).toBe(1);
    expect(events).toEqual([{ type: 'set', namespace: 'kcm-system', name: 'c1' }]);
  });

  it('without a resourceVersion every set rebuilds', () => {
    const registry = new ChainRegistry();
    const first = registry.set(chainObject('c1', { a: [] }));
    const events = record(registry);
    const second = registry.set(chainObject('c1', { a: [] }));
    expect(second).not.toBe(first);
    expect(events).toHaveLength(1);
  });

  it('delete removes and emits only when something was removed', () => {
    const registry = new ChainRegistry();
    registry.set(chainObject('c1', { a: [] }, { namespace: 'ns' }));
    const events = record(registry);
    expect(registry.delete('ns', 'c1')).toBe(true);
    expect(registry.delete('ns', 'c1')).toBe(false);
    expect(registry.delete('other', 'x')).toBe(false);
    expect(events).toEqual([{ type: 'delete', namespace: 'ns', name: 'c1' }]);
    expect(registry.get('ns', 'c1')).toBeUndefined();
    expect(registry.size).toBe(0);
  });

  it('replaceAll emits only real differences', () => {
    const registry = new ChainRegistry();
    const keep = registry.set(chainObject('keep', { a: [] }, { namespace: 'ns', resourceVersion: '1' }));
    registry.set(chainObject('change', { a: [] }, { namespace: 'ns', resourceVersion: '1' }));
    registry.set(chainObject('gone', { a: [] }, { namespace: 'ns', resourceVersion: '1' }));
    const events = record(registry);
    registry.replaceAll([
      chainObject('keep', { a: [] }, { namespace: 'ns', resourceVersion: '1' }),
      chainObject('change', { a: ['b'], b: [] }, { namespace: 'ns', resourceVersion: '2' }),
      chainObject('new', { a: [] }, { namespace: 'other', resourceVersion: '1' }),
    ]);
    expect(events).toEqual([
      { type: 'set', namespace: 'ns', name: 'change' },
      { type: 'set', namespace: 'other', name: 'new' },
      { type: 'delete', namespace: 'ns', name: 'gone' },
    ]);
    expect(registry.get('ns', 'keep')).toBe(keep);
    expect(registry.get('ns', 'change')!.hasEdge('a', 'b')).toBe(true);
    expect(registry.has('ns', 'gone')).toBe(false);
    expect(registry.list().map((c) => c.key).sort()).toEqual(['ns/change', 'ns/keep', 'other/new']);
  });

  it('replaceAll with nothing empties the registry', () => {
    const registry = new ChainRegistry();
    registry.set(chainObject('x', { a: [] }, { namespace: 'ns' }));
    registry.set(chainObject('y', { a: [] }, { namespace: 'ns' }));
    const events = record(registry);
    registry.replaceAll([]);
    expect(registry.size).toBe(0);
    expect(events.map((e) => e.type)).toEqual(['delete', 'delete']);
  });

  it('listeners can unsubscribe', () => {
    const registry = new ChainRegistry();
    const events: ChainChange[] = [];
    const off = registry.onChange((change) => events.push(change));
    registry.set(chainObject('a', { a: [] }));
    off();
    registry.set(chainObject('b', { a: [] }));
    registry.delete('kcm-system', 'a');
    expect(events).toEqual([{ type: 'set', namespace: 'kcm-system', name: 'a' }]);
  });

  it('loads v1alpha1 and v1beta1 objects the same way', () => {
    const spec = {
      supportedTemplates: [
        { name: 'a', availableUpgrades: [{ name: 'b', version: '1.2.3' }] },
        { name: 'b', availableUpgrades: [] },
      ],
    };
    const raw = (apiVersion: string) =>
      parseChain({
        apiVersion: `k0rdent.mirantis.com/${apiVersion}`,
        kind: 'ServiceTemplateChain',
        metadata: { name: `chain-${apiVersion}`, namespace: 'ns', resourceVersion: '5' },
        spec,
      });
    const registry = new ChainRegistry();
    const alpha = registry.set(raw('v1alpha1'));
    const beta = registry.set(raw('v1beta1'));
    expect(alpha).not.toBe(beta);
    expect(alpha.edges()).toEqual([['a', 'b']]);
    expect(beta.edges()).toEqual(alpha.edges());
    expect(beta.templates()).toEqual(alpha.templates());
    expect(beta.validation).toEqual(alpha.validation);
    expect(beta.reachableUpgrades('a')).toEqual(alpha.reachableUpgrades('a'));
    expect(beta.supportedTemplates).toEqual(alpha.supportedTemplates);
  });

  it('keeps a well-formed spec as it is instead of copying it', () => {
    const object = chainObject('shared', { a: ['b'], b: [] });
    expect(parseChain(object).spec!.supportedTemplates).toBe(object.spec!.supportedTemplates);
  });

  it('normalises a spec with nulls into a fresh copy, leaving the object untouched', () => {
    const object = { metadata: { name: 'n', namespace: 'ns' }, spec: { supportedTemplates: [{ name: 'a', availableUpgrades: [{ name: 'b', version: null }] }, { name: 'b', availableUpgrades: null }] } };
    const before = structuredClone(object);
    const parsed = parseChain(object).spec!.supportedTemplates!;
    expect(parsed).toEqual([{ name: 'a', availableUpgrades: [{ name: 'b' }] }, { name: 'b', availableUpgrades: [] }]);
    expect(object).toEqual(before);
    expect(LoadedChain.fromObject(parseChain(object)).hasEdge('a', 'b')).toBe(true);
  });

  it('still refuses malformed specs with the path of the problem', () => {
    const bad = (supportedTemplates: unknown) => () => parseChain({ metadata: { name: 'n' }, spec: { supportedTemplates } });
    expect(bad([{ name: 'a', availableUpgrades: [{ name: 7 }] }])).toThrow('spec.supportedTemplates[0].availableUpgrades[0].name must be a string');
    expect(bad([{ name: 'a' }, { name: '' }])).toThrow('spec.supportedTemplates[1].name is required');
    expect(bad([{ name: 'a', availableUpgrades: [{ name: 'b', version: 1 }] }])).toThrow('spec.supportedTemplates[0].availableUpgrades[0].version must be a string');
    expect(bad([{ name: 'a', availableUpgrades: 'b' }])).toThrow('spec.supportedTemplates[0].availableUpgrades must be a list');
    expect(bad(['a'])).toThrow('spec.supportedTemplates[0] must be an object');
  });
});

describe('renderChains', () => {
  const chain = templateChain({ a: ['b'], b: [] }, 'demo', 'ns');
  const invalid = templateChain({ x: ['y'] }, 'broken', 'ns');

  it('draws Mermaid subgraphs with every edge and marks invalid chains', () => {
    const text = renderChains([chain, invalid], 'mermaid');
    const lines = text.split('\n');
    expect(lines[0]).toBe('flowchart LR');
    expect(text).toContain('subgraph c0["ns/demo"]');
    expect(text).toContain('subgraph c1["ns/broken (invalid)"]');
    expect(text).toContain('n0["a"]');
    expect(text).toContain('n1["b"]');
    expect(text).toContain('n0 --> n1');
    expect(lines.filter((l) => l.includes('-->'))).toHaveLength(2);
  });

  it('draws Graphviz dot with quoted node ids', () => {
    const text = renderChains([chain], 'dot');
    expect(text.startsWith('digraph chains {')).toBe(true);
    expect(text.trimEnd().endsWith('}')).toBe(true);
    expect(text).toContain('"ns/demo/a" -> "ns/demo/b";');
    expect(text).toContain('label="ns/demo";');
  });

  it('escapes quotes', () => {
    const odd = templateChain({ 'a"b': [] }, 'q', 'ns');
    expect(renderChains([odd], 'dot')).toContain('[label="a\\"b"]');
    expect(renderChains([odd], 'mermaid')).toContain('["a#quot;b"]');
  });
});
