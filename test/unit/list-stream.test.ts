// The streamed List reader: every element of items reaches the caller parsed, whatever the
// chunking, and anything malformed fails as JSON.parse of the whole body would; asked to, it
// leaves out each item's metadata.managedFields, and only those.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { readListStream, ListStreamError, type ListStreamOptions } from '../../src/kube/list-stream.ts';
import { managedFieldsUnread, stripBookkeeping } from '../../src/kube/bookkeeping.ts';

/** The body cut into chunks at the given sizes (cycled). */
async function* chunked(text: string, sizes: number[] = [text.length || 1]): AsyncGenerator<Uint8Array> {
  const bytes = Buffer.from(text);
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]!);
    yield new Uint8Array(bytes.subarray(at, at + size));
    at += size;
  }
}

async function read(text: string, sizes?: number[], options?: ListStreamOptions) {
  const items: unknown[] = [];
  const rest = await readListStream(chunked(text, sizes), (item) => items.push(item), options);
  return { items, rest };
}

const list = (items: unknown[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ apiVersion: 'k0rdent.mirantis.com/v1beta1', kind: 'ServiceTemplateChainList', metadata: { resourceVersion: '42', continue: 'tok' }, items, ...extra });

describe('readListStream', () => {
  it('hands over every item parsed and returns the rest of the list', async () => {
    const items = [{ metadata: { name: 'a' }, spec: { x: [1, { y: 'z' }] } }, { metadata: { name: 'b' } }];
    const { items: seen, rest } = await read(list(items));
    expect(seen).toEqual(items);
    expect(rest).toEqual({ apiVersion: 'k0rdent.mirantis.com/v1beta1', kind: 'ServiceTemplateChainList', metadata: { resourceVersion: '42', continue: 'tok' }, items: [] });
  });

  it('gives the same answer when the body arrives one byte at a time', async () => {
    const items = [{ metadata: { name: 'a"]}[{' }, spec: { note: 'a \\" quote, a \\\\ backslash, \u00e9t\u00e9 and \ud83d\ude80' } }];
    const whole = await read(list(items));
    const bytewise = await read(list(items), [1]);
    expect(bytewise).toEqual(whole);
    expect(bytewise.items).toEqual(items);
  });

  it('reads backslash runs before quotes and brackets the same, wherever two chunks meet', async () => {
    // Strings whose closing quote follows 0-4 backslashes (the escaped and the real ones), and
    // escaped quotes next to brackets: a splitter that lost track of an escape would end the
    // string early and split at the wrong bracket.
    const notes = ['', '\\', '\\\\', '"', '\\"', '"}]', '\\"]}{[', 'x\\\\"\\'].map((tail, i) => `n${i}${tail}`);
    const items = notes.map((note, i) => ({ metadata: { name: `c-${i}` }, spec: { note, [note]: [note, { note }] } }));
    const text = list(items, { metadata: { resourceVersion: '9', note: notes.join('') } });
    const whole = await read(text);
    expect(whole.items).toEqual(items);
    for (let cut = 1; cut < Buffer.byteLength(text); cut++) {
      const split = await read(text, [cut, Buffer.byteLength(text)]);
      expect(split, `cut at byte ${cut}`).toEqual(whole);
    }
  });

  describe('leaving out managedFields', () => {
    const fields = [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:spec': { 'k:{"name":"a]}"}': { '.': {} } } } }];
    /** Without the item's metadata.managedFields: what the reader should hand over. */
    const withoutThem = (item: Record<string, unknown>) => {
      const { managedFields: _gone, ...metadata } = item.metadata as Record<string, unknown>;
      return { ...item, metadata };
    };
    // managedFields first, in the middle, last, alone; "managedFields" as a value, as a key
    // elsewhere (kept), and as a key that merely ends in the word.
    const items: Array<Record<string, unknown>> = [
      { metadata: { managedFields: fields, name: 'first' }, spec: { managedFields: 'kept' } },
      { apiVersion: 'v1', metadata: { generation: 1, managedFields: fields, name: 'middle', labels: { managedFields: 'kept' } } },
      { metadata: { name: 'last', managedFields: fields } },
      { metadata: { managedFields: fields } },
      { metadata: { name: 'managedFields', note: 'managedFields', 'x"managedFields': 'kept' }, spec: { metadata: { managedFields: 'kept' } } },
      { spec: { x: 1 }, metadata: { managedFields: null, annotations: { a: '"managedFields":' } } },
      { metadata: { name: 'none' } },
    ];

    it('drops them from each item it was allowed to, and nothing else, wherever two chunks meet', async () => {
      const expected = items.map(withoutThem);
      for (const text of [list(items), JSON.stringify({ kind: 'List', items }, null, 2)]) {
        const bytes = Buffer.byteLength(text);
        expect((await read(text, undefined, { skipManagedFields: () => true })).items).toEqual(expected);
        for (let cut = 1; cut < bytes; cut++) {
          // A key cut by a chunk boundary leaves its item whole (one item at most, with one boundary).
          const { items: seen } = await read(text, [cut, bytes], { skipManagedFields: () => true });
          for (const [i, item] of seen.entries()) expect([expected[i], items[i]], `cut at byte ${cut}, item ${i}`).toContainEqual(item);
          expect(seen.filter((item, i) => !isDeepStrictEqual(item, expected[i])).length, `cut at byte ${cut}`).toBeLessThanOrEqual(1);
        }
      }
    });

    it('shows the member it would drop, and keeps it when told to', async () => {
      const members: string[] = [];
      const text = list(items);
      const { items: seen } = await read(text, undefined, { skipManagedFields: (member) => {
        members.push(member.toString());
        return false;
      } });
      expect(seen).toEqual(items);
      const json = JSON.stringify(fields);
      expect(members).toEqual([`"managedFields":${json},`, `,"managedFields":${json}`, `,"managedFields":${json}`, `"managedFields":${json}`, `"managedFields":null,`]);
    });

    it('hands stripBookkeeping the same item as a whole parse, owners of servicesUpgradePaths included', async () => {
      const owner = { manager: 'kcm', fieldsV1: { 'f:status': { 'f:servicesUpgradePaths': {} } } };
      const escaped = { manager: 'odd', fieldsV1: { 'f:status': { 'f:servicesUpgradePaths': {} } } };
      const entry = fc.oneof(fc.constant(owner), fc.record({ manager: fc.string(), fieldsV1: fc.jsonValue() }), fc.jsonValue());
      const metadata = fc.dictionary(fc.oneof(fc.constantFrom('managedFields', 'name', 'annotations', 'managedField'), fc.string()), fc.jsonValue(), { maxKeys: 4 });
      const item = fc.record({ metadata: fc.tuple(metadata, fc.option(fc.array(entry, { maxLength: 3 })), fc.nat()).map(([meta, managed, at]) => {
        if (managed === null) return meta;
        const entries = Object.entries(meta).filter(([key]) => key !== 'managedFields');
        entries.splice(at % (entries.length + 1), 0, ['managedFields', managed]);
        return Object.fromEntries(entries);
      }), spec: fc.jsonValue() });
      await fc.assert(
        fc.asyncProperty(fc.array(item, { maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 4 }), fc.boolean(), async (objects, sizes, indent) => {
          const text = JSON.stringify({ kind: 'List', items: objects }, null, indent ? 1 : undefined);
          const whole = (JSON.parse(text) as { items: Array<Record<string, unknown>> }).items.map(stripBookkeeping);
          const { items: seen } = await read(text, sizes, { skipManagedFields: managedFieldsUnread });
          expect(seen.map((object) => stripBookkeeping(object as Record<string, unknown>))).toEqual(whole);
        }),
        { numRuns: 300 },
      );
      // An owner spelt with a \u escape is still found: the member is then parsed, not dropped.
      const text = list([{ metadata: { name: 'a', managedFields: [escaped] } }]).replace('servicesUpgradePaths', 'services\\u0055pgradePaths');
      const { items: seen } = await read(text, undefined, { skipManagedFields: managedFieldsUnread });
      expect(stripBookkeeping(seen[0] as Record<string, unknown>)).toEqual(stripBookkeeping(JSON.parse(text).items[0]));
      expect((stripBookkeeping(seen[0] as { metadata: Record<string, unknown> }).metadata as Record<string, unknown>)['chaingate/upgradePathsOwners']).toEqual(['odd']);
    });

    it('still refuses malformed JSON beside them, and unbalanced brackets inside them', async () => {
      const skip = { skipManagedFields: () => true };
      await expect(read('{"items":[{"metadata":{"managedFields":[],"name":}}]}', undefined, skip)).rejects.toThrow(SyntaxError);
      await expect(read('{"items":[{"metadata":{"a":1,"managedFields":[]},}]}', undefined, skip)).rejects.toThrow(SyntaxError);
      await expect(read('{"items":[{"metadata":{"managedFields":[[]},"b":1}]}', undefined, skip)).rejects.toThrow();
      await expect(read('{"items":[{"metadata":{"managedFields" x :[],"name":"a"}}]}', undefined, skip)).rejects.toThrow(SyntaxError);
    });
  });

  it('finds items wherever the key stands, and ignores "items" keys deeper down or inside strings', async () => {
    const items = [{ metadata: { name: 'a' }, spec: { items: [{ name: 'inner' }] } }];
    const text = JSON.stringify({ metadata: { note: '"items":[', resourceVersion: '7' }, items, kind: 'List' });
    const { items: seen, rest } = await read(text, [3, 5, 7]);
    expect(seen).toEqual(items);
    expect(rest).toEqual({ metadata: { note: '"items":[', resourceVersion: '7' }, items: [], kind: 'List' });
  });

  it('keeps elements that are not objects in the rest, for the caller to report', async () => {
    const { items, rest } = await read(list([5, { metadata: { name: 'a' } }, 'text', [1], true]));
    expect(items).toEqual([{ metadata: { name: 'a' } }]);
    expect(rest.items).toEqual([5, 'text', [1], true]);
  });

  it('reads an empty list, whitespace and all', async () => {
    expect(await read('{ "kind" : "List" ,\n "items" : [ ] , "metadata":{} }')).toEqual({ items: [], rest: { kind: 'List', items: [], metadata: {} } });
    expect(await read(' { "items" : [ {"a":1} , {"b":2} ] } ', [2])).toEqual({ items: [{ a: 1 }, { b: 2 }], rest: { items: [] } });
  });

  it('refuses a body that ends early, wherever it is cut', async () => {
    const text = list([{ metadata: { name: 'a' } }, { metadata: { name: 'b' } }]);
    for (let cut = 1; cut < text.length; cut++) {
      await expect(read(text.slice(0, cut)), `cut at ${cut}`).rejects.toThrow();
    }
  });

  it('refuses malformed JSON inside an item, outside the items and at the top level', async () => {
    await expect(read('{"items":[{"a":}]}')).rejects.toThrow(SyntaxError);
    await expect(read('{"items":[{"a":1}], "kind": List}')).rejects.toThrow(SyntaxError);
    await expect(read('{"items":[{"a":1}]}}')).rejects.toThrow(ListStreamError);
    await expect(read('[{"a":1}]')).rejects.toThrow(ListStreamError);
    await expect(read('"items"')).rejects.toThrow(ListStreamError);
    await expect(read('')).rejects.toThrow();
  });

  it('matches JSON.parse on arbitrary lists cut at arbitrary places', async () => {
    const item = fc.record({ metadata: fc.record({ name: fc.string() }), spec: fc.jsonValue() });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(item, fc.jsonValue()), { maxLength: 8 }), fc.jsonValue(), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 }), async (items, meta, sizes) => {
        const text = JSON.stringify({ metadata: { meta }, items });
        const expected = JSON.parse(text) as { items: unknown[] };
        const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
        const { items: seen, rest } = await read(text, sizes);
        expect(seen).toEqual(expected.items.filter(isObject));
        expect(rest.items).toEqual(expected.items.filter((v) => !isObject(v) && v !== null));
        expect(rest.metadata).toEqual((JSON.parse(text) as { metadata: unknown }).metadata);
      }),
      { numRuns: 300 },
    );
  });
});
