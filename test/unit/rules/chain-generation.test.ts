// `chain generate`'s pure core (src/rules/chain-generation.ts) and `chain diff`'s
// (src/rules/chain-diff.ts): the three modes, --from, --rollback, bad input; and property
// tests over random version sets: every generated chain is admitted by chaingate's own CREATE
// rules and by kcm's IsValid (kcm's code, through the harness), and every upward target along
// it is admitted under the `sequential` policy (kcm's walk lands on declared edges only).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decide } from '../../../src/rules/decide.ts';
import {
  ChainGenerationError,
  GENERATION_MODES,
  REPLACES_ANNOTATION,
  SKIPS_ANNOTATION,
  CHART_ANNOTATION,
  generateChains,
  readTemplate,
  type GenerateOptions,
  type GenerationMode,
  type TemplateFacts,
} from '../../../src/rules/chain-generation.ts';
import { affectedServices, diffChains, diffLines } from '../../../src/rules/chain-diff.ts';
import { ChainRegistry } from '../../../src/graph/chain-registry.ts';
import type { ServiceTemplateChain } from '../../../src/model/resources.ts';
import { admissionInput, clusterDeployment, options, registryOf, update } from '../../support/builders.ts';
import { startKcmHarness, type KcmHarness } from '../../kcm/harness.ts';

const NS = 'kcm-system';
const t = (name: string, version: string | undefined, extra: Partial<TemplateFacts> = {}): TemplateFacts => ({
  name,
  namespace: NS,
  chart: 'app',
  ...(version !== undefined ? { version } : {}),
  skips: [],
  source: 'test',
  ...extra,
});
const named = (version: string) => `app-${version.replace(/[.+]/g, '-')}`;
const tv = (version: string, extra: Partial<TemplateFacts> = {}) => t(named(version), version, extra);

/** from -> [to@version] of a chain, for compact expectations. */
function edges(chain: ServiceTemplateChain): Record<string, string[]> {
  return Object.fromEntries((chain.spec?.supportedTemplates ?? []).map((s) => [s.name, (s.availableUpgrades ?? []).map((u) => `${u.name}@${u.version}`)]));
}
const one = (templates: TemplateFacts[], opts: Partial<GenerateOptions> = {}) => {
  const result = generateChains(templates, { mode: 'semver', ...opts });
  expect(result.chains).toHaveLength(1);
  return { chain: result.chains[0]!, notes: result.notes };
};
const error = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChainGenerationError);
    return (err as Error).message;
  }
  throw new Error('expected a ChainGenerationError');
};

describe('readTemplate', () => {
  const object = (spec: unknown, annotations?: Record<string, string>) => ({ kind: 'ServiceTemplate', metadata: { name: 'x', namespace: NS, ...(annotations ? { annotations } : {}) }, spec });

  it("takes the chart name from chartSpec.chart, its last path segment for a Git source, the annotation before both", () => {
    expect(readTemplate(object({ helm: { chartSpec: { chart: 'ingress-nginx', version: '4.11.0' } } }), 's')).toEqual({ name: 'x', namespace: NS, chart: 'ingress-nginx', version: '4.11.0', skips: [], source: 's' });
    expect(readTemplate(object({ helm: { chartSpec: { chart: './charts/ingress-nginx/' } } }), 's')?.chart).toBe('ingress-nginx');
    expect(readTemplate(object({ helm: { chartSpec: { chart: 'a' } } }, { [CHART_ANNOTATION]: 'b' }), 's')?.chart).toBe('b');
    expect(readTemplate(object({ helm: { chartRef: { kind: 'HelmChart', name: 'nginx-4-11-0' } } }), 's')?.chart).toBeUndefined();
  });

  it('reads the version as kcm does (spec.version first), without its fallback to the name', () => {
    expect(readTemplate(object({ version: '1.0.0', helm: { chartSpec: { chart: 'a', version: '2.0.0' } } }), 's')?.version).toBe('1.0.0');
    expect(readTemplate(object({ helm: { chartSpec: { chart: 'a' } } }), 's')?.version).toBeUndefined();
  });

  it('reads replaces and a comma-separated skips list; other kinds are not templates', () => {
    const facts = readTemplate(object({}, { [REPLACES_ANNOTATION]: 'a', [SKIPS_ANNOTATION]: ' b, c ,,' }), 's');
    expect(facts).toMatchObject({ replaces: 'a', skips: ['b', 'c'] });
    expect(readTemplate({ kind: 'ServiceTemplateChain', metadata: { name: 'x' } }, 's')).toBeUndefined();
    expect(() => readTemplate({ kind: 'ServiceTemplate', metadata: {} }, 'f.yaml')).toThrow('f.yaml: a ServiceTemplate without metadata.name');
  });
});

describe('generateChains', () => {
  const set = ['1.0.0', '1.0.1', '1.0.2', '1.1.0-rc.1', '1.1.0', '2.0.0'].map((v) => tv(v));

  it('semver: each version upgrades to the next higher one, pre-releases in semver order, each entry versioned', () => {
    const { chain } = one([...set].reverse());
    expect(chain).toMatchObject({ apiVersion: 'k0rdent.mirantis.com/v1beta1', kind: 'ServiceTemplateChain', metadata: { name: 'app', namespace: NS } });
    expect(edges(chain)).toEqual({
      'app-1-0-0': ['app-1-0-1@1.0.1'],
      'app-1-0-1': ['app-1-0-2@1.0.2'],
      'app-1-0-2': ['app-1-1-0-rc-1@1.1.0-rc.1'],
      'app-1-1-0-rc-1': ['app-1-1-0@1.1.0'],
      'app-1-1-0': ['app-2-0-0@2.0.0'],
      'app-2-0-0': [],
    });
  });

  it('semver-skippatch: also straight to any higher patch of its own minor', () => {
    const { chain } = one(set, { mode: 'semver-skippatch' });
    expect(edges(chain)).toMatchObject({
      'app-1-0-0': ['app-1-0-1@1.0.1', 'app-1-0-2@1.0.2'],
      'app-1-0-1': ['app-1-0-2@1.0.2'],
      'app-1-1-0-rc-1': ['app-1-1-0@1.1.0'],
      'app-1-1-0': ['app-2-0-0@2.0.0'],
    });
  });

  it('replaces: the edges the annotations declare, nothing else', () => {
    const templates = [tv('1.0.0'), tv('1.0.1', { replaces: 'app-1-0-0' }), tv('1.1.0', { replaces: 'app-1-0-1', skips: ['app-1-0-0'] }), tv('2.0.0')];
    expect(edges(one(templates, { mode: 'replaces' }).chain)).toEqual({
      'app-1-0-0': ['app-1-0-1@1.0.1', 'app-1-1-0@1.1.0'],
      'app-1-0-1': ['app-1-1-0@1.1.0'],
      'app-1-1-0': [],
      'app-2-0-0': [],
    });
  });

  it('replaces: a target that is no template of the chart, or an edge that does not raise the version, is bad input', () => {
    expect(error(() => generateChains([tv('1.0.0', { replaces: 'ghost' })], { mode: 'replaces' }))).toBe('ServiceTemplate app-1-0-0 replaces ghost, which is not a ServiceTemplate of chart app');
    expect(error(() => generateChains([tv('1.0.0', { skips: ['app-1-1-0'] }), tv('1.1.0')], { mode: 'replaces' }))).toBe(
      'ServiceTemplate app-1-0-0 (1.0.0) skips app-1-1-0 (1.1.0): an upgrade must raise the version (kcm walks upwards only)',
    );
  });

  it('--from leaves older versions (and their edges) out; --rollback turns every edge round', () => {
    expect(Object.keys(edges(one(set, { from: '1.0.2' }).chain))).toEqual(['app-1-0-2', 'app-1-1-0-rc-1', 'app-1-1-0', 'app-2-0-0']);
    const { chain } = one(set.slice(0, 3), { rollback: true });
    expect(chain.metadata.name).toBe('app-rollback');
    expect(edges(chain)).toEqual({ 'app-1-0-2': ['app-1-0-1@1.0.1'], 'app-1-0-1': ['app-1-0-0@1.0.0'], 'app-1-0-0': [] });
    expect(error(() => generateChains(set, { mode: 'semver', from: '1.2' }))).toBe('--from "1.2" is not a semantic version (MAJOR.MINOR.PATCH)');
  });

  it('one chain per chart, or the chart --chart names; --name needs one chart', () => {
    const mixed = [...set, t('other-1', '0.1.0', { chart: 'other' })];
    expect(generateChains(mixed, { mode: 'semver' }).chains.map((c) => c.metadata.name)).toEqual(['app', 'other']);
    expect(generateChains(mixed, { mode: 'semver', chart: 'other', name: 'o' }).chains.map((c) => c.metadata.name)).toEqual(['o']);
    expect(error(() => generateChains(mixed, { mode: 'semver', name: 'x' }))).toBe('--name names one chain, but the templates are of 2 charts (app, other): pick one with --chart');
    expect(error(() => generateChains(mixed, { mode: 'semver', chart: 'nope' }))).toBe('no ServiceTemplate of chart nope in kcm-system (charts found: app, other)');
  });

  it('leaves out, with a note, versions that are not semver and templates without a chart name; nothing left is bad input', () => {
    const plain: TemplateFacts = { name: 'plain', namespace: NS, version: '1.0.0', skips: [], source: 'test' };
    const result = generateChains([tv('1.0.0'), t('app-latest', 'latest'), t('app-range', '>=1.0.0'), plain], { mode: 'semver' });
    expect(result.chains).toHaveLength(1);
    expect(result.notes).toEqual([
      'plain: no Helm chart name (spec.helm.chartSpec.chart, or the chaingate.k0rdent.mirantis.com/chart annotation); left out',
      'app-latest: version "latest" is not a semantic version; left out',
      'app-range: version ">=1.0.0" is not a semantic version; left out',
    ]);
    expect(error(() => generateChains([t('app-latest', 'latest')], { mode: 'semver' }))).toBe('no template is left to chain (see the notes above)');
  });

  it('refuses templates without versions, coerced versions (v1, 1.2), duplicate versions under two names, templates given twice', () => {
    expect(error(() => generateChains([t('app-a', undefined)], { mode: 'semver' }))).toBe(
      'ServiceTemplate app-a (test) has no version: set spec.version or spec.helm.chartSpec.version (kcm would fall back to the name, which orders nothing)',
    );
    expect(error(() => generateChains([t('app-v1', 'v1')], { mode: 'semver' }))).toBe('ServiceTemplate app-v1 (test): version "v1" is not a full semantic version (kcm reads it as 1.0.0); write it as 1.0.0');
    expect(error(() => generateChains([t('app-12', '1.2')], { mode: 'semver' }))).toContain('version "1.2" is not a full semantic version (kcm reads it as 1.2.0)');
    expect(error(() => generateChains([t('a', '1.0.0'), t('b', '1.0.0')], { mode: 'semver' }))).toBe(
      'ServiceTemplates a and b of chart app both have version 1.0.0: kcm finds a chain entry by its version, so one template per version',
    );
    expect(error(() => generateChains([t('a', '1.0.0+x'), t('b', '1.0.0+y')], { mode: 'semver' }))).toContain('both have version 1.0.0+x = 1.0.0+y');
    expect(error(() => generateChains([t('a', '1.0.0'), t('a', '1.0.1')], { mode: 'semver' }))).toBe('ServiceTemplate a is given twice (test, test)');
  });

  it("warns when kcm's path search would explode on the chain: twenty patches of one minor under semver-skippatch", () => {
    const patches = Array.from({ length: 20 }, (_, i) => tv(`1.0.${i}`));
    expect(generateChains(patches, { mode: 'semver' }).warnings).toEqual([]);
    expect(generateChains(patches.slice(0, 8), { mode: 'semver-skippatch' }).warnings).toEqual([]);
    // Turned round, the search explodes from the newest template instead.
    expect(generateChains(patches, { mode: 'semver-skippatch', rollback: true }).warnings[0]).toContain("kcm's path search from app-1-0-19 follows more than 200,000 paths");
    expect(generateChains(patches, { mode: 'semver-skippatch' }).warnings).toEqual([
      "ServiceTemplateChain app: kcm's path search from app-1-0-0 follows more than 200,000 paths in this chain, so kcm v1.6+ cannot walk it in reasonable time and chaingate's sequential policy refuses multi-step targets on it; use --mode semver, --from, or fewer skips",
    ]);
  });

  it('one namespace per chain: -n picks it when the templates span several', () => {
    const spread = [tv('1.0.0'), tv('1.0.1', { namespace: 'other' })];
    expect(error(() => generateChains(spread, { mode: 'semver' }))).toBe('ServiceTemplates of 2 namespaces (kcm-system, other): a chain lives in one, pick it with -n');
    expect(Object.keys(edges(generateChains(spread, { mode: 'semver', namespace: 'other' }).chains[0]!))).toEqual(['app-1-0-1']);
  });
});

describe('diffChains and affectedServices', () => {
  const chain = (name: string, e: Record<string, string[]>): ServiceTemplateChain => ({
    kind: 'ServiceTemplateChain',
    metadata: { name, namespace: NS },
    spec: { supportedTemplates: Object.entries(e).map(([from, to]) => ({ name: from, availableUpgrades: to.map((x) => ({ name: x, version: x.replace('v', '') })) })) },
  });
  const old = chain('old', { v1: ['v2'], v2: ['v3'], v3: [] });
  const next = chain('new', { v2: ['v3', 'v4'], v3: ['v4'], v4: [] });

  it('names templates and upgrades added and removed', () => {
    const diff = diffChains(old, next);
    expect(diff).toEqual({
      templatesAdded: ['v4'],
      templatesRemoved: ['v1'],
      upgradesAdded: [{ from: 'v2', to: 'v4', version: '4' }, { from: 'v3', to: 'v4', version: '4' }],
      upgradesRemoved: [{ from: 'v1', to: 'v2', version: '2' }],
      versionsChanged: [],
    });
    expect(diffLines('kcm-system/old', 'kcm-system/new', diff)).toEqual(['+ template v4', '- template v1', '+ upgrade v2 -> v4 (4)', '+ upgrade v3 -> v4 (4)', '- upgrade v1 -> v2 (2)']);
    expect(diffLines('a', 'b', diffChains(old, old))).toEqual(['no change in upgrades between a and b']);
  });

  it("names the services on the old chain whose current template the new one drops or supports less", () => {
    const users = [
      { owner: 'ClusterDeployment kcm-system/on-v1', services: [{ name: 's', namespace: 'ns', template: 'v1', templateChain: 'old' }] },
      { owner: 'ClusterDeployment kcm-system/on-v2', services: [{ name: 's', template: 'v2', templateChain: 'old' }] },
      { owner: 'ClusterDeployment kcm-system/elsewhere', services: [{ name: 's', template: 'v1', templateChain: 'another' }] },
    ];
    const shrunk = chain('new', { v1: [], v2: [] });
    const affected = affectedServices(diffChains(old, next), 'old', next, users);
    expect(affected).toEqual([{ owner: 'ClusterDeployment kcm-system/on-v1', service: 'ns/s', template: 'v1', impact: 'unsupported', lost: ['v2'] }]);
    expect(affectedServices(diffChains(old, shrunk), 'old', shrunk, users)).toEqual([
      { owner: 'ClusterDeployment kcm-system/on-v1', service: 'ns/s', template: 'v1', impact: 'upgrades-removed', lost: ['v2'] },
      { owner: 'ClusterDeployment kcm-system/on-v2', service: 'default/s', template: 'v2', impact: 'upgrades-removed', lost: ['v3'] },
    ]);
    expect(diffLines('kcm-system/old', 'kcm-system/new', diffChains(old, next), affected).at(-1)).toBe(
      '! ClusterDeployment kcm-system/on-v1: service ns/s is on v1, which kcm-system/new does not support (kcm stops computing its upgrades)',
    );
  });
});

// ---------------------------------------------------------------------------------------
// Properties over random version sets

const PRERELEASES = ['alpha', 'alpha.1', 'beta.2', 'rc.1', 'rc.10', '1'];
/** Distinct versions (distinct text; the generator avoids build metadata, so distinct text is distinct semver). */
const versionSet = fc.uniqueArray(
  fc
    .record({ major: fc.integer({ min: 0, max: 2 }), minor: fc.integer({ min: 0, max: 3 }), patch: fc.integer({ min: 0, max: 11 }), pre: fc.option(fc.constantFrom(...PRERELEASES), { nil: undefined, freq: 4 }) })
    .map(({ major, minor, patch, pre }) => `${major}.${minor}.${patch}${pre ? `-${pre}` : ''}`),
  { minLength: 1, maxLength: 14 },
);

/** Templates for a mode; under `replaces`, each may replace and skip random lower versions. */
const scenario = fc
  .record({ versions: versionSet, mode: fc.constantFrom<GenerationMode>(...GENERATION_MODES), rollback: fc.boolean(), seeds: fc.array(fc.nat(), { minLength: 30, maxLength: 30 }) })
  .map(({ versions, mode, rollback, seeds }) => {
    // Edges in replaces mode point from a lower version, so order the text by semver first.
    const sorted = generateChains(versions.map((v) => tv(v)), { mode: 'semver' }).chains[0]!.spec!.supportedTemplates!.map((s) => s.name);
    const versionOf = new Map(versions.map((v) => [named(v), v]));
    const templates = sorted.map((name, i) => {
      const extra: Partial<TemplateFacts> = {};
      const seed = seeds[i % seeds.length]!;
      if (i > 0 && seed % 3 !== 0) extra.replaces = sorted[seed % i];
      if (i > 1 && seed % 5 === 0) extra.skips = [sorted[(seed >> 3) % i]!].filter((s) => s !== extra.replaces);
      return t(name, versionOf.get(name)!, extra);
    });
    return { templates, mode, rollback, versionOf };
  });

const toSpec = (chain: ServiceTemplateChain) => ({ supportedTemplates: chain.spec!.supportedTemplates!.map((s) => ({ name: s.name, ...(s.availableUpgrades ? { availableUpgrades: s.availableUpgrades } : {}) })) });

/** Every template reachable from `from` along the chain's edges. */
function reachable(chain: ServiceTemplateChain, from: string): string[] {
  const next = new Map(chain.spec!.supportedTemplates!.map((s) => [s.name, (s.availableUpgrades ?? []).map((u) => u.name)]));
  const seen = new Set([from]);
  const queue = [from];
  for (let i = 0; i < queue.length; i++) for (const n of next.get(queue[i]!) ?? []) if (!seen.has(n)) (seen.add(n), queue.push(n));
  seen.delete(from);
  return [...seen];
}

const RUNS = Number(process.env.CHAIN_GENERATE_RUNS ?? 200);

describe('properties: every generated chain', () => {
  it("is admitted by chaingate's CREATE rules, with no warning (versions agree with the templates')", () => {
    fc.assert(
      fc.property(scenario, ({ templates, mode, rollback, versionOf }) => {
        const [chain] = generateChains(templates, { mode, rollback }).chains;
        const input = admissionInput('CREATE', chain, undefined, { namespace: NS, name: chain!.metadata.name! });
        const decision = decide('ServiceTemplateChain', input, { chains: new ChainRegistry(), templateExists: () => true, templateVersion: (_ns, name) => versionOf.get(name) }, options());
        expect(decision, JSON.stringify(chain)).toEqual({ allowed: true });
      }),
      { numRuns: RUNS },
    );
  });

  it('is walkable under `sequential` unless generation warned: every upward target along the chain is admitted', () => {
    let multiStep = 0;
    fc.assert(
      fc.property(scenario, fc.nat(), ({ templates, mode, versionOf }, pick) => {
        const { chains: [chain], warnings } = generateChains(templates, { mode });
        // A warned chain is one kcm's path search cannot finish on (tested above); none here is.
        expect(warnings).toEqual([]);
        const chains = registryOf(chain!);
        const names = chain!.spec!.supportedTemplates!.map((s) => s.name);
        // A few starting points per chain, each to every target it reaches.
        for (const from of [names[pick % names.length]!, names[0]!]) {
          for (const to of reachable(chain!, from)) {
            const cd = (template: string) => clusterDeployment([{ name: 's', namespace: 's', template, templateChain: chain!.metadata.name }], { namespace: NS, name: 'cd' });
            const decision = decide('ClusterDeployment', update(cd(from), cd(to)), { chains, templateVersion: (_ns, name) => versionOf.get(name) }, options({ policy: 'sequential' }));
            expect(decision.allowed, `${mode} ${from} -> ${to}: ${decision.message}\n${JSON.stringify(chain)}`).toBe(true);
            if (decision.warnings?.some((w) => w.includes('kcm will upgrade in'))) multiStep++;
          }
        }
      }),
      { numRuns: RUNS },
    );
    expect(multiStep).toBeGreaterThan(0); // multi-step walks are exercised, not only single edges
  });
});

describe("properties: kcm v1.11.4's IsValid accepts every generated chain", () => {
  let kcm: KcmHarness;
  beforeAll(async () => {
    kcm = await startKcmHarness();
  }, 1_800_000);
  afterAll(async () => {
    await kcm?.close();
  });

  it('IsValid is ok, rollback chains too', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ templates, mode, rollback }) => {
        const [chain] = generateChains(templates, { mode, rollback }).chains;
        const result = await kcm.isValid(toSpec(chain!));
        expect(result, JSON.stringify(chain)).toEqual({ ok: true, warnings: [] });
      }),
      { numRuns: RUNS },
    );
  }, 300_000);
});
