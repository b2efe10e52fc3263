// `chaingate graph`: a picture of one chain or of all of them.
import { GRAPH_FORMATS, renderChains } from '../graph/render.ts';
import { compareNames } from '../graph/template-chain.ts';
import { loadChainFiles } from '../sources/chain-files.ts';
import { EXIT_OK, UsageError, oneOf, parseFlags, requireFlag, type Command } from './command.ts';

export const graphCommand: Command = {
  name: 'graph',
  summary: 'draw chains as Mermaid or Graphviz dot',
  usage: `Usage: chaingate graph --chains PATH [--chain NAMESPACE/NAME] [--format mermaid|dot]

Options:
  --chains PATH        ServiceTemplateChain manifests (file or directory)
  --chain NS/NAME      only this chain (default: every chain)
  --format FORMAT      mermaid (default) or dot`,
  async run(args, io) {
    const { values } = parseFlags(args, {
      chains: { type: 'string' },
      chain: { type: 'string' },
      format: { type: 'string' },
    });
    if (values.help) {
      io.stdout(this.usage);
      return EXIT_OK;
    }
    const format = oneOf(values.format, GRAPH_FORMATS, '--format', 'mermaid');
    const registry = loadChainFiles(requireFlag(values.chains, '--chains'));
    let chains = registry.list().sort((a, b) => compareNames(a.key, b.key));
    if (values.chain) {
      const [namespace, name, ...rest] = values.chain.split('/');
      if (!namespace || !name || rest.length > 0) throw new UsageError('--chain must be NAMESPACE/NAME');
      const chain = registry.get(namespace, name);
      if (!chain) {
        throw new UsageError(`no chain ${values.chain}; known: ${chains.map((c) => c.key).join(', ') || 'none'}`);
      }
      chains = [chain];
    }
    if (chains.length === 0) throw new UsageError('no ServiceTemplateChain found in --chains');
    io.stdout(renderChains(chains, format));
    return EXIT_OK;
  },
};
