// Chain objects from the API server into the registry: what a relist of unchanged chains costs
// (nothing is parsed or announced again), and how an unreadable chain is kept and reported.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { Writable } from 'node:stream';
import { ChainRegistry } from '../../src/graph/chain-registry.ts';
import { applyChainList, applyChainObject } from '../../src/kube/chain-objects.ts';

const chain = (name: string, resourceVersion: string, upgrades = ['b']) => ({
  apiVersion: 'k0rdent.mirantis.com/v1beta1',
  kind: 'ServiceTemplateChain',
  metadata: { name, namespace: 'team', resourceVersion },
  spec: { supportedTemplates: [{ name: 'a', availableUpgrades: upgrades.map((n) => ({ name: n })) }, { name: 'b' }] },
});

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) }));
  return { logger, lines };
}

describe('applyChainObject', () => {
  it('does not parse or announce again a chain whose resourceVersion it already holds', () => {
    const registry = new ChainRegistry();
    const changes: string[] = [];
    registry.onChange((change) => changes.push(`${change.type} ${change.name}`));
    const { logger } = capture();
    expect(applyChainObject(registry, chain('c', '1'), logger)).toBe('team/c');
    const first = registry.get('team', 'c');
    // Same version, even with different content: the API server never sends two contents under
    // one resourceVersion, so the object is not read again.
    let specReads = 0;
    const relisted = chain('c', '1', ['a']);
    const spec = relisted.spec;
    Object.defineProperty(relisted, 'spec', { enumerable: true, get: () => (specReads++, spec) });
    applyChainObject(registry, relisted, logger);
    expect(specReads).toBe(0);
    expect(registry.get('team', 'c')).toBe(first);
    expect(changes).toEqual(['set c']);
    // A new version is read.
    applyChainObject(registry, chain('c', '2', []), logger);
    expect(registry.get('team', 'c')).not.toBe(first);
    expect(changes).toEqual(['set c', 'set c']);
  });

  it('keeps an unreadable chain as invalid and warns once per version', () => {
    const registry = new ChainRegistry();
    const { logger, lines } = capture();
    const broken = { ...chain('bad', '7'), spec: { supportedTemplates: 'not a list' } };
    applyChainObject(registry, broken, logger);
    applyChainObject(registry, broken, logger);
    const warnings = () => lines.filter((l) => l.msg === 'unreadable ServiceTemplateChain: treated as invalid');
    expect(warnings()).toHaveLength(1);
    expect(registry.get('team', 'bad')?.resourceVersion).toBe('7');
    applyChainObject(registry, { ...broken, metadata: { ...broken.metadata, resourceVersion: '8' } }, logger);
    expect(warnings()).toHaveLength(2);
    // Fixed in a later version: readable again.
    applyChainObject(registry, chain('bad', '9'), logger);
    expect(registry.get('team', 'bad')?.resourceVersion).toBe('9');
    expect(warnings()).toHaveLength(2);
  });

  it('a list makes the registry what it holds: unchanged kept, new read, missing removed', () => {
    const registry = new ChainRegistry();
    const { logger } = capture();
    applyChainList(registry, [chain('keep', '1'), chain('gone', '2')], undefined, logger);
    const kept = registry.get('team', 'keep');
    applyChainList(registry, [chain('keep', '1'), chain('new', '3')], undefined, logger);
    expect(registry.get('team', 'keep')).toBe(kept);
    expect(registry.has('team', 'gone')).toBe(false);
    expect(registry.has('team', 'new')).toBe(true);
  });
});
