// decide() against a small, independent reference model of SPEC's admission rules: plain
// adjacency sets and a hand-written BFS, no code from src/graph.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { decide } from '../../src/rules/decide.ts';
import type { AdmissionInput, UpgradePolicy } from '../../src/rules/types.ts';
import { ChainRegistry } from '../../src/graph/chain-registry.ts';
import { LoadedChain } from '../../src/graph/loaded-chain.ts';
import type { OwnerKind, ServiceTemplateChain } from '../../src/model/resources.ts';
import { chainObject, options, owner } from '../support/builders.ts';

// ---------------------------------------------------------------------------------------
// Reference model
// ---------------------------------------------------------------------------------------

/** A chain as listed: supported entries in order, each with its upgrade targets. */
type ModelChain = Array<{ name: string; upgrades: string[] }>;

interface ModelService {
  name: string;
  namespace?: string;
  template: string;
  templateChain?: string;
}

function modelValid(chain: ModelChain): boolean {
  const names = chain.map((t) => t.name);
  if (new Set(names).size !== names.length) return false;
  return chain.every((t) => t.upgrades.every((u) => names.includes(u)));
}

function adjacency(chain: ModelChain): Map<string, Set<string>> {
  const adj = new Map<string, Set<string>>();
  for (const t of chain) {
    const out = adj.get(t.name) ?? new Set<string>();
    for (const u of t.upgrades) out.add(u);
    adj.set(t.name, out);
  }
  return adj;
}

/** Distances from `from` to every node reachable in one or more steps (plain BFS). */
function distancesFrom(adj: Map<string, Set<string>>, from: string): Map<string, number> {
  const dist = new Map<string, number>([[from, 0]]);
  let frontier = [from];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const node of frontier) {
      for (const u of adj.get(node) ?? []) {
        if (dist.has(u)) continue;
        dist.set(u, dist.get(node)! + 1);
        next.push(u);
      }
    }
    frontier = next;
  }
  dist.delete(from);
  return dist;
}

/** Distances from every node to `to`, on the reversed graph. */
function distancesTo(adj: Map<string, Set<string>>, to: string): Map<string, number> {
  const reversed = new Map<string, Set<string>>();
  for (const [from, outs] of adj) {
    for (const u of outs) {
      if (!reversed.has(u)) reversed.set(u, new Set());
      reversed.get(u)!.add(from);
    }
  }
  const dist = distancesFrom(reversed, to);
  dist.set(to, 0);
  return dist;
}

/** The lexicographically smallest among the shortest paths, built greedily. */
function lexSmallestShortestPath(adj: Map<string, Set<string>>, from: string, to: string): string[] | undefined {
  const toDest = distancesTo(adj, to);
  const length = distancesFrom(adj, from).get(to);
  if (length === undefined) return undefined;
  const path: string[] = [];
  let node = from;
  for (let remaining = length; remaining > 0; remaining--) {
    const candidates = [...(adj.get(node) ?? [])].filter((u) => toDest.get(u) === remaining - 1 && u !== from).sort();
    node = candidates[0]!;
    path.push(node);
  }
  return path;
}

const keyOf = (s: ModelService) => `${s.namespace || 'default'}/${s.name}`;

/** Offending service keys according to SPEC rules 1-5. */
function modelOffenders(
  oldServices: ModelService[],
  newServices: ModelService[],
  chains: Map<string, ModelChain>,
  policy: UpgradePolicy,
): Set<string> {
  const bad = new Set<string>();
  const counts = new Map<string, number>();
  for (const s of newServices) counts.set(keyOf(s), (counts.get(keyOf(s)) ?? 0) + 1);
  const usable = (chainName: string | undefined): ModelChain | undefined => {
    if (!chainName) return undefined;
    const chain = chains.get(chainName);
    return chain && modelValid(chain) ? chain : undefined;
  };
  const supports = (chain: ModelChain, template: string) => chain.some((t) => t.name === template);
  for (const s of newServices) {
    const key = keyOf(s);
    if (counts.get(key)! > 1) {
      bad.add(key);
      continue;
    }
    const before = oldServices.find((o) => keyOf(o) === key);
    if (!before) {
      // Rule 2.
      if (s.templateChain) {
        const chain = usable(s.templateChain);
        if (!chain || !supports(chain, s.template)) bad.add(key);
      }
      continue;
    }
    const templateChanged = before.template !== s.template;
    const chainChanged = (before.templateChain ?? '') !== (s.templateChain ?? '');
    if (templateChanged) {
      // Rule 3.
      const chain = usable(s.templateChain);
      if (!chain) {
        bad.add(key);
        continue;
      }
      const adj = adjacency(chain);
      const ok =
        policy === 'edge'
          ? (adj.get(before.template)?.has(s.template) ?? false)
          : distancesFrom(adj, before.template).has(s.template);
      if (!ok) bad.add(key);
    } else if (chainChanged && s.templateChain) {
      // Rule 4 (removing the chain is allowed).
      const chain = usable(s.templateChain);
      if (!chain || !supports(chain, s.template)) bad.add(key);
    }
  }
  return bad;
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

const ALPHABET = ['a', 'b', 'c', 'd', 'e'];
const CHAIN_NAMES = ['c0', 'c1', 'c2'];
/** c3 is never defined: a missing chain. */
const CHAIN_REFS = [...CHAIN_NAMES, 'c3'];

/** Chains that are usually valid: unique supported names, targets among them. */
const validishChain: fc.Arbitrary<ModelChain> = fc
  .uniqueArray(fc.constantFrom(...ALPHABET), { minLength: 1, maxLength: 5 })
  .chain((names) =>
    fc.tuple(...names.map((name) => fc.array(fc.constantFrom(...names), { maxLength: 3 }).map((upgrades) => ({ name, upgrades })))),
  );

/** Anything: repeated supported names, targets outside the chain. */
const anyChain: fc.Arbitrary<ModelChain> = fc.array(
  fc.record({ name: fc.constantFrom(...ALPHABET), upgrades: fc.array(fc.constantFrom(...ALPHABET, 'x'), { maxLength: 3 }) }),
  { maxLength: 5 },
);

const chainArb = fc.oneof({ arbitrary: validishChain, weight: 4 }, { arbitrary: anyChain, weight: 1 });

/** Each chain name maps to a chain or is left undefined (missing). */
const chainsArb: fc.Arbitrary<Map<string, ModelChain>> = fc
  .tuple(...CHAIN_NAMES.map(() => fc.option(chainArb, { freq: 5 })))
  .map((list) => {
    const chains = new Map<string, ModelChain>();
    list.forEach((chain, i) => {
      if (chain) chains.set(CHAIN_NAMES[i]!, chain);
    });
    return chains;
  });

const namespaceArb = fc.constantFrom<string | undefined>(undefined, '', 'default', 'x');
const templateArb = fc.constantFrom(...ALPHABET, 'q');
const chainRefArb = fc.constantFrom<string | undefined>(undefined, ...CHAIN_REFS);

const serviceArb: fc.Arbitrary<ModelService> = fc
  .record({ name: fc.constantFrom('s0', 's1', 's2'), namespace: namespaceArb, template: templateArb, templateChain: chainRefArb })
  .map(clean);

function clean(s: ModelService): ModelService {
  const out: ModelService = { name: s.name, template: s.template };
  if (s.namespace !== undefined) out.namespace = s.namespace;
  if (s.templateChain !== undefined) out.templateChain = s.templateChain;
  return out;
}

type Mutation = 'keep' | 'template' | 'chain' | 'both' | 'drop' | 'respell';

/** Old services (unique keys, as an admitted object has) and a mutated new list. */
const changeArb = fc
  .uniqueArray(serviceArb, { selector: keyOf, maxLength: 4 })
  .chain((oldServices) =>
    fc.record({
      oldServices: fc.constant(oldServices),
      mutations: fc.tuple(
        ...oldServices.map(() =>
          fc.record({
            op: fc.constantFrom<Mutation>('keep', 'template', 'chain', 'both', 'drop', 'respell'),
            template: templateArb,
            chain: chainRefArb,
            namespace: namespaceArb,
          }),
        ),
      ),
      added: fc.array(serviceArb, { maxLength: 2 }),
      shuffle: fc.boolean(),
    }),
  )
  .map(({ oldServices, mutations, added, shuffle }) => {
    const newServices: ModelService[] = [];
    oldServices.forEach((s, i) => {
      const m = mutations[i]!;
      switch (m.op) {
        case 'keep':
          newServices.push({ ...s });
          break;
        case 'template':
          newServices.push(clean({ ...s, template: m.template }));
          break;
        case 'chain':
          newServices.push(clean({ ...s, templateChain: m.chain }));
          break;
        case 'both':
          newServices.push(clean({ ...s, template: m.template, templateChain: m.chain }));
          break;
        case 'respell': {
          // Same key, namespace written differently when it is the default one.
          const namespace = (s.namespace || 'default') === 'default' ? m.namespace : s.namespace;
          const respelled = (namespace || 'default') === (s.namespace || 'default') ? namespace : s.namespace;
          newServices.push(clean({ ...s, namespace: respelled }));
          break;
        }
        case 'drop':
          break;
      }
    });
    newServices.push(...added);
    if (shuffle) newServices.reverse();
    return { oldServices, newServices };
  });

// ---------------------------------------------------------------------------------------
// Wiring the model's inputs into src
// ---------------------------------------------------------------------------------------

/** The model's chain as an object; its status claims validity, which must never matter. */
function modelChainObject(name: string, namespace: string, chain: ModelChain): ServiceTemplateChain {
  return chainObject(name, chain.map((t) => [t.name, t.upgrades] as const), { namespace, status: { valid: true } });
}

/** Real chains go where `kind` looks them up; decoys with the same names elsewhere. */
function registryFor(kind: OwnerKind, chains: Map<string, ModelChain>): ChainRegistry {
  const registry = new ChainRegistry();
  const home = kind === 'MultiClusterService' ? 'kcm-system' : 'team-a';
  const decoy = kind === 'MultiClusterService' ? 'team-a' : 'kcm-system';
  for (const name of [...CHAIN_NAMES, 'c3']) {
    // Decoys allow everything between every template: they must never be used.
    registry.set(modelChainObject(name, decoy, ALPHABET.concat('q').map((t) => ({ name: t, upgrades: ALPHABET.concat('q') }))));
  }
  for (const [name, chain] of chains) registry.set(modelChainObject(name, home, chain));
  return registry;
}

function offendingKeysOf(message: string): string[] {
  return message.split('\n').map((line) => {
    const match = /^service (\S+) /.exec(line);
    expect(match, `unexpected line: ${line}`).not.toBeNull();
    return match![1]!;
  });
}

const policyArb = fc.constantFrom<UpgradePolicy>('edge', 'reachable');
const kindArb = fc.constantFrom<OwnerKind>('ClusterDeployment', 'MultiClusterService');

describe('decide() agrees with the reference model', () => {
  it('UPDATE and CREATE: allowed/denied and the offending services, both policies', () => {
    fc.assert(
      fc.property(chainsArb, changeArb, policyArb, kindArb, fc.boolean(), (chains, change, policy, kind, isCreate) => {
        const oldServices = isCreate ? [] : change.oldServices;
        const before = owner(kind, oldServices, { spec: { template: 'cluster-a' } });
        const after = owner(kind, change.newServices, { spec: { template: 'cluster-b' }, labels: { changed: 'yes' } });
        const input: AdmissionInput = isCreate
          ? { operation: 'CREATE', namespace: kind === 'ClusterDeployment' ? 'team-a' : '', name: 'demo', object: after, oldObject: undefined }
          : { operation: 'UPDATE', namespace: kind === 'ClusterDeployment' ? 'team-a' : '', name: 'demo', object: after, oldObject: before };

        const decision = decide(kind, input, { chains: registryFor(kind, chains) }, options({ policy }));
        const expected = modelOffenders(oldServices, change.newServices, chains, policy);

        expect(decision.allowed).toBe(expected.size === 0);
        if (decision.allowed) {
          expect(decision.message).toBeUndefined();
          return;
        }
        expect(decision.code).toBe(403);
        const keys = offendingKeysOf(decision.message!);
        // One line per offending service, sorted, and exactly the model's set.
        expect(keys).toEqual([...expected].sort());
      }),
      { numRuns: 600 },
    );
  });

  it('the edge policy never allows more than the reachable policy', () => {
    fc.assert(
      fc.property(chainsArb, changeArb, kindArb, (chains, change, kind) => {
        const input: AdmissionInput = {
          operation: 'UPDATE',
          namespace: kind === 'ClusterDeployment' ? 'team-a' : '',
          name: 'demo',
          object: owner(kind, change.newServices),
          oldObject: owner(kind, change.oldServices),
        };
        const registry = registryFor(kind, chains);
        const edge = decide(kind, input, { chains: registry }, options({ policy: 'edge' }));
        const reachable = decide(kind, input, { chains: registry }, options({ policy: 'reachable' }));
        if (edge.allowed) expect(reachable.allowed).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('an unchanged object is always allowed unless it lists a service twice (rule 1, rule 5)', () => {
    fc.assert(
      fc.property(chainsArb, fc.array(serviceArb, { maxLength: 5 }), policyArb, kindArb, (chains, services, policy, kind) => {
        const object = owner(kind, services);
        const input: AdmissionInput = { operation: 'UPDATE', namespace: 'team-a', name: 'demo', object, oldObject: object };
        const decision = decide(kind, input, { chains: registryFor(kind, chains) }, options({ policy }));
        const unique = new Set(services.map(keyOf)).size === services.length;
        expect(decision.allowed).toBe(unique);
      }),
      { numRuns: 200 },
    );
  });
});

describe('reachableUpgrades against an independent BFS', () => {
  it('lists exactly the reachable templates, along shortest, lexicographically smallest paths of real edges', () => {
    fc.assert(
      fc.property(chainArb, fc.constantFrom(...ALPHABET, 'x'), (chain, from) => {
        const graph = LoadedChain.fromObject(modelChainObject('p', 'ns', chain));
        const adj = adjacency(chain);
        const dist = distancesFrom(adj, from);
        const reachable = graph.reachableUpgrades(from);

        expect(reachable.map((r) => r.destination).sort()).toEqual([...dist.keys()].sort());
        for (const { destination, path } of reachable) {
          expect(path.at(-1)).toBe(destination);
          expect(path.length).toBe(dist.get(destination));
          [from, ...path].slice(1).forEach((step, i) => {
            const previous = [from, ...path][i]!;
            expect(adj.get(previous)?.has(step), `${previous} -> ${step}`).toBe(true);
          });
          expect(path).toEqual(lexSmallestShortestPath(adj, from, destination));
          expect(graph.shortestPath(from, destination)).toEqual(path);
          expect(graph.isReachable(from, destination)).toBe(true);
        }
        // Ordered by path length, then destination.
        for (let i = 1; i < reachable.length; i++) {
          const a = reachable[i - 1]!;
          const b = reachable[i]!;
          expect(a.path.length < b.path.length || (a.path.length === b.path.length && a.destination < b.destination)).toBe(true);
        }
        // directUpgrades: sorted out-neighbours without self.
        expect(graph.directUpgrades(from)).toEqual([...(adj.get(from) ?? [])].filter((u) => u !== from).sort());
        expect(graph.valid).toBe(modelValid(chain));
      }),
      { numRuns: 400 },
    );
  });

  it('on larger random graphs too', () => {
    const nodes = Array.from({ length: 12 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    const bigChain = fc
      .tuple(...nodes.map((name) => fc.uniqueArray(fc.constantFrom(...nodes), { maxLength: 4 }).map((upgrades) => ({ name, upgrades }))))
      .map((list) => list as ModelChain);
    fc.assert(
      fc.property(bigChain, fc.constantFrom(...nodes), (chain, from) => {
        const graph = LoadedChain.fromObject(modelChainObject('p', 'ns', chain));
        const adj = adjacency(chain);
        const dist = distancesFrom(adj, from);
        const reachable = graph.reachableUpgrades(from);
        expect(reachable).toHaveLength(dist.size);
        for (const { destination, path } of reachable) {
          expect(path.length).toBe(dist.get(destination));
          expect(path).toEqual(lexSmallestShortestPath(adj, from, destination));
        }
      }),
      { numRuns: 300 },
    );
  });
});
