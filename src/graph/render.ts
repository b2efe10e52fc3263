// Pictures of chains: Mermaid (renders in GitHub markdown) and Graphviz dot, optionally with
// highlights: the template a service is on, what it can reach, and the route each upgrade
// policy takes there. Pure text generation; turning dot into SVG is the CLI's (src/cli/graph-svg.ts).
import type { LoadedChain } from './loaded-chain.ts';

export type GraphFormat = 'mermaid' | 'dot';
export const GRAPH_FORMATS: readonly GraphFormat[] = ['mermaid', 'dot'];

/** The policies whose routes a highlight shows (rules/types.ts's UPGRADE_POLICIES less `auto`). */
export type RoutePolicy = 'edge' | 'reachable' | 'sequential';
export const ROUTE_POLICIES: readonly RoutePolicy[] = ['edge', 'reachable', 'sequential'];

/** One template to highlight in a chain: the one a service is on (or --from names). */
export interface ChainHighlight {
  current: string;
  /** Who is on it (a service), shown under the template's name; absent for --from. */
  who?: string;
  /** Templates reachable from `current`. */
  reachable: readonly string[];
  /** Per policy, each route from `current` (its steps, `current` excluded), every step a declared edge. */
  routes: Readonly<Record<RoutePolicy, readonly (readonly string[])[]>>;
}

/** Highlights by chain key (NAMESPACE/NAME). */
export type Highlights = ReadonlyMap<string, readonly ChainHighlight[]>;

/** Colours of the picture; also the classes an SVG reader can select on. */
export const COLOURS = {
  current: '#f6c343',
  reachable: '#c6f6d5',
  other: '#a0aec0',
  route: { edge: '#2b6cb0', reachable: '#2f855a', sequential: '#dd6b20' } satisfies Record<RoutePolicy, string>,
} as const;

export function renderChains(chains: LoadedChain[], format: GraphFormat, highlights: Highlights = new Map()): string {
  return format === 'mermaid' ? mermaid(chains, highlights) : dot(chains, highlights);
}

/** What a chain's highlights say about its nodes and edges. */
interface Marks {
  current: Map<string, string[]>;
  reachable: Set<string>;
  /** "from\0to" -> policies whose routes take that edge, in ROUTE_POLICIES order. */
  routeEdges: Map<string, RoutePolicy[]>;
}

function marksOf(highlights: readonly ChainHighlight[] | undefined): Marks | undefined {
  if (!highlights || highlights.length === 0) return undefined;
  const marks: Marks = { current: new Map(), reachable: new Set(), routeEdges: new Map() };
  for (const h of highlights) {
    const who = marks.current.get(h.current) ?? [];
    if (h.who) who.push(h.who);
    marks.current.set(h.current, who);
    for (const t of h.reachable) marks.reachable.add(t);
    for (const policy of ROUTE_POLICIES) {
      for (const route of h.routes[policy]) {
        let previous = h.current;
        for (const step of route) {
          const key = `${previous}\u0000${step}`;
          const policies = marks.routeEdges.get(key) ?? [];
          if (!policies.includes(policy)) policies.push(policy);
          marks.routeEdges.set(key, policies);
          previous = step;
        }
      }
    }
  }
  for (const policies of marks.routeEdges.values()) policies.sort((a, b) => ROUTE_POLICIES.indexOf(a) - ROUTE_POLICIES.indexOf(b));
  for (const who of marks.current.values()) who.sort();
  return marks;
}

type NodeMark = 'current' | 'reachable' | 'other';
const nodeMark = (marks: Marks, name: string): NodeMark => (marks.current.has(name) ? 'current' : marks.reachable.has(name) ? 'reachable' : 'other');

function mermaid(chains: LoadedChain[], highlights: Highlights): string {
  const lines = ['flowchart LR'];
  const styles: string[] = [];
  const ids = new Map<string, string>();
  const id = (chain: LoadedChain, node: string) => {
    const key = `${chain.key}\u0000${node}`;
    if (!ids.has(key)) ids.set(key, `n${ids.size}`);
    return ids.get(key)!;
  };
  let link = 0;
  const marked = new Map<NodeMark, string[]>();
  chains.forEach((chain, index) => {
    const marks = marksOf(highlights.get(chain.key));
    lines.push(`  subgraph c${index}["${escapeMermaid(chain.key)}${chain.valid ? '' : ' (invalid)'}"]`);
    for (const node of chain.nodes()) {
      const who = marks?.current.get(node) ?? [];
      lines.push(`    ${id(chain, node)}["${escapeMermaid([node, ...who].join('<br>'))}"]`);
      if (marks) marked.set(nodeMark(marks, node), [...(marked.get(nodeMark(marks, node)) ?? []), id(chain, node)]);
    }
    for (const [from, to] of chain.edges()) {
      lines.push(`    ${id(chain, from)} --> ${id(chain, to)}`);
      // Mermaid colours a link with one stroke: the first policy that takes it.
      const policies = marks?.routeEdges.get(`${from}\u0000${to}`);
      if (policies) styles.push(`  linkStyle ${link} stroke:${COLOURS.route[policies[0]!]},stroke-width:3px`);
      link++;
    }
    lines.push('  end');
  });
  if (marked.size > 0) {
    lines.push(`  classDef current fill:${COLOURS.current},stroke-width:2px`, `  classDef reachable fill:${COLOURS.reachable}`, `  classDef other color:${COLOURS.other}`);
    for (const mark of ['current', 'reachable', 'other'] as const) {
      const nodes = marked.get(mark);
      if (nodes) lines.push(`  class ${nodes.join(',')} ${mark}`);
    }
  }
  return [...lines, ...styles].join('\n');
}

function dot(chains: LoadedChain[], highlights: Highlights): string {
  const lines = ['digraph chains {', '  rankdir=LR;', '  node [shape=box, fontname="Helvetica"];', '  edge [fontname="Helvetica"];'];
  let anyMarks = false;
  chains.forEach((chain, index) => {
    const marks = marksOf(highlights.get(chain.key));
    anyMarks ||= marks !== undefined;
    lines.push(`  subgraph cluster_${index} {`, `    label=${quoteDot(chain.key + (chain.valid ? '' : ' (invalid)'))};`);
    const node = (name: string) => quoteDot(`${chain.key}/${name}`);
    for (const name of chain.nodes()) {
      if (!marks) {
        lines.push(`    ${node(name)} [label=${quoteDot(name)}];`);
        continue;
      }
      const mark = nodeMark(marks, name);
      const who = marks.current.get(name) ?? [];
      const attrs = [`label=${quoteDot([name, ...who].join('\n'))}`, `class=${quoteDot(mark)}`];
      if (mark === 'current') attrs.push('style="filled,bold"', `fillcolor=${quoteDot(COLOURS.current)}`);
      else if (mark === 'reachable') attrs.push('style=filled', `fillcolor=${quoteDot(COLOURS.reachable)}`);
      else attrs.push(`color=${quoteDot(COLOURS.other)}`, `fontcolor=${quoteDot(COLOURS.other)}`);
      lines.push(`    ${node(name)} [${attrs.join(', ')}];`);
    }
    for (const [from, to] of chain.edges()) {
      const policies = marks?.routeEdges.get(`${from}\u0000${to}`);
      if (!policies) {
        lines.push(`    ${node(from)} -> ${node(to)}${marks ? ` [color=${quoteDot(COLOURS.other)}]` : ''};`);
        continue;
      }
      // One parallel line per policy whose route takes the edge (Graphviz colour lists).
      const attrs = [
        `class=${quoteDot(['route', ...policies.map((p) => `route-${p}`)].join(' '))}`,
        `color=${quoteDot(policies.map((p) => COLOURS.route[p]).join(':'))}`,
        'penwidth=2',
        `tooltip=${quoteDot(`${policies.join(', ')}: ${from} -> ${to}`)}`,
      ];
      lines.push(`    ${node(from)} -> ${node(to)} [${attrs.join(', ')}];`);
    }
    lines.push('  }');
  });
  if (anyMarks) lines.push(legend());
  lines.push('}');
  return lines.join('\n');
}

/** A key to the colours, as its own box under the chains. */
function legend(): string {
  const rows = [
    `<TR><TD BGCOLOR="${COLOURS.current}">current template</TD></TR>`,
    `<TR><TD BGCOLOR="${COLOURS.reachable}">reachable from it</TD></TR>`,
    ...ROUTE_POLICIES.map((p) => `<TR><TD><FONT COLOR="${COLOURS.route[p]}">&#8594; route under ${p}</FONT></TD></TR>`),
  ];
  return `  legend [shape=plaintext, class="legend", label=<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">${rows.join('')}</TABLE>>];`;
}

function escapeMermaid(text: string): string {
  return text.replace(/"/g, '#quot;');
}

function quoteDot(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}
