// ServiceTemplateChain CREATE, UPDATE and DELETE (src/rules/chain-decisions.ts), through decide().
import { describe, it, expect } from 'vitest';
import type { AdmissionInput, DecisionContext, DecisionOptions } from '../../../src/rules/types.ts';
import { ChainRegistry } from '../../../src/graph/chain-registry.ts';
import { SPEC_EXAMPLE_EDGES, admissionInput, chainObject, decideWith, expectAllowed, expectDenied } from '../../support/builders.ts';

describe('ServiceTemplateChain', () => {
  const chainInput = (operation: AdmissionInput['operation'], object: unknown, oldObject?: unknown) =>
    admissionInput(operation, object, oldObject, { namespace: 'kcm-system', name: 'c' });
  const decideChain = (input: AdmissionInput, extra: Omit<DecisionContext, 'chains'> = {}, opts: Partial<DecisionOptions> = {}) =>
    decideWith('ServiceTemplateChain', input, new ChainRegistry(), opts, extra);

  describe('CREATE', () => {
    it('allows a valid chain without warnings, including cycles', () => {
      expect(decideChain(chainInput('CREATE', chainObject('c', SPEC_EXAMPLE_EDGES)))).toEqual({ allowed: true });
      expect(decideChain(chainInput('CREATE', chainObject('c', { a: ['b'], b: ['a'] })))).toEqual({ allowed: true });
    });

    it('denies an upgrade target that is not a supported template', () => {
      const message = expectDenied(decideChain(chainInput('CREATE', chainObject('c', { a: ['b'] }))));
      expect(message).toBe('ServiceTemplateChain kcm-system/c is invalid: upgrade target b (from a) is not a supported template');
    });

    it('denies a supported template listed twice', () => {
      const object = {
        kind: 'ServiceTemplateChain',
        metadata: { name: 'c', namespace: 'kcm-system' },
        spec: { supportedTemplates: [{ name: 'a' }, { name: 'b' }, { name: 'a' }] },
      };
      const message = expectDenied(decideChain(chainInput('CREATE', object)));
      expect(message).toBe('ServiceTemplateChain kcm-system/c is invalid: supported template a is listed more than once');
    });

    it('denies regardless of status.valid', () => {
      expectDenied(decideChain(chainInput('CREATE', chainObject('c', { a: ['b'] }, { status: { valid: true } }))));
    });

    it('warns about self-edges but allows them', () => {
      const decision = decideChain(chainInput('CREATE', chainObject('c', { a: ['a', 'b'], b: [] })));
      expect(decision).toEqual({ allowed: true, warnings: ['ServiceTemplateChain kcm-system/c: a lists itself as an upgrade'] });
    });

    it('keeps warnings on a denial', () => {
      const decision = decideChain(chainInput('CREATE', chainObject('c', { a: ['a', 'ghost'] })));
      expect(decision.allowed).toBe(false);
      expect(decision.warnings).toEqual(['ServiceTemplateChain kcm-system/c: a lists itself as an upgrade']);
    });

    it('warns about templates that do not exist yet', () => {
      const asked: string[] = [];
      const templateExists = (namespace: string, name: string) => {
        asked.push(`${namespace}/${name}`);
        return name !== 'b';
      };
      const decision = decideChain(chainInput('CREATE', chainObject('c', { a: ['b'], b: [] })), { templateExists });
      expect(decision).toEqual({ allowed: true, warnings: ['ServiceTemplate not found yet in kcm-system: b'] });
      expect(asked).toEqual(['kcm-system/a', 'kcm-system/b']);
    });

    it('lists at most five missing templates', () => {
      const edges: Record<string, string[]> = {};
      for (let i = 0; i < 8; i++) edges[`t${i}`] = [];
      const decision = decideChain(chainInput('CREATE', chainObject('c', edges)), { templateExists: () => false });
      expect(decision.warnings).toEqual(['ServiceTemplate not found yet in kcm-system: t0, t1, t2, t3, t4 and 3 more']);
      expect(decision.warnings![0]!.length).toBeLessThan(120);
    });

    it('no warning when existence is unknown', () => {
      expect(decideChain(chainInput('CREATE', chainObject('c', { a: [] })), { templateExists: () => undefined })).toEqual({ allowed: true });
    });

    it('uses the request namespace when the object has none', () => {
      const object = { kind: 'ServiceTemplateChain', metadata: { name: 'c' }, spec: { supportedTemplates: [{ name: 'a', availableUpgrades: [{ name: 'z' }] }] } };
      const input = admissionInput('CREATE', object, undefined, { namespace: 'team-x', name: 'c' });
      const asked: string[] = [];
      const decision = decideChain(input, { templateExists: (ns) => (asked.push(ns), true) });
      expect(decision.message).toBe('ServiceTemplateChain team-x/c is invalid: upgrade target z (from a) is not a supported template');
      expect(asked).toEqual(['team-x']);
    });

    it('malformed chains get 400', () => {
      const bad = [
        { metadata: { name: 'c' }, spec: { supportedTemplates: 'x' } },
        { metadata: { name: 'c' }, spec: { supportedTemplates: [{}] } },
        { metadata: { name: 'c' }, spec: { supportedTemplates: [{ name: 'a', availableUpgrades: [{ name: 1 }] }] } },
        { metadata: {}, spec: { supportedTemplates: [] } },
        { metadata: { name: 'c' }, spec: [] },
        42,
      ];
      for (const object of bad) {
        const message = expectDenied(decideChain(chainInput('CREATE', object)), 400);
        expect(message.startsWith('malformed ServiceTemplateChain: ')).toBe(true);
      }
    });
  });

  describe('UPDATE', () => {
    const base = chainObject('c', { a: ['b'], b: [] }, { resourceVersion: '1' });

    it('denies any spec change', () => {
      const changed = chainObject('c', { a: ['b'], b: ['a'] }, { resourceVersion: '1' });
      const message = expectDenied(decideChain(chainInput('UPDATE', changed, base)));
      expect(message).toBe(
        'ServiceTemplateChain kcm-system/c: spec is immutable; create a new chain under another name and point templateChain at it',
      );
      const dropped = { ...base, spec: undefined };
      expectDenied(decideChain(chainInput('UPDATE', dropped, base)));
      const versioned = structuredClone(base);
      versioned.spec!.supportedTemplates![0]!.availableUpgrades![0]!.version = '1.0.0';
      expectDenied(decideChain(chainInput('UPDATE', versioned, base)));
    });

    it('allows metadata and status changes', () => {
      const relabelled = structuredClone(base);
      relabelled.metadata.labels = { a: 'b' };
      relabelled.metadata.resourceVersion = '2';
      relabelled.status = { valid: true };
      expect(decideChain(chainInput('UPDATE', relabelled, base))).toEqual({ allowed: true });
    });

    it('compares content, not key order', () => {
      const reordered = {
        metadata: base.metadata,
        spec: { supportedTemplates: [{ availableUpgrades: [{ name: 'b' }], name: 'a' }, { availableUpgrades: [], name: 'b' }] },
      };
      expectAllowed(decideChain(chainInput('UPDATE', reordered, base)));
    });
  });

  describe('DELETE', () => {
    const input = admissionInput('DELETE', undefined, chainObject('c', { a: [] }), { namespace: 'kcm-system', name: 'c' });

    it('denies while objects reference the chain, naming them', () => {
      const asked: string[] = [];
      const referencesTo = (namespace: string, chain: string) => {
        asked.push(`${namespace}/${chain}`);
        return ['ClusterDeployment kcm-system/one', 'MultiClusterService two'];
      };
      const message = expectDenied(decideChain(input, { referencesTo }));
      expect(message).toBe(
        'ServiceTemplateChain kcm-system/c is still referenced by 2 object(s): ClusterDeployment kcm-system/one, MultiClusterService two; point their services at another chain (or remove templateChain) first',
      );
      expect(asked).toEqual(['kcm-system/c']);
    });

    it('names the first 10 and counts the rest', () => {
      const users = Array.from({ length: 13 }, (_, i) => `ClusterDeployment kcm-system/cd-${String(i).padStart(2, '0')}`);
      const message = expectDenied(decideChain(input, { referencesTo: () => users }));
      expect(message).toContain('still referenced by 13 object(s): ');
      expect(message).toContain(`${users.slice(0, 10).join(', ')} and 3 more;`);
      expect(message).not.toContain('cd-10');
    });

    it('allows when nothing references the chain', () => {
      expectAllowed(decideChain(input, { referencesTo: () => [] }));
    });

    it('allows when protection is off or references are unknown', () => {
      expectAllowed(decideChain(input, { referencesTo: () => ['ClusterDeployment x/y'] }, { protectChainDeletion: false }));
      expectAllowed(decideChain(input));
    });
  });
});
