// kcm's path search on chains deeper than the JavaScript call stack: kcm recurses, chaingate
// walks the same depth-first order on its own stack, so a long generated release train is
// searched (and decided) rather than crashing the webhook with a RangeError.
import { describe, expect, it } from 'vitest';
import { kcmUpgradePaths, pathEntries } from '../../../src/graph/kcm-paths.ts';
import type { SupportedTemplate } from '../../../src/model/resources.ts';

const train = (n: number): SupportedTemplate[] =>
  Array.from({ length: n }, (_, i) => ({
    name: `t-${i}`,
    ...(i + 1 < n ? { availableUpgrades: [{ name: `t-${i + 1}`, version: `1.${i + 1}.0` }] } : {}),
  }));

describe('kcm path search depth', () => {
  it('searches a 20,000-release line from its first template: every later release, along the line', () => {
    const paths = kcmUpgradePaths(train(20_000), 't-0')!;
    expect(paths).toHaveLength(19_999);
    const last = paths.find((p) => p.destination === 't-19999')!;
    const entries = pathEntries(last);
    expect(entries).toHaveLength(19_999);
    expect(entries[0]).toEqual({ name: 't-1', version: '1.1.0', declaredVersion: '1.1.0' });
    expect(entries.at(-1)!.name).toBe('t-19999');
  });

  it('keeps kcm order on a branching chain: destinations as first reached depth-first, the longest path kept', () => {
    const chain: SupportedTemplate[] = [
      { name: 'a', availableUpgrades: [{ name: 'c' }, { name: 'b' }] },
      { name: 'b', availableUpgrades: [{ name: 'c' }] },
      { name: 'c' },
    ];
    const paths = kcmUpgradePaths(chain, 'a')!;
    expect(paths.map((p) => [p.destination, pathEntries(p).map((e) => e.name)])).toEqual([
      ['c', ['b', 'c']],
      ['b', ['b']],
    ]);
  });
});

describe('reachable destinations', () => {
  it("are reachableUpgrades' destinations in its order, on a branching chain with a cycle", async () => {
    const { LoadedChain } = await import('../../../src/graph/loaded-chain.ts');
    const chain = new LoadedChain('ns', 'c', [
      { name: 'a', availableUpgrades: [{ name: 'd' }, { name: 'b' }] },
      { name: 'b', availableUpgrades: [{ name: 'c' }, { name: 'a' }] },
      { name: 'c', availableUpgrades: [{ name: 'e' }] },
      { name: 'd', availableUpgrades: [{ name: 'c' }] },
      { name: 'e' },
    ]);
    for (const from of ['a', 'b', 'c', 'd', 'e']) {
      expect(chain.reachableDestinations(from)).toEqual(chain.reachableUpgrades(from).map((r) => r.destination));
    }
    expect(chain.reachableDestinations('a').slice(0, 2)).toEqual(['b', 'd']);
  });
});
