import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ManifestError,
  listManifestFiles,
  parseManifestText,
  readManifests,
  readSingleManifest,
} from '../../src/sources/manifest-files.ts';
import { loadChainFiles } from '../../src/sources/chain-files.ts';
import { chainYaml } from '../support/builders.ts';

let dir: string;
const write = (name: string, text: string) => {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
};
const kinds = (text: string, source = 'in.yaml') => parseManifestText(text, source).map((m) => m.object.kind);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chaingate-manifests-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The chain a -> b, as a file holds it; without a namespace unless one is given. */
const abChain = (name: string, namespace?: string) => chainYaml(name, { a: ['b'], b: [] }, { namespace: namespace ?? null });

describe('parseManifestText', () => {
  it('reads multi-document YAML in order, with the source', () => {
    const manifests = parseManifestText('kind: A\nx: 1\n---\nkind: B\n---\nkind: C\n', 'multi.yaml');
    expect(manifests.map((m) => m.object.kind)).toEqual(['A', 'B', 'C']);
    expect(manifests.map((m) => m.source)).toEqual(['multi.yaml (document 1)', 'multi.yaml (document 2)', 'multi.yaml (document 3)']);
    expect(manifests[0]!.object).toEqual({ kind: 'A', x: 1 });
  });

  it('names a single document by its file only', () => {
    expect(parseManifestText('kind: A\n', 'one.yaml')).toEqual([{ object: { kind: 'A' }, source: 'one.yaml' }]);
  });

  it('skips empty documents and comment-only documents', () => {
    expect(kinds('---\n---\nkind: A\n---\n# only a comment\n---\n')).toEqual(['A']);
    expect(kinds('')).toEqual([]);
    expect(kinds('# nothing\n')).toEqual([]);
    expect(kinds('null\n')).toEqual([]);
  });

  it('reads JSON with JSON.parse, reporting JSON errors', () => {
    expect(parseManifestText('{"kind":"A","n":1}', 'x.json')).toEqual([{ object: { kind: 'A', n: 1 }, source: 'x.json' }]);
    expect(() => parseManifestText('{"kind":', 'x.json')).toThrow(ManifestError);
    expect(() => parseManifestText('{"kind":', 'x.json')).toThrow(/^x\.json: invalid JSON: /);
    // An empty JSON file is not valid JSON.
    expect(() => parseManifestText('', 'x.json')).toThrow(/invalid JSON/);
    // JSON content in a .yaml file is read as YAML.
    expect(kinds('{"kind": "A"}', 'x.yaml')).toEqual(['A']);
  });

  it('unpacks List wrappers (any kind ending in List), nested too', () => {
    const text = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [{ kind: 'A' }, { kind: 'ServiceTemplateChainList', items: [{ kind: 'B' }, { kind: 'C' }] }, null],
    });
    const manifests = parseManifestText(text, 'list.json');
    expect(manifests.map((m) => m.object.kind)).toEqual(['A', 'B', 'C']);
    expect(manifests.map((m) => m.source)).toEqual(['list.json items[0]', 'list.json items[1] items[0]', 'list.json items[1] items[1]']);
    expect(kinds('kind: List\nitems: []\n')).toEqual([]);
  });

  it('does not unpack an object that only looks like a list', () => {
    expect(kinds('kind: Thing\nitems: [{kind: A}]\n')).toEqual(['Thing']);
    expect(kinds('kind: List\nitems: notalist\n')).toEqual(['List']);
  });

  it('refuses non-object documents', () => {
    expect(() => parseManifestText('- a\n- b\n', 'l.yaml')).toThrow('l.yaml: expected a Kubernetes object, got a list');
    expect(() => parseManifestText('just text\n', 's.yaml')).toThrow('s.yaml: expected a Kubernetes object, got string');
    expect(() => parseManifestText('kind: A\n---\n42\n', 'n.yaml')).toThrow('n.yaml (document 2): expected a Kubernetes object, got number');
    expect(() => parseManifestText('[1]', 'x.json')).toThrow('x.json: expected a Kubernetes object, got a list');
    expect(() => parseManifestText('"s"', 'x.json')).toThrow(ManifestError);
    expect(() => parseManifestText('kind: List\nitems: [1]\n', 'i.yaml')).toThrow('i.yaml items[0]: expected a Kubernetes object, got number');
  });

  it('refuses objects without a kind', () => {
    expect(() => parseManifestText('metadata: {name: x}\n', 'k.yaml')).toThrow('k.yaml: the object has no kind');
    expect(() => parseManifestText('kind: 3\n', 'k.yaml')).toThrow(ManifestError);
  });

  it('reports malformed YAML with the document number', () => {
    expect(() => parseManifestText('kind: A\n---\nkind: [unclosed\n', 'bad.yaml')).toThrow(/^bad\.yaml \(document 2\): invalid YAML: /);
    expect(() => parseManifestText('a: 1\na: 2\nkind: X\n', 'dup.yaml')).toThrow(/dup\.yaml: invalid YAML: /);
    expect(() => parseManifestText('kind: A\n\tbad: tab\n', 'tab.yaml')).toThrow(ManifestError);
  });

  it('refuses a YAML alias bomb quickly, as a ManifestError', () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    const letters = 'bcdefghi';
    for (let i = 0; i < letters.length; i++) {
      const previous = i === 0 ? 'a' : letters[i - 1]!;
      lines.push(`${letters[i]}: &${letters[i]} [${Array(9).fill(`*${previous}`).join(',')}]`);
    }
    lines.push('kind: ConfigMap');
    const started = Date.now();
    expect(() => parseManifestText(lines.join('\n'), 'bomb.yaml')).toThrow(/^bomb\.yaml: invalid YAML: .*alias/i);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('allows a few ordinary aliases', () => {
    const manifests = parseManifestText('kind: A\nbase: &b {x: 1}\ncopy: *b\n', 'ok.yaml');
    expect(manifests[0]!.object.copy).toEqual({ x: 1 });
  });

  it('refuses very deep nesting as a ManifestError, never a stack overflow', () => {
    const depth = 100_000;
    expect(() => parseManifestText(`kind: A\nspec: ${'['.repeat(depth)}${']'.repeat(depth)}\n`, 'deep.yaml')).toThrow(ManifestError);
    const lists = '{"kind":"List","items":['.repeat(depth) + '{"kind":"A"}' + ']}'.repeat(depth);
    expect(() => parseManifestText(lists, 'lists.json')).toThrow(ManifestError);
    // Deep data inside one object is just data.
    const deepData = `{"kind":"A","spec":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    expect(parseManifestText(deepData, 'data.json').map((m) => m.object.kind)).toEqual(['A']);
  });
});

describe('listManifestFiles and readManifests', () => {
  it('recurses into directories, takes only manifest extensions, sorted', () => {
    const root = join(dir, 'tree');
    write('tree/b.yaml', 'kind: B\n');
    write('tree/a.yml', 'kind: A\n---\nkind: A2\n');
    write('tree/sub/c.json', '{"kind":"C"}');
    write('tree/sub/deeper/d.YAML', 'kind: D\n');
    write('tree/README.md', '# not a manifest');
    write('tree/notes.txt', 'kind: Nope');
    mkdirSync(join(root, 'dir.yaml'), { recursive: true });
    const files = listManifestFiles(root);
    expect(files).toEqual([join(root, 'a.yml'), join(root, 'b.yaml'), join(root, 'sub/c.json'), join(root, 'sub/deeper/d.YAML')]);
    expect(readManifests(root).map((m) => m.object.kind)).toEqual(['A', 'A2', 'B', 'C', 'D']);
  });

  it('a file path lists just that file', () => {
    const file = write('single.yaml', 'kind: S\n');
    expect(listManifestFiles(file)).toEqual([file]);
    expect(readManifests(file)).toEqual([{ object: { kind: 'S' }, source: file }]);
  });

  it('a missing path is a ManifestError', () => {
    expect(() => listManifestFiles(join(dir, 'missing'))).toThrow(`${join(dir, 'missing')}: no such file or directory`);
    expect(() => readManifests(join(dir, 'missing'))).toThrow(ManifestError);
  });

  it('an empty directory has no manifests', () => {
    mkdirSync(join(dir, 'empty'));
    expect(readManifests(join(dir, 'empty'))).toEqual([]);
  });
});

describe('readSingleManifest', () => {
  it('returns exactly one object', () => {
    const file = write('one.yaml', '---\nkind: A\nmetadata: {name: x}\n---\n');
    expect(readSingleManifest(file).object).toEqual({ kind: 'A', metadata: { name: 'x' } });
  });

  it('refuses zero or several objects', () => {
    const two = write('two.yaml', 'kind: A\n---\nkind: B\n');
    expect(() => readSingleManifest(two)).toThrow(`${two}: expected exactly one object, found 2`);
    const none = write('none.yaml', '# empty\n');
    expect(() => readSingleManifest(none)).toThrow(`${none}: expected exactly one object, found 0`);
    const list = write('list.json', '{"kind":"List","items":[{"kind":"A"},{"kind":"B"}]}');
    expect(() => readSingleManifest(list)).toThrow(/found 2/);
  });

  it('a missing file or a directory is a ManifestError naming it', () => {
    const missing = join(dir, 'nope.yaml');
    expect(() => readSingleManifest(missing)).toThrow(ManifestError);
    expect(() => readSingleManifest(missing)).toThrow(`${missing}: no such file or directory`);
    expect(() => readSingleManifest(dir)).toThrow(ManifestError);
  });
});

describe('loadChainFiles', () => {
  it('loads only ServiceTemplateChains, defaulting the namespace', () => {
    const root = join(dir, 'chains1');
    write('chains1/mixed.yaml', `${abChain('one', 'ns1')}---\nkind: ClusterDeployment\nmetadata: {name: cd}\n---\n${abChain('two')}`);
    const registry = loadChainFiles(root);
    expect(registry.list().map((c) => c.key).sort()).toEqual(['default/two', 'ns1/one']);
    expect(registry.get('ns1', 'one')!.hasEdge('a', 'b')).toBe(true);
    const custom = loadChainFiles(root, { defaultNamespace: 'kcm-system' });
    expect(custom.list().map((c) => c.key).sort()).toEqual(['kcm-system/two', 'ns1/one']);
  });

  it('loads chains from List wrappers and JSON', () => {
    write(
      'chains2/list.json',
      JSON.stringify({
        kind: 'ServiceTemplateChainList',
        items: [
          { kind: 'ServiceTemplateChain', apiVersion: 'k0rdent.mirantis.com/v1alpha1', metadata: { name: 'x', namespace: 'n' }, spec: { supportedTemplates: [{ name: 'a' }] } },
        ],
      }),
    );
    const registry = loadChainFiles(join(dir, 'chains2'));
    expect(registry.get('n', 'x')!.templates()).toEqual(['a']);
  });

  it('keeps invalid chains (so they can be explained) ', () => {
    const file = write('chains3/bad.yaml', chainYaml('bad', { a: ['b'], b: [], c: ['ghost'] }, { namespace: 'n' }));
    const chain = loadChainFiles(file).get('n', 'bad')!;
    expect(chain.valid).toBe(false);
  });

  it('refuses a chain defined twice, naming both files', () => {
    const first = write('dups/a.yaml', abChain('same', 'ns'));
    const second = write('dups/sub/b.yaml', abChain('same', 'ns'));
    let error: unknown;
    try {
      loadChainFiles(join(dir, 'dups'));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ManifestError);
    const message = (error as Error).message;
    expect(message).toContain(first);
    expect(message).toContain(second);
    expect(message).toBe(`${second}: ServiceTemplateChain ns/same is also defined in ${first}`);
  });

  it('a chain without namespace and one in the default namespace are the same chain', () => {
    write('dups2/a.yaml', abChain('same'));
    write('dups2/b.yaml', abChain('same', 'default'));
    expect(() => loadChainFiles(join(dir, 'dups2'))).toThrow(/ServiceTemplateChain default\/same is also defined in/);
  });

  it('refuses a duplicate within one file, naming the documents', () => {
    const file = write('dups3/one.yaml', `${abChain('same', 'ns')}---\n${abChain('same', 'ns')}`);
    expect(() => loadChainFiles(file)).toThrow(`${file} (document 2): ServiceTemplateChain ns/same is also defined in ${file} (document 1)`);
  });

  it('the same name in two namespaces is fine', () => {
    write('two-ns/a.yaml', abChain('same', 'ns1'));
    write('two-ns/b.yaml', abChain('same', 'ns2'));
    expect(loadChainFiles(join(dir, 'two-ns')).size).toBe(2);
  });

  it('a malformed chain is a ManifestError naming the file', () => {
    const file = write('malformed/c.yaml', 'kind: ServiceTemplateChain\nmetadata: {name: c}\nspec: {supportedTemplates: [{availableUpgrades: []}]}\n');
    expect(() => loadChainFiles(file)).toThrow(`${file}: ServiceTemplateChain: spec.supportedTemplates[0].name is required`);
    const noName = write('malformed/d.yaml', 'kind: ServiceTemplateChain\nspec: {}\n');
    expect(() => loadChainFiles(noName)).toThrow(`${noName}: ServiceTemplateChain: metadata.name is required`);
  });
});
