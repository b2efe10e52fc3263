// ReferenceIndex: which objects a chain's change must recompute.
import { describe, expect, it } from 'vitest';
import { ReferenceIndex } from '../../../src/controller/reference-index.ts';

describe('ReferenceIndex', () => {
  it('lists the objects that reference a chain', () => {
    const index = new ReferenceIndex();
    index.set('cd/a/one', ['kcm-system/x', 'kcm-system/y']);
    index.set('cd/a/two', ['kcm-system/y']);
    expect(index.objectsUsing('kcm-system/x')).toEqual(['cd/a/one']);
    expect(index.objectsUsing('kcm-system/y').sort()).toEqual(['cd/a/one', 'cd/a/two']);
    expect(index.objectsUsing('kcm-system/z')).toEqual([]);
  });

  it('set replaces what an object referenced before', () => {
    const index = new ReferenceIndex();
    index.set('cd/a/one', ['kcm-system/x']);
    index.set('cd/a/one', ['kcm-system/y']);
    expect(index.objectsUsing('kcm-system/x')).toEqual([]);
    expect(index.objectsUsing('kcm-system/y')).toEqual(['cd/a/one']);
  });

  it('set with no chains and remove both drop the object', () => {
    const index = new ReferenceIndex();
    index.set('cd/a/one', ['kcm-system/x']);
    index.set('cd/a/two', ['kcm-system/x']);
    index.set('cd/a/one', []);
    expect(index.objectsUsing('kcm-system/x')).toEqual(['cd/a/two']);
    index.remove('cd/a/two');
    expect(index.objectsUsing('kcm-system/x')).toEqual([]);
  });

  it('counts a chain named twice by one object once', () => {
    const index = new ReferenceIndex();
    index.set('mcs/global', ['kcm-system/x', 'kcm-system/x']);
    expect(index.objectsUsing('kcm-system/x')).toEqual(['mcs/global']);
  });

  it('removing an unknown object changes nothing', () => {
    const index = new ReferenceIndex();
    index.set('cd/a/one', ['kcm-system/x']);
    index.remove('cd/a/unknown');
    expect(index.objectsUsing('kcm-system/x')).toEqual(['cd/a/one']);
  });

  it('an object removed and set again is found again', () => {
    const index = new ReferenceIndex();
    index.set('cd/a/one', ['kcm-system/x']);
    index.remove('cd/a/one');
    index.set('cd/a/one', ['kcm-system/x']);
    expect(index.objectsUsing('kcm-system/x')).toEqual(['cd/a/one']);
  });
});
