import { describe, it, expect } from 'vitest';
import { computeUpgradePaths } from '../../src/rules/published-paths.ts';
import { renderUpgradePaths, table } from '../../src/cli/render-paths.ts';
import { parse } from 'yaml';
import { SPEC_EXAMPLE_EDGES, chainObject, registryOf, service } from '../support/builders.ts';

const chains = () =>
  registryOf(
    chainObject('kyverno', SPEC_EXAMPLE_EDGES, { namespace: 'ns' }),
    chainObject('broken', { a: ['ghost'] }, { namespace: 'ns', status: { valid: true } }),
    chainObject('kyverno', { '010': [] }, { namespace: 'elsewhere' }),
  );

describe('computeUpgradePaths', () => {
  it('publishes the SPEC example', () => {
    const { paths, problems } = computeUpgradePaths(
      [service('k', '010', 'kyverno', 'kyverno'), service('j', '030', 'kyverno', 'tools')],
      'ns',
      chains(),
    );
    expect(problems).toEqual([]);
    expect(paths).toEqual([
      {
        name: 'k',
        namespace: 'kyverno',
        template: '010',
        availableUpgrades: [
          { upgradePaths: ['020'] },
          { upgradePaths: ['030'] },
          { upgradePaths: ['040'] },
          { upgradePaths: ['040', '100'] },
        ],
      },
      {
        name: 'j',
        namespace: 'tools',
        template: '030',
        availableUpgrades: [{ upgradePaths: ['040'] }, { upgradePaths: ['040', '100'] }],
      },
    ]);
  });

  it("in kcm v1.6+'s shape, each step carries its version: the template's, else the chain entry's, else its name", () => {
    const chain = chainObject('versioned', {}, { namespace: 'ns' });
    chain.spec!.supportedTemplates = [
      { name: 'a', availableUpgrades: [{ name: 'b', version: '1.1.0' }] },
      { name: 'b', availableUpgrades: [{ name: 'c' }] },
      { name: 'c' },
    ];
    const lookup = (namespace: string, name: string) => (namespace === 'ns' && name === 'c' ? '2.0.0' : undefined);
    const { paths } = computeUpgradePaths([service('s', 'a', 'versioned', 's')], 'ns', registryOf(chain), { itemShape: 'versions', templateVersion: lookup });
    expect(paths[0]!.availableUpgrades).toEqual([
      { versions: [{ name: 'b', version: '1.1.0' }], upgradePaths: ['b'] },
      { versions: [{ name: 'b', version: '1.1.0' }, { name: 'c', version: '2.0.0' }], upgradePaths: ['b', 'c'] },
    ]);
    // The same input gives the same text, key order included: the annotation compares as text.
    expect(JSON.stringify(paths)).toBe(JSON.stringify(computeUpgradePaths([service('s', 'a', 'versioned', 's')], 'ns', registryOf(chain), { itemShape: 'versions', templateVersion: lookup }).paths));
    expect(Object.keys(paths[0]!.availableUpgrades![0]!)).toEqual(['versions', 'upgradePaths']);
    const names = computeUpgradePaths([service('s', 'a', 'versioned', 's')], 'ns', registryOf(chain), { itemShape: 'names' }).paths;
    expect(names[0]!.availableUpgrades).toEqual([{ upgradePaths: ['b'] }, { upgradePaths: ['b', 'c'] }]);
    expect(renderUpgradePaths(paths, 'table').split('\n')).toEqual([
      'SERVICE   TEMPLATE   UPGRADE TO   VERSION   STEPS   PATH',
      's/s       a          b            1.1.0     1       b',
      's/s       a          c            2.0.0     2       b -> c',
    ]);
  });

  it('a template at the end of its chain gets no availableUpgrades and no problem', () => {
    const { paths, problems } = computeUpgradePaths([service('k', '100', 'kyverno', 'x')], 'ns', chains());
    expect(paths).toEqual([{ name: 'k', namespace: 'x', template: '100' }]);
    expect('availableUpgrades' in paths[0]!).toBe(false);
    expect(problems).toEqual([]);
  });

  it('a service with no chain gets an entry without availableUpgrades', () => {
    const { paths, problems } = computeUpgradePaths([service('k', '010', undefined, 'x')], 'ns', chains());
    expect(paths).toEqual([{ name: 'k', namespace: 'x', template: '010' }]);
    // SPEC: an Event says why. Not a fault, so a Normal event, not a Warning.
    expect(problems).toEqual([
      { service: 'x/k', reason: 'NoTemplateChain', type: 'Normal', message: 'service x/k names no templateChain, so no upgrades are declared for 010' },
    ]);
  });

  it('a missing chain: no availableUpgrades, ChainNotFound', () => {
    const { paths, problems } = computeUpgradePaths([service('k', '010', 'gone', 'x')], 'ns', chains());
    expect(paths).toEqual([{ name: 'k', namespace: 'x', template: '010' }]);
    expect(problems).toEqual([
      {
        service: 'x/k',
        reason: 'ChainNotFound',
        type: 'Warning',
        message: 'service x/k: ServiceTemplateChain ns/gone does not exist; create it first or name an existing chain',
      },
    ]);
  });

  it('an invalid chain: no availableUpgrades, ChainInvalid, whatever status.valid says', () => {
    const { paths, problems } = computeUpgradePaths([service('k', 'a', 'broken', 'x')], 'ns', chains());
    expect(paths).toEqual([{ name: 'k', namespace: 'x', template: 'a' }]);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.reason).toBe('ChainInvalid');
    expect(problems[0]!.service).toBe('x/k');
    expect(problems[0]!.message).toMatch(/^service x\/k: ServiceTemplateChain ns\/broken is invalid \(upgrade target ghost \(from a\) is not a supported template\)/);
  });

  it('a template the chain does not support: no availableUpgrades, TemplateNotInChain', () => {
    const { paths, problems } = computeUpgradePaths([service('k', '999', 'kyverno', 'x')], 'ns', chains());
    expect(paths).toEqual([{ name: 'k', namespace: 'x', template: '999' }]);
    expect(problems).toEqual([
      {
        service: 'x/k',
        reason: 'TemplateNotInChain',
        type: 'Warning',
        message: 'service x/k: ServiceTemplateChain ns/kyverno does not support template 999 (supported templates: 010, 020, 030, 040, 100)',
      },
    ]);
  });

  it('defaults an empty or absent namespace to "default"', () => {
    const { paths, problems } = computeUpgradePaths(
      [service('a', '040', 'kyverno'), service('b', '040', 'kyverno', ''), service('c', '040', 'gone')],
      'ns',
      chains(),
    );
    expect(paths.map((p) => p.namespace)).toEqual(['default', 'default', 'default']);
    expect(paths[0]!.availableUpgrades).toEqual([{ upgradePaths: ['100'] }]);
    expect(problems.map((p) => p.service)).toEqual(['default/c']);
    expect(problems[0]!.message.startsWith('service default/c: ')).toBe(true);
  });

  it('looks chains up in the given namespace only', () => {
    const { paths } = computeUpgradePaths([service('k', '010', 'kyverno')], 'elsewhere', chains());
    expect(paths[0]!.availableUpgrades).toBeUndefined();
    const { problems } = computeUpgradePaths([service('k', '010', 'kyverno')], 'nowhere', chains());
    expect(problems.map((p) => p.reason)).toEqual(['ChainNotFound']);
  });

  it('keeps one entry per service, in spec order, with problems for each broken one', () => {
    const { paths, problems } = computeUpgradePaths(
      [service('z', '999', 'kyverno'), service('a', '010', 'kyverno'), service('m', 'a', 'broken'), service('b', 'x', 'gone')],
      'ns',
      chains(),
    );
    expect(paths.map((p) => p.name)).toEqual(['z', 'a', 'm', 'b']);
    expect(problems.map((p) => [p.service, p.reason])).toEqual([
      ['default/z', 'TemplateNotInChain'],
      ['default/m', 'ChainInvalid'],
      ['default/b', 'ChainNotFound'],
    ]);
  });

  it('does not copy other service fields', () => {
    const { paths } = computeUpgradePaths([{ ...service('a', '100', 'kyverno'), values: 'x: 1', disable: true }], 'ns', chains());
    expect(paths).toEqual([{ name: 'a', namespace: 'default', template: '100' }]);
  });
});

describe('renderUpgradePaths', () => {
  const { paths } = computeUpgradePaths([service('k', '030', 'kyverno', 'x'), service('n', '100', 'kyverno', 'x')], 'ns', chains());

  it('json and yaml wrap the value in servicesUpgradePaths', () => {
    expect(JSON.parse(renderUpgradePaths(paths, 'json'))).toEqual({ servicesUpgradePaths: paths });
    expect(parse(renderUpgradePaths(paths, 'yaml'))).toEqual({ servicesUpgradePaths: paths });
  });

  it('table has one row per upgrade and <none> for services without', () => {
    expect(renderUpgradePaths(paths, 'table').split('\n')).toEqual([
      'SERVICE   TEMPLATE   UPGRADE TO   STEPS   PATH',
      'x/k       030        040          1       040',
      'x/k       030        100          2       040 -> 100',
      'x/n       100        <none>',
    ]);
  });

  it('table pads columns', () => {
    expect(table([['A', 'B'], ['long', 'x']])).toBe('A      B\nlong   x');
  });
});
