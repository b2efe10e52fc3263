// The kcm harness (test/kcm/harness.ts) answers with kcm's own code: these cases pin what kcm
// v1.11.4's TemplateChainSpec.IsValid / UpgradePaths (api/v1beta1/templatechain_common.go) and
// Masterminds/semver v3.5.0 do, read from their source, so a comparison test built on the harness
// compares chaingate with the behaviour stated here. The first run builds the harness (minutes).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKcmHarness, type KcmHarness, type KcmTemplateChainSpec, type KcmUpgradePathsResult } from '../kcm/harness.ts';

let kcm: KcmHarness;
beforeAll(async () => {
  kcm = await startKcmHarness();
}, 1_800_000);
afterAll(async () => {
  await kcm?.close();
});

/** name -> its upgrades; a string is a name without a version, a pair is [name, version]. */
const chain = (upgrades: Record<string, (string | [string, string])[]>): KcmTemplateChainSpec => ({
  supportedTemplates: Object.entries(upgrades).map(([name, ups]) => ({
    name,
    availableUpgrades: ups.map((u) => (typeof u === 'string' ? { name: u } : { name: u[0], version: u[1] })),
  })),
});

const pathsOf = (res: KcmUpgradePathsResult): [string, string][][] => {
  if (!('paths' in res)) throw new Error(`kcm answered ${res.error}`);
  return res.paths.map((p) => p.versions.map((v) => [v.name, v.version]));
};
const key = (path: [string, string][]): string => JSON.stringify(path);
const asSet = (res: KcmUpgradePathsResult): string[] => pathsOf(res).map(key).sort();

describe('kcm harness: build and protocol', () => {
  it('links the kcm release and semver library go.mod names', () => {
    expect(kcm.kcmVersion).toBe('v1.11.4');
    expect(kcm.versions.modules['github.com/K0rdent/kcm']).toBe('v1.11.4');
    // kcm v1.11.4's go.mod requires Masterminds/semver/v3 v3.5.0; nothing in the graph raises it.
    expect(kcm.versions.modules['github.com/Masterminds/semver/v3']).toBe('v3.5.0');
  });

  it('answers 200 pipelined requests in order', async () => {
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        i % 2 === 0
          ? kcm.isValid(chain({ a: [`t${i}`] })).then((r) => r.warnings[0])
          : kcm.semver(`1.${i}`, '1.100').then((r) => r.compare),
      ),
    );
    expect(answers).toHaveLength(200);
    answers.forEach((answer, i) => {
      if (i % 2 === 0) expect(answer).toBe(`template t${i} is allowed for upgrade but is not present in the list of '.spec.supportedTemplates'`);
      else expect(answer).toBe(Math.sign(i - 100));
    });
  });

  it('answers a malformed line with an error and keeps going', async () => {
    const bad = kcm.raw('this is not json');
    const wrongType = kcm.raw('{"op":"isValid","spec":{"supportedTemplates":5}}');
    const unknownOp = kcm.raw('{"op":"nope"}');
    const next = kcm.isValid(chain({ a: ['b'], b: [] }));
    expect(await bad).toMatchObject({ error: expect.stringMatching(/^malformed request: /), malformed: true });
    expect(await wrongType).toMatchObject({ malformed: true });
    expect(await unknownOp).toMatchObject({ error: 'malformed request: unknown op "nope"', malformed: true });
    expect(await next).toEqual({ ok: true, warnings: [] });
  });
});

describe('kcm TemplateChainSpec.IsValid', () => {
  it('accepts a chain whose every upgrade target is supported and versioning is uniform', async () => {
    expect(await kcm.isValid(chain({ a: [['b', '1.0.0']], b: [] }))).toEqual({ ok: true, warnings: [] });
    expect(await kcm.isValid({ supportedTemplates: [] })).toEqual({ ok: true, warnings: [] });
  });

  it('rejects an upgrade target missing from supportedTemplates, with kcm warning text', async () => {
    expect(await kcm.isValid(chain({ a: ['b', 'zeta'], b: [] }))).toEqual({
      ok: false,
      warnings: ["template zeta is allowed for upgrade but is not present in the list of '.spec.supportedTemplates'"],
    });
  });

  it('rejects a template whose upgrades mix entries with and without version', async () => {
    expect(await kcm.isValid(chain({ a: ['b', ['c', '1.0.0']], b: [], c: [] }))).toEqual({
      ok: false,
      warnings: ['template a has mixed version/no-version available upgrades: either all or none should have version set'],
    });
  });

  it('reports each missing target once and sorts all warnings', async () => {
    const res = await kcm.isValid(chain({ x: ['m', ['k', '1']], y: ['m'] }));
    expect(res.ok).toBe(false);
    expect(res.warnings).toEqual([
      "template k is allowed for upgrade but is not present in the list of '.spec.supportedTemplates'",
      "template m is allowed for upgrade but is not present in the list of '.spec.supportedTemplates'",
      'template x has mixed version/no-version available upgrades: either all or none should have version set',
    ]);
  });
});

describe('kcm TemplateChainSpec.UpgradePaths', () => {
  it('keeps the longest path to each destination, versions defaulting to names', async () => {
    // A->{B,C}, B->C: DFS finds [B], [B,C], [C]; per destination the longest wins, so C is reached via B.
    const res = await kcm.upgradePaths(chain({ A: ['B', 'C'], B: ['C'], C: [] }), 'A');
    expect(asSet(res)).toEqual([key([['B', 'B']]), key([['B', 'B'], ['C', 'C']])].sort());
  });

  it('sorts the steps of a path by version string, not by the order they are taken', async () => {
    // A -> B@v2 -> C@v1: kcm's path to C is [B@v2, C@v1], then sorted by version: C first.
    const res = await kcm.upgradePaths(chain({ A: [['B', 'v2']], B: [['C', 'v1']], C: [] }), 'A');
    expect(asSet(res)).toEqual([key([['B', 'v2']]), key([['C', 'v1'], ['B', 'v2']])].sort());
  });

  it('follows a cycle back to the start: A->B, B->A gives a path to A itself', async () => {
    // visited marks templates on the current DFS path but is checked on entry, after the step to A
    // has already been recorded; the path [B, A] is then sorted to [A, B].
    const res = await kcm.upgradePaths(chain({ A: ['B'], B: ['A'] }), 'A');
    expect(asSet(res)).toEqual([key([['B', 'B']]), key([['A', 'A'], ['B', 'B']])].sort());
  });

  it("answers kcm's own error for a template the chain does not support", async () => {
    expect(await kcm.upgradePaths(chain({ A: ['B'], B: [] }), 'Z')).toEqual({ error: 'template Z not found' });
  });

  it('returns paths in Go map order, which varies between calls', async () => {
    // Observed with go1.26.8 (swiss-table maps): for a small map the iteration starts at a random
    // slot and wraps, so kcm's answers are rotations of the DFS order. For a->{b,c,d,e} 200 calls
    // gave b,c,d,e 127 times and c,d,e,b / d,e,b,c / e,b,c,d 18-30 times each (an empty slot as the
    // start yields the first entry: 5/8 of calls). P(one order in 200 calls) is below 1e-40.
    const spec = chain({ a: ['b', 'c', 'd', 'e'], b: [], c: [], d: [], e: [] });
    const answers = await Promise.all(Array.from({ length: 200 }, () => kcm.upgradePaths(spec, 'a')));
    const orders = new Set(answers.map((r) => pathsOf(r).map((p) => p.at(-1)![0]).join(',')));
    expect(orders.size).toBeGreaterThan(1);
    for (const order of orders) expect(order.split(',').sort()).toEqual(['b', 'c', 'd', 'e']);
  });
});

describe('Masterminds/semver v3.5.0 as kcm uses it (NewVersion, Compare)', () => {
  it.each([
    ['1.2', 'v1.2.0', true, true, 0], // partial versions pad with zeros; a lowercase v prefix is dropped
    ['1', '1.0.0', true, true, 0],
    ['01.02.03', '1.2.3', true, true, 0], // NewVersion coerces leading zeros in major.minor.patch
    ['1.2.3+build.1', '1.2.3+other', true, true, 0], // build metadata is ignored
    ['1.2.3-alpha', '1.2.3', true, true, -1], // a prerelease precedes its release
    ['1.2.3-alpha.2', '1.2.3-alpha.10', true, true, -1], // numeric identifiers compare as numbers
    ['1.2.3-alpha', '1.2.3-alpha.1', true, true, -1], // fewer identifiers first when a prefix
    ['1.2.3-1', '1.2.3-a', true, true, -1], // numeric before alphanumeric
    ['1.2-rc.1', '1.2.0-rc.1', true, true, 0], // a prerelease after a partial version
    ['1.2.3-01', '1.2.3', false, true, null], // leading zero in a numeric prerelease identifier
    ['V1.2.3', '1.2.3', false, true, null], // only a lowercase v
    ['', '1', false, true, null],
    ['1.2.3.4', '1', false, true, null],
    ['1.2.3-', '1', false, true, null],
    [`1.2.3+${'a'.repeat(250)}`, `1.2.3-${'a'.repeat(251)}`, true, false, null], // 256 bytes at most
  ] as const)('%s vs %s', async (a, b, aValid, bValid, compare) => {
    expect(await kcm.semver(a, b)).toEqual({ aValid, bValid, compare });
  });
});
