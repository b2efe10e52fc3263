// The streamed List reader: every element of items reaches the caller parsed, whatever the
// chunking, and anything malformed fails as JSON.parse of the whole body would.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readListStream, ListStreamError } from '../../src/kube/list-stream.ts';

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

async function read(text: string, sizes?: number[]) {
  const items: unknown[] = [];
  const rest = await readListStream(chunked(text, sizes), (item) => items.push(item));
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
