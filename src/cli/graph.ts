// `chaingate graph`: a picture of one chain or of all of them.
import { GRAPH_FORMATS, renderChains } from '../graph/render.ts';
import { compareNames } from '../graph/loaded-chain.ts';
import { requireChainSources } from '../sources/chain-files.ts';
import { EXIT_OK, UsageError, defineCommand, requireFlag } from './command.ts';

export const graphCommand = defineCommand({
  name: 'graph',
  summary: 'draw chains as Mermaid or Graphviz dot',
  synopsis: ['--chains PATH [--chain NAMESPACE/NAME] [--format mermaid|dot]'],
  description: `Draws the upgrade graph of every ServiceTemplateChain in PATH (or of one, with --chain):
one box per chain, an arrow from each template to each template it may be upgraded to.
Mermaid renders in GitHub and GitLab markdown; dot is for Graphviz (dot -Tsvg).`,
  options: {
    chains: { type: 'string', arg: 'PATH', description: 'ServiceTemplateChain manifests (file or directory, YAML or JSON; - for stdin)' },
    chain: { type: 'string', arg: 'NS/NAME', defaultText: 'every chain', description: 'only this chain' },
    format: { type: 'string', arg: 'FORMAT', values: GRAPH_FORMATS, default: 'mermaid', description: 'the diagram language' },
  },
  async run({ values }, io) {
    const path = requireFlag(values.chains, '--chains');
    const { chains: registry } = requireChainSources(path, { flag: '--chains', stdin: io.stdin });
    let chains = registry.list().sort((a, b) => compareNames(a.key, b.key));
    if (values.chain) {
      const [namespace, name, ...rest] = values.chain.split('/');
      if (!namespace || !name || rest.length > 0) throw new UsageError('--chain must be NAMESPACE/NAME');
      const chain = registry.get(namespace, name);
      if (!chain) throw new UsageError(`no chain ${values.chain}; known: ${chains.map((c) => c.key).join(', ')}`);
      chains = [chain];
    }
    io.stdout(renderChains(chains, values.format));
    return EXIT_OK;
  },
});
