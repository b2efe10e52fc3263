// chaingate against kcm's own code (kcm v1.11.4, through test/kcm's harness), not against a
// model of it: random chains with and without versions, cycles, semver and non-semver
// versions. Checked: a chain's validity (kcm's TemplateChainSpec.IsValid), the upgrade paths
// chaingate's sequential simulation starts from (kcm's UpgradePaths, compared as sets: kcm
// returns them in Go map order), and semver parsing and order (Masterminds semver v3.5.0).
//
// Deliberate differences, named where they are excluded:
// - a supported template listed twice: chaingate refuses the chain, kcm's IsValid does not
//   look (kcm's map keeps the last listing; the v1beta1 CRD makes the list a map anyway);
// - step order within a path: kcm sorts steps by version *string* (so 4.10.0 comes before
//   4.9.0); chaingate keeps them in the order the path takes them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { startKcmHarness, type KcmHarness, type KcmTemplateChainSpec } from '../kcm/harness.ts';
import { validateChainSpec } from '../../src/graph/chain-validation.ts';
import { kcmUpgradePaths, pathEntries } from '../../src/graph/kcm-paths.ts';
import { compareSemVer, parseSemVer } from '../../src/model/semver.ts';

const RUNS = Number(process.env.KCM_DIFF_RUNS ?? 400);
let kcm: KcmHarness;

beforeAll(async () => {
  kcm = await startKcmHarness();
}, 1_800_000);

afterAll(async () => {
  await kcm?.close();
});

const NAMES = ['t0', 't1', 't2', 't3', 't4', 't5', 'ghost'];
const VERSIONS = ['1.0.0', '1.1.0', '1.2.0', '1.10.0', '1.9.0', '2.0.0-rc.1', 'v1.2', '1', 'latest', 't3', ''];

/** Random chains: unique supported templates (see the named difference), any edges, versions on all, none or some entries. */
const chain: fc.Arbitrary<KcmTemplateChainSpec> = fc
  .uniqueArray(fc.constantFrom(...NAMES.slice(0, 6)), { minLength: 1, maxLength: 6 })
  .chain((names) =>
    fc.record({
      supportedTemplates: fc.tuple(
        ...names.map((name) =>
          fc.record({
            name: fc.constant(name),
            availableUpgrades: fc.array(
              fc.record({ name: fc.constantFrom(...NAMES), version: fc.option(fc.constantFrom(...VERSIONS), { nil: undefined }) }).map((u) =>
                u.version === undefined ? { name: u.name } : { name: u.name, version: u.version },
              ),
              { maxLength: 4 },
            ),
          }),
        ),
      ),
    }),
  );

/** A path as a comparable string: its entries as name@version (version defaulted), in kcm's step order. */
const kcmKey = (steps: Array<{ name: string; version: string }>) =>
  [...steps]
    .map((s) => `${s.name}@${s.version}`)
    .sort()
    .join(' ');

describe("kcm v1.11.4's own code against chaingate", () => {
  it('agrees on validity: the mixed-version rule and upgrade targets outside supportedTemplates', async () => {
    let invalid = 0;
    await fc.assert(
      fc.asyncProperty(chain, async (spec) => {
        const theirs = await kcm.isValid(spec);
        const ours = validateChainSpec(spec.supportedTemplates);
        expect(ours.valid, JSON.stringify({ spec, theirs, ours })).toBe(theirs.ok);
        if (!ours.valid) invalid++;
      }),
      { numRuns: RUNS },
    );
    expect(invalid).toBeGreaterThan(0); // the generator does reach both answers
  }, 300_000);

  it('names the one validity difference: a template listed twice', async () => {
    const spec = { supportedTemplates: [{ name: 'a', availableUpgrades: [{ name: 'b' }] }, { name: 'b' }, { name: 'a' }] };
    expect((await kcm.isValid(spec)).ok).toBe(true);
    expect(validateChainSpec(spec.supportedTemplates).valid).toBe(false);
  });

  it("finds kcm's upgrade paths, per destination the same longest path, as sets", async () => {
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(chain, fc.constantFrom(...NAMES), async (spec, from) => {
        const theirs = await kcm.upgradePaths(spec, from);
        const ours = kcmUpgradePaths(spec.supportedTemplates, from);
        if ('error' in theirs) {
          expect(ours, theirs.error).toBeUndefined();
          return;
        }
        expect(ours, `kcm found paths from ${from}`).toBeDefined();
        const kcmPaths = theirs.paths.map((p) => kcmKey(p.versions)).sort();
        const ourPaths = ours!.map((p) => kcmKey(pathEntries(p).map((e) => ({ name: e.name, version: e.version })))).sort();
        expect(ourPaths, JSON.stringify({ spec, from })).toEqual(kcmPaths);
        compared++;
      }),
      { numRuns: RUNS },
    );
    expect(compared).toBeGreaterThan(RUNS / 3);
  }, 300_000);

  it('names the order difference: kcm sorts a path by version text, chaingate keeps walk order', async () => {
    const spec = { supportedTemplates: [{ name: 'a', availableUpgrades: [{ name: 'b', version: '4.9.0' }] }, { name: 'b', availableUpgrades: [{ name: 'c', version: '4.10.0' }] }, { name: 'c' }] };
    const theirs = await kcm.upgradePaths(spec, 'a');
    if ('error' in theirs) throw new Error(theirs.error);
    const toC = theirs.paths.find((p) => p.versions.some((v) => v.name === 'c'))!;
    expect(toC.versions.map((v) => v.version)).toEqual(['4.10.0', '4.9.0']);
    const ours = kcmUpgradePaths(spec.supportedTemplates, 'a')!.find((p) => p.destination === 'c')!;
    expect(pathEntries(ours).map((e) => e.version)).toEqual(['4.9.0', '4.10.0']);
  });

  it('parses and orders versions exactly as Masterminds semver v3.5.0 does', async () => {
    const part = fc.oneof(fc.constantFrom('0', '1', '2', '10', '01', '007', '18446744073709551615', '18446744073709551616'), fc.nat(30).map(String));
    const pre = fc.array(fc.oneof(fc.constantFrom('alpha', 'beta', 'rc', '0', '1', '11', '01', '-', 'x-1', ''), fc.nat(12).map(String)), { minLength: 1, maxLength: 3 }).map((p) => p.join('.'));
    const version = fc.oneof(
      { weight: 5, arbitrary: fc.tuple(fc.constantFrom('', 'v', 'V'), fc.array(part, { minLength: 1, maxLength: 4 }), fc.option(pre), fc.option(fc.constantFrom('build', 'b.1', 'x..y', ''))).map(([v, nums, p, b]) => `${v}${nums.join('.')}${p === null ? '' : `-${p}`}${b === null ? '' : `+${b}`}`) },
      { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
      { weight: 1, arbitrary: fc.constantFrom('', ' 1.0.0', '1.0.0 ', `1.0.0-${'a'.repeat(260)}`, `v${'1'.repeat(255)}`, '1.2.3\n') },
    );
    await fc.assert(
      fc.asyncProperty(version, version, async (a, b) => {
        const theirs = await kcm.semver(a, b);
        const x = parseSemVer(a);
        const y = parseSemVer(b);
        expect(x !== undefined, `NewVersion(${JSON.stringify(a)})`).toBe(theirs.aValid);
        expect(y !== undefined, `NewVersion(${JSON.stringify(b)})`).toBe(theirs.bValid);
        if (x && y) expect(compareSemVer(x, y), `${a} vs ${b}`).toBe(theirs.compare);
      }),
      { numRuns: RUNS * 5 },
    );
  }, 300_000);
});
