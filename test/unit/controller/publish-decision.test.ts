// publishDecision: which target, which value, skip or write, from the cached object alone.
import { describe, expect, it } from 'vitest';
import { publishDecision, statusWriteUndone, type PendingWrite, type PublishInput } from '../../../src/controller/publish-decision.ts';
import { UPGRADE_PATHS_ANNOTATION } from '../../../src/rules/status-writer.ts';
import type { ServiceUpgradePaths } from '../../../src/rules/published-paths.ts';

const PATHS: ServiceUpgradePaths[] = [{ name: 'app', namespace: 'default', template: 'app-1', availableUpgrades: [{ upgradePaths: ['app-2'] }] }];
const VALUE = JSON.stringify(PATHS);
const NOW = 1_000_000;

function input(overrides: Partial<PublishInput> = {}): PublishInput {
  return { writer: 'auto', object: { metadata: { name: 'demo' } }, owners: undefined, paths: PATHS, pending: undefined, now: NOW, ...overrides };
}

const pending = (overrides: Partial<PendingWrite> = {}): PendingWrite => ({ target: 'status', value: VALUE, written: '11', until: NOW + 1, ...overrides });
const withStatus = (paths: unknown) => ({ metadata: { name: 'demo' }, status: { servicesUpgradePaths: paths } });
const withAnnotation = (value: unknown) => ({ metadata: { name: 'demo', annotations: { [UPGRADE_PATHS_ANNOTATION]: value } } });

describe('publishDecision', () => {
  it('auto: the status while nobody else owns the field', () => {
    expect(publishDecision(input())).toEqual({ action: 'write', target: 'status', value: VALUE });
    expect(publishDecision(input({ owners: [] }))).toEqual({ action: 'write', target: 'status', value: VALUE });
    expect(publishDecision(input({ owners: ['chaingate'] }))).toEqual({ action: 'write', target: 'status', value: VALUE });
  });

  it('auto: the annotation once another manager owns it', () => {
    expect(publishDecision(input({ owners: ['chaingate', 'kcm'] }))).toEqual({ action: 'write', target: 'annotation', value: VALUE });
  });

  it('auto: owners that are not a list count as nobody', () => {
    expect(publishDecision(input({ owners: 'kcm' }))).toMatchObject({ target: 'status' });
  });

  it('status and annotation writers ignore the owners; off decides nothing', () => {
    expect(publishDecision(input({ writer: 'status', owners: ['kcm'] }))).toMatchObject({ action: 'write', target: 'status' });
    expect(publishDecision(input({ writer: 'annotation' }))).toMatchObject({ action: 'write', target: 'annotation' });
    expect(publishDecision(input({ writer: 'off', object: withStatus([]) }))).toEqual({ action: 'none' });
  });

  it('skips a status that already holds the value, and an absent one when there is nothing to publish', () => {
    expect(publishDecision(input({ object: withStatus(structuredClone(PATHS)) }))).toEqual({ action: 'skip', target: 'status' });
    expect(publishDecision(input({ paths: [] }))).toEqual({ action: 'skip', target: 'status' });
    expect(publishDecision(input({ paths: [], object: withStatus(null) }))).toEqual({ action: 'skip', target: 'status' });
    expect(publishDecision(input({ object: withStatus([]) }))).toMatchObject({ action: 'write' });
    expect(publishDecision(input({ paths: [], object: withStatus(PATHS) }))).toEqual({ action: 'write', target: 'status', value: '[]' });
  });

  it('skips an annotation that already holds the value, byte for byte', () => {
    const owners = ['kcm'];
    expect(publishDecision(input({ owners, object: withAnnotation(VALUE) }))).toEqual({ action: 'skip', target: 'annotation' });
    expect(publishDecision(input({ owners, object: withAnnotation(JSON.stringify(PATHS, null, 2)) }))).toMatchObject({ action: 'write' });
  });

  it('the annotation does not count for the status, nor the status for the annotation', () => {
    expect(publishDecision(input({ object: withAnnotation(VALUE) }))).toMatchObject({ action: 'write', target: 'status' });
    expect(publishDecision(input({ owners: ['kcm'], object: withStatus(PATHS) }))).toMatchObject({ action: 'write', target: 'annotation' });
  });

  it('skips while our write of the same value to the same target is on its way', () => {
    expect(publishDecision(input({ pending: pending() }))).toEqual({ action: 'skip', target: 'status' });
    expect(publishDecision(input({ pending: pending({ value: '[]' }) }))).toMatchObject({ action: 'write' });
    expect(publishDecision(input({ pending: pending({ target: 'annotation' }) }))).toMatchObject({ action: 'write' });
    expect(publishDecision(input({ pending: pending({ until: NOW }) }))).toMatchObject({ action: 'write' });
    expect(publishDecision(input({ owners: ['kcm'], pending: pending({ target: 'annotation' }) }))).toEqual({ action: 'skip', target: 'annotation' });
  });
});

describe('yielding', () => {
  it('auto, yielded: the annotation even though nobody owns the field; status writer ignores it', () => {
    expect(publishDecision(input({ yielded: true }))).toEqual({ action: 'write', target: 'annotation', value: VALUE });
    expect(publishDecision(input({ yielded: true, object: withAnnotation(VALUE) }))).toEqual({ action: 'skip', target: 'annotation' });
    expect(publishDecision(input({ yielded: true, writer: 'status' }))).toEqual({ action: 'write', target: 'status', value: VALUE });
  });

  it('a status write is undone when chaingate no longer owns the field, once the write is no longer on its way', () => {
    const base = { wroteStatus: true, owners: ['chaingate'] as unknown, pending: undefined, now: NOW };
    expect(statusWriteUndone(base)).toBe(false);
    expect(statusWriteUndone({ ...base, owners: [] })).toBe(true);
    expect(statusWriteUndone({ ...base, owners: undefined })).toBe(true);
    expect(statusWriteUndone({ ...base, owners: ['kcm'] })).toBe(true);
    expect(statusWriteUndone({ ...base, owners: ['kcm', 'chaingate'] })).toBe(false);
    expect(statusWriteUndone({ ...base, wroteStatus: false, owners: [] })).toBe(false);
    expect(statusWriteUndone({ ...base, owners: [], pending: pending() })).toBe(false);
    expect(statusWriteUndone({ ...base, owners: [], pending: pending({ until: NOW }) })).toBe(true);
    expect(statusWriteUndone({ ...base, owners: [], pending: pending({ target: 'annotation' }) })).toBe(true);
  });
});
