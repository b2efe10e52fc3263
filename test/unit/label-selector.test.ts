import { describe, it, expect } from 'vitest';
import { clusterSelectorMatcher, parseLabelSelector } from '../../src/model/label-selector.ts';

function matches(selector: unknown, labels: unknown): boolean {
  const parsed = parseLabelSelector(selector);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.matches(labels);
}

function error(selector: unknown): string {
  const parsed = parseLabelSelector(selector);
  if (parsed.ok) throw new Error(`parsed: ${JSON.stringify(selector)}`);
  return parsed.error;
}

describe('parseLabelSelector (apimachinery LabelSelectorAsSelector)', () => {
  it('matchLabels: every pair must be present with that value', () => {
    const selector = { matchLabels: { env: 'dev', team: 'a' } };
    expect(matches(selector, { env: 'dev', team: 'a', extra: 'x' })).toBe(true);
    expect(matches(selector, { env: 'dev' })).toBe(false);
    expect(matches(selector, { env: 'prod', team: 'a' })).toBe(false);
    expect(matches(selector, undefined)).toBe(false);
  });

  it('In, NotIn, Exists, DoesNotExist', () => {
    const In = { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev', 'qa'] }] };
    expect(matches(In, { env: 'qa' })).toBe(true);
    expect(matches(In, { env: 'prod' })).toBe(false);
    expect(matches(In, {})).toBe(false);
    const NotIn = { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] };
    expect(matches(NotIn, { env: 'dev' })).toBe(true);
    expect(matches(NotIn, {})).toBe(true); // an absent key is "not in"
    expect(matches(NotIn, { env: 'prod' })).toBe(false);
    const Exists = { matchExpressions: [{ key: 'k0rdent.mirantis.com/tier', operator: 'Exists' }] };
    expect(matches(Exists, { 'k0rdent.mirantis.com/tier': '' })).toBe(true);
    expect(matches(Exists, { tier: 'gold' })).toBe(false);
    const DoesNotExist = { matchExpressions: [{ key: 'frozen', operator: 'DoesNotExist', values: [] }] };
    expect(matches(DoesNotExist, { env: 'dev' })).toBe(true);
    expect(matches(DoesNotExist, { frozen: 'yes' })).toBe(false);
  });

  it('ANDs matchLabels and every expression', () => {
    const selector = {
      matchLabels: { env: 'dev' },
      matchExpressions: [
        { key: 'team', operator: 'In', values: ['a', 'b'] },
        { key: 'frozen', operator: 'DoesNotExist' },
      ],
    };
    expect(matches(selector, { env: 'dev', team: 'b' })).toBe(true);
    expect(matches(selector, { env: 'dev', team: 'b', frozen: 'true' })).toBe(false);
    expect(matches(selector, { env: 'dev', team: 'c' })).toBe(false);
  });

  it('an empty or absent selector is empty and matches everything', () => {
    for (const selector of [{}, undefined, null, { matchLabels: {}, matchExpressions: [] }, { matchLabels: null, matchExpressions: null }]) {
      const parsed = parseLabelSelector(selector);
      expect(parsed).toMatchObject({ ok: true, empty: true });
      expect(parsed.ok && parsed.matches({ any: 'thing' })).toBe(true);
    }
    expect(parseLabelSelector({ matchLabels: { a: 'b' } })).toMatchObject({ ok: true, empty: false });
  });

  it('refuses malformed selectors the way Kubernetes does', () => {
    expect(error('env=dev')).toBe('the selector must be an object');
    expect(error([])).toBe('the selector must be an object');
    expect(error({ matchLabels: ['env'] })).toBe('matchLabels must be an object');
    expect(error({ matchLabels: { env: 1 } })).toBe('matchLabels.env must be a string');
    expect(error({ matchExpressions: { key: 'env' } })).toBe('matchExpressions must be a list');
    expect(error({ matchExpressions: ['env'] })).toBe('matchExpressions[0] must be an object');
    expect(error({ matchExpressions: [{ key: 'env', operator: 'Equals', values: ['dev'] }] })).toContain('"Equals" is not a valid label selector operator');
    expect(error({ matchExpressions: [{ key: 'env', operator: 'in', values: ['dev'] }] })).toContain('not a valid label selector operator');
    expect(error({ matchExpressions: [{ key: 'env', operator: 'Gt', values: ['1'] }] })).toContain('not a valid label selector operator');
    expect(error({ matchExpressions: [{ operator: 'Exists' }] })).toBe('matchExpressions[0].key must be a string');
    expect(error({ matchExpressions: [{ key: 'env', operator: 'In' }] })).toContain("values can't be empty for In");
    expect(error({ matchExpressions: [{ key: 'env', operator: 'NotIn', values: [] }] })).toContain("values can't be empty for NotIn");
    expect(error({ matchExpressions: [{ key: 'env', operator: 'Exists', values: ['dev'] }] })).toContain('values must be empty for Exists');
    expect(error({ matchExpressions: [{ key: 'env', operator: 'In', values: 'dev' }] })).toBe('matchExpressions[0].values must be a list');
    expect(error({ matchExpressions: [{ key: 'env', operator: 'In', values: [1] }] })).toBe('matchExpressions[0].values must be strings');
  });

  it('checks label key and value syntax', () => {
    for (const key of ['', 'has space', '-lead', 'trail-', 'a/b/c', '/name', 'Upper.Case/name', `${'a'.repeat(64)}`, 'example.com/', `${'a'.repeat(254)}/x`]) {
      expect(error({ matchLabels: { [key]: 'v' } }), key).toContain('invalid label key');
    }
    for (const key of ['a', 'A_b.c-9', 'example.com/My.Name', 'k0rdent.mirantis.com/managed', 'a'.repeat(63)]) {
      expect(parseLabelSelector({ matchExpressions: [{ key, operator: 'Exists' }] }).ok, key).toBe(true);
    }
    for (const value of ['has space', '-x', 'x-', 'a/b', 'a'.repeat(64)]) {
      expect(error({ matchLabels: { env: value } }), value).toContain('invalid label value');
      expect(error({ matchExpressions: [{ key: 'env', operator: 'In', values: ['ok', value] }] }), value).toContain('invalid label value');
    }
    expect(matches({ matchLabels: { env: '' } }, { env: '' })).toBe(true); // the empty value is valid
  });

  it('ignores label values that are not strings and inherited keys', () => {
    expect(matches({ matchExpressions: [{ key: 'env', operator: 'Exists' }] }, { env: 1 })).toBe(false);
    expect(matches({ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {})).toBe(false);
    expect(matches({ matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }, 'env=dev')).toBe(true);
  });
});

describe('clusterSelectorMatcher (kcm v1.11.4 MultiClusterService.spec.clusterSelector)', () => {
  it('selects by labels like Kubernetes', () => {
    const match = clusterSelectorMatcher({ matchLabels: { env: 'dev' }, matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['b'] }] });
    expect(match({ env: 'dev', team: 'a' })).toBe(true);
    expect(match({ env: 'dev', team: 'b' })).toBe(false);
  });

  it('an empty selector selects nothing: kcm lists ClusterDeployments only when !selector.Empty()', () => {
    for (const selector of [{}, undefined, { matchLabels: {} }]) expect(clusterSelectorMatcher(selector)({ env: 'dev' })).toBe(false);
  });

  it('an unparsable selector selects nothing: the reconcile fails before listing', () => {
    for (const selector of [{ matchExpressions: [{ key: 'env', operator: 'Bogus' }] }, { matchLabels: { 'bad key': 'x' } }, 7]) {
      expect(clusterSelectorMatcher(selector)({ env: 'dev', 'bad key': 'x' })).toBe(false);
    }
  });
});
