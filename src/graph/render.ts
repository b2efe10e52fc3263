// Pictures of chains: Mermaid (renders in GitHub markdown) and Graphviz dot.
import type { LoadedChain } from './loaded-chain.ts';

export type GraphFormat = 'mermaid' | 'dot';
export const GRAPH_FORMATS: readonly GraphFormat[] = ['mermaid', 'dot'];

export function renderChains(chains: LoadedChain[], format: GraphFormat): string {
  return format === 'mermaid' ? mermaid(chains) : dot(chains);
}

function mermaid(chains: LoadedChain[]): string {
  const lines = ['flowchart LR'];
  const ids = new Map<string, string>();
  const id = (chain: LoadedChain, node: string) => {
    const key = `${chain.key}\u0000${node}`;
    if (!ids.has(key)) ids.set(key, `n${ids.size}`);
    return ids.get(key)!;
  };
  chains.forEach((chain, index) => {
    lines.push(`  subgraph c${index}["${escapeMermaid(chain.key)}${chain.valid ? '' : ' (invalid)'}"]`);
    for (const node of chain.nodes()) lines.push(`    ${id(chain, node)}["${escapeMermaid(node)}"]`);
    for (const [from, to] of chain.edges()) lines.push(`    ${id(chain, from)} --> ${id(chain, to)}`);
    lines.push('  end');
  });
  return lines.join('\n');
}

function dot(chains: LoadedChain[]): string {
  const lines = ['digraph chains {', '  rankdir=LR;', '  node [shape=box];'];
  chains.forEach((chain, index) => {
    lines.push(`  subgraph cluster_${index} {`, `    label=${quoteDot(chain.key + (chain.valid ? '' : ' (invalid)'))};`);
    const node = (name: string) => quoteDot(`${chain.key}/${name}`);
    for (const name of chain.nodes()) lines.push(`    ${node(name)} [label=${quoteDot(name)}];`);
    for (const [from, to] of chain.edges()) lines.push(`    ${node(from)} -> ${node(to)};`);
    lines.push('  }');
  });
  lines.push('}');
  return lines.join('\n');
}

function escapeMermaid(text: string): string {
  return text.replace(/"/g, '#quot;');
}

function quoteDot(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
