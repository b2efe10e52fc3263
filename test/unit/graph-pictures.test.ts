// `chaingate graph` highlights (--from), SVG drawn by Graphviz-as-WebAssembly, bad input, and
// the README picture, which must be what the code draws now.
import { describe, it, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/commands.ts';
import { renderChains, COLOURS } from '../../src/graph/render.ts';
import { highlightFrom } from '../../src/cli/graph-highlights.ts';
import { renderPicture } from '../../src/cli/graph-svg.ts';
import { ChainRegistry } from '../../src/graph/chain-registry.ts';
import { parseChain } from '../../src/model/parse.ts';
import { PICTURES, REGENERATE, committedPicture, renderPicture as drawPicture } from '../support/pictures.ts';
import { templateChain } from '../support/builders.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

async function run(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => (stdout += `${t}\n`), stderr: (t) => (stderr += `${t}\n`) });
  return { code, stdout, stderr };
}

/** The SVG's nodes and edges by their <title> (Graphviz writes one per element), with classes and colours. */
function svgElements(svg: string) {
  const decode = (s: string) => s.replace(/&#45;/g, '-').replace(/&gt;/g, '>').replace(/&lt;/g, '<').replace(/&amp;/g, '&').replace(/&#(\d+);/g, (_m, n: string) => String.fromCodePoint(Number(n)));
  const elements: Array<{ kind: string; classes: string[]; title: string; body: string }> = [];
  for (const m of svg.matchAll(/<g id="[^"]*" class="(node|edge)([^"]*)">\s*<title>([^<]*)<\/title>([\s\S]*?)<\/g>/g)) {
    elements.push({ kind: m[1]!, classes: decode(m[2]!).trim().split(/\s+/).filter(Boolean), title: decode(m[3]!), body: m[4]! });
  }
  return elements;
}

// A versioned chain where kcm's walk differs from the shortest path: a -> c is an edge, but
// from a (1.0.0) kcm steps to b (1.1.0) first, since b is the smallest version on the way.
const VERSIONED = {
  apiVersion: 'k0rdent.mirantis.com/v1beta1',
  kind: 'ServiceTemplateChain',
  metadata: { name: 'v', namespace: 'ns' },
  spec: {
    supportedTemplates: [
      { name: 'a', availableUpgrades: [{ name: 'b', version: '1.1.0' }, { name: 'c', version: '1.2.0' }] },
      { name: 'b', availableUpgrades: [{ name: 'c', version: '1.2.0' }] },
      { name: 'c', availableUpgrades: [] },
      { name: 'z', availableUpgrades: [{ name: 'a', version: '1.0.0' }] },
    ],
  },
};

function versionedChain() {
  const registry = new ChainRegistry();
  registry.set(parseChain(structuredClone(VERSIONED)));
  return registry.get('ns', 'v')!;
}

describe('graph highlights', () => {
  it('routes: edge and reachable take the shortest path, sequential the steps kcm walks', () => {
    const h = highlightFrom(versionedChain(), 'a', { version: '1.0.0' });
    expect(h.current).toBe('a');
    expect([...h.reachable].sort()).toEqual(['b', 'c']);
    expect(h.routes.edge).toEqual([['b'], ['c']]);
    expect(h.routes.reachable).toEqual(h.routes.edge);
    expect(h.routes.sequential).toEqual([['b'], ['b', 'c']]);
  });

  it('dot marks the current template, the reachable ones, the rest, and each policy on its edges', () => {
    const chain = versionedChain();
    const text = renderChains([chain], 'dot', new Map([[chain.key, [highlightFrom(chain, 'a', { version: '1.0.0' })]]]));
    expect(text).toContain(`"ns/v/a" [label="a", class="current", style="filled,bold", fillcolor="${COLOURS.current}"]`);
    expect(text).toContain(`"ns/v/b" [label="b", class="reachable"`);
    expect(text).toContain(`"ns/v/z" [label="z", class="other"`);
    expect(text).toMatch(/"ns\/v\/a" -> "ns\/v\/b" \[class="route route-edge route-reachable route-sequential"/);
    expect(text).toMatch(/"ns\/v\/a" -> "ns\/v\/c" \[class="route route-edge route-reachable", color="#2b6cb0:#2f855a"/);
    expect(text).toMatch(/"ns\/v\/b" -> "ns\/v\/c" \[class="route route-sequential", color="#dd6b20"/);
    expect(text).toContain(`"ns/v/z" -> "ns/v/a" [color="${COLOURS.other}"]`);
    expect(text).toContain('legend [');
  });

  it('without highlights, dot and mermaid are the plain pictures (no classes, no legend)', () => {
    const chain = templateChain({ a: ['b'], b: [] }, 'c', 'ns');
    expect(renderChains([chain], 'dot')).not.toMatch(/class=|legend/);
    expect(renderChains([chain], 'mermaid')).not.toMatch(/classDef|linkStyle/);
  });

  it('mermaid gets node classes and route link styles', () => {
    const chain = versionedChain();
    const text = renderChains([chain], 'mermaid', new Map([[chain.key, [highlightFrom(chain, 'a', { version: '1.0.0', who: 'service default/web' })]]]));
    expect(text).toContain('n0["a<br>service default/web"]');
    expect(text).toContain('class n0 current');
    expect(text).toMatch(/class n1,n2 reachable/);
    expect(text).toContain('class n3 other');
    // links in edge order: a->b, a->c, b->c, z->a; the last takes no route
    expect(text).toMatch(/linkStyle 0 stroke:#2b6cb0/);
    expect(text).toMatch(/linkStyle 2 stroke:#dd6b20/);
    expect(text).not.toMatch(/linkStyle 3 /);
  });

  it('quotes newlines and quotes in dot labels', () => {
    const chain = templateChain({ 'x"y': [] }, 'c', 'ns');
    const text = renderChains([chain], 'dot', new Map([[chain.key, [{ current: 'x"y', who: 'service a/b', reachable: [], routes: { edge: [], reachable: [], sequential: [] } }]]]));
    expect(text).toContain('label="x\\"y\\nservice a/b"');
  });
});

describe('graph -o svg', () => {
  it('Graphviz draws every node and edge, with the highlight classes and colours', async () => {
    const chain = versionedChain();
    const svg = await renderPicture(renderChains([chain], 'dot', new Map([[chain.key, [highlightFrom(chain, 'a', { version: '1.0.0' })]]])), 'svg');
    expect(svg.startsWith('<?xml')).toBe(true);
    const elements = svgElements(svg);
    const nodes = elements.filter((e) => e.kind === 'node');
    const edges = elements.filter((e) => e.kind === 'edge');
    expect(nodes.map((n) => n.title).sort()).toEqual(['legend', 'ns/v/a', 'ns/v/b', 'ns/v/c', 'ns/v/z']);
    expect(edges.map((e) => e.title).sort()).toEqual(['ns/v/a->ns/v/b', 'ns/v/a->ns/v/c', 'ns/v/b->ns/v/c', 'ns/v/z->ns/v/a']);
    const node = (t: string) => nodes.find((n) => n.title === t)!;
    const edge = (t: string) => edges.find((e) => e.title === t)!;
    expect(node('ns/v/a').classes).toContain('current');
    expect(node('ns/v/a').body).toContain(`fill="${COLOURS.current}"`);
    expect(node('ns/v/c').classes).toContain('reachable');
    expect(node('ns/v/z').classes).toContain('other');
    expect(edge('ns/v/b->ns/v/c').classes).toEqual(['route', 'route-sequential']);
    expect(edge('ns/v/b->ns/v/c').body).toContain(`stroke="${COLOURS.route.sequential}"`);
    expect(edge('ns/v/a->ns/v/c').classes).not.toContain('route-sequential');
    expect(edge('ns/v/z->ns/v/a').classes).toEqual([]);
  });

  it('is deterministic: the same chains draw the same bytes', async () => {
    const args = ['graph', '--chains', `${EXAMPLES}chains`, '-o', 'svg'];
    const [a, b] = [await run(args), await run(args)];
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    // 3 + 2 + 5 templates in the three example chains, no legend without highlights
    expect(svgElements(a.stdout).filter((e) => e.kind === 'node')).toHaveLength(10);
  });

  it('--format svg and -o svg are the same; disagreeing values are refused', async () => {
    const base = ['graph', '--chains', `${EXAMPLES}chains`, '--chain', 'kcm-system/kyverno'];
    expect((await run([...base, '--format', 'svg'])).stdout).toBe((await run([...base, '-o', 'svg'])).stdout);
    const both = await run([...base, '--format', 'dot', '-o', 'svg']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--format dot and -o svg disagree');
  });
});

describe('graph bad input', () => {
  it('-o png exits 2 and says how to get one, printing nothing', async () => {
    const r = await run(['graph', '--chains', `${EXAMPLES}chains`, '-o', 'png']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('-o png is not available');
    expect(r.stderr).toContain('-o svg');
  });

  it('an unknown --from template exits 2 naming it', async () => {
    const r = await run(['graph', '--chains', `${EXAMPLES}chains`, '--chain', 'kcm-system/kyverno', '--from', 'ingress-nginx-4-11-3']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('--from ingress-nginx-4-11-3: not a template of chain kcm-system/kyverno');
  });

  it('--from draws only the chains that list the template', async () => {
    const r = await run(['graph', '--chains', `${EXAMPLES}chains`, '--from', 'kyverno-3-2-0', '-o', 'dot']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('label="kcm-system/kyverno"');
    expect(r.stdout).not.toContain('ingress-nginx');
  });

  it('--object cannot be combined with file flags, nor live flags used without it; a bad KIND/NAME exits 2', async () => {
    const mixed = await run(['graph', '--object', 'clusterdeployment/x', '--chains', `${EXAMPLES}chains`]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('do not combine it with --chains');
    const stray = await run(['graph', '--chains', `${EXAMPLES}chains`, '-n', 'ns']);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain('--namespace is for --object only');
    const bad = await run(['graph', '--object', 'pod/x', '--kubeconfig', `${EXAMPLES}chains/kyverno.yaml`]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--object: expected clusterdeployment/NAME or multiclusterservice/NAME, got "pod/x"');
    const none = await run(['graph']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--chains (or --object) is required');
  });
});

describe('README pictures', () => {
  it.each(PICTURES)('$file is what chaingate draws now', async (picture) => {
    const now = await drawPicture(picture);
    let committed: string;
    try {
      committed = committedPicture(picture);
    } catch {
      throw new Error(`${picture.file} is missing: run "${REGENERATE}" and commit it`);
    }
    // Not toBe on 8 KiB of SVG: the message that matters is how to fix it.
    if (committed !== now) throw new Error(`${picture.file} is stale (chaingate ${picture.args.join(' ')} draws something else now): run "${REGENERATE}" and commit it`);
    expect(svgElements(now).some((e) => e.classes.includes('current'))).toBe(true);
  });
});
