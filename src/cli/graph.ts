// `chaingate graph`: a picture of one chain or of all of them, as Mermaid, dot or SVG;
// with --from or --object, the current template, what it reaches and each policy's route.
import { GRAPH_FORMATS, renderChains, type ChainHighlight, type GraphFormat } from '../graph/render.ts';
import { compareNames, type LoadedChain } from '../graph/loaded-chain.ts';
import { DEFAULT_DECISION_OPTIONS } from '../rules/types.ts';
import { requireChainSources } from '../sources/chain-files.ts';
import { EXIT_OK, UsageError, defineCommand } from './command.ts';
import { highlightFrom } from './graph-highlights.ts';
import { PICTURE_FORMATS, PNG_UNAVAILABLE, renderPicture, type PictureFormat } from './graph-svg.ts';

type OutputFormat = GraphFormat | PictureFormat;
const OUTPUT_FORMATS: readonly OutputFormat[] = [...GRAPH_FORMATS, ...PICTURE_FORMATS];

export const graphCommand = defineCommand({
  name: 'graph',
  summary: 'draw chains as Mermaid, Graphviz dot or SVG',
  synopsis: [
    '--chains PATH [--chain NAMESPACE/NAME] [--from TEMPLATE] [-o mermaid|dot|svg]',
    '--object clusterdeployment/NAME [-n NAMESPACE] [--kubeconfig FILE] [-o ...]',
  ],
  description: `Draws the upgrade graph of every ServiceTemplateChain in PATH (or of one, with --chain):
one box per chain, an arrow from each template to each template it may be upgraded to.
Mermaid renders in GitHub and GitLab markdown; dot is for Graphviz; svg is drawn by Graphviz
itself (compiled to WebAssembly, nothing to install). PNG is not available (exit 2): convert the SVG.
--from TEMPLATE draws the chains listing TEMPLATE, with it highlighted, what it can reach, and
the route each upgrade policy (edge, reachable, sequential) takes to each destination.
--object KIND/NAME reads a ClusterDeployment or MultiClusterService from the cluster and draws
the chains its services name, each service's current template highlighted the same way.`,
  options: {
    chains: { type: 'string', arg: 'PATH', description: 'ServiceTemplateChain manifests (file or directory, YAML or JSON; - for stdin); ServiceTemplates found there give templates their versions' },
    chain: { type: 'string', arg: 'NS/NAME', defaultText: 'every chain', description: 'only this chain' },
    format: { type: 'string', arg: 'FORMAT', values: OUTPUT_FORMATS, default: 'mermaid', description: 'the diagram language (png: refused, see above)' },
    output: { type: 'string', short: 'o', arg: 'FORMAT', values: OUTPUT_FORMATS, defaultText: '--format', description: 'the same as --format (kubectl\'s habit)' },
    from: { type: 'string', arg: 'TEMPLATE', description: 'highlight this template, what it reaches and each policy\'s routes' },
    object: { type: 'string', arg: 'KIND/NAME', description: 'live: draw the chains of this object\'s services, their current templates highlighted' },
    namespace: { type: 'string', short: 'n', arg: 'NS', defaultText: "the kubeconfig context's, else \"default\"", description: "with --object: the ClusterDeployment's namespace" },
    kubeconfig: { type: 'string', arg: 'FILE', defaultText: '$KUBECONFIG or in-cluster', description: 'with --object: the cluster' },
    context: { type: 'string', arg: 'NAME', defaultText: "the kubeconfig's current context", description: 'with --object: the kubeconfig context to use' },
    'system-namespace': { type: 'string', arg: 'NS', default: DEFAULT_DECISION_OPTIONS.systemNamespace, description: 'with --object: where MultiClusterService chains live' },
  },
  async run({ values, given }, io) {
    if (given.has('format') && values.output !== undefined && values.output !== values.format) {
      throw new UsageError(`--format ${values.format} and -o ${values.output} disagree: give one`);
    }
    const format: OutputFormat = values.output ?? values.format;
    // Refused before anything is read, so a pipeline learns it at once.
    if (format === 'png') throw new UsageError(PNG_UNAVAILABLE);

    let chains: LoadedChain[];
    let highlights = new Map<string, ChainHighlight[]>();
    if (values.object !== undefined) {
      for (const flag of ['chains', 'chain', 'from'] as const) {
        if (values[flag] !== undefined) throw new UsageError(`--object reads the cluster: do not combine it with --${flag}`);
      }
      const { liveGraph } = await import('./graph-live.ts');
      const live = await liveGraph({
        target: values.object,
        namespace: values.namespace,
        kubeconfig: values.kubeconfig,
        context: values.context,
        systemNamespace: values['system-namespace'],
      });
      for (const problem of live.problems) io.stderr(`Warning: ${problem}`);
      chains = live.chains;
      highlights = live.highlights;
    } else {
      if (values.chains === undefined) throw new UsageError('--chains (or --object) is required');
      for (const flag of ['namespace', 'kubeconfig', 'context'] as const) {
        if (values[flag] !== undefined) throw new UsageError(`--${flag} is for --object only`);
      }
      const { chains: registry, templates } = requireChainSources(values.chains, { flag: '--chains', stdin: io.stdin });
      chains = registry.list().sort((a, b) => compareNames(a.key, b.key));
      if (values.chain) {
        const [namespace, name, ...rest] = values.chain.split('/');
        if (!namespace || !name || rest.length > 0) throw new UsageError('--chain must be NAMESPACE/NAME');
        const chain = registry.get(namespace, name);
        if (!chain) throw new UsageError(`no chain ${values.chain}; known: ${chains.map((c) => c.key).join(', ')}`);
        chains = [chain];
      }
      if (values.from !== undefined) {
        const from = values.from;
        const listing = chains.filter((c) => c.supports(from));
        if (listing.length === 0) {
          const where = values.chain ? `chain ${values.chain}` : `any chain in ${values.chains}`;
          throw new UsageError(`--from ${from}: not a template of ${where}`);
        }
        chains = listing;
        for (const chain of chains) highlights.set(chain.key, [highlightFrom(chain, from, { lookup: (ns, t) => templates.get(ns, t) })]);
      }
    }

    if (format === 'mermaid' || format === 'dot') {
      io.stdout(renderChains(chains, format, highlights));
    } else {
      io.stdout(await renderPicture(renderChains(chains, 'dot', highlights), format));
    }
    return EXIT_OK;
  },
});
