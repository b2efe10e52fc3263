// `chaingate paths`: the servicesUpgradePaths the controller would publish for an object.
import { parseServices, MalformedObjectError } from '../model/parse.ts';
import { computeUpgradePaths } from '../status/upgrade-paths.ts';
import { OUTPUT_FORMATS, renderUpgradePaths } from '../status/render.ts';
import { chainNamespaceFor } from '../admission/service-decisions.ts';
import { DEFAULT_DECISION_OPTIONS } from '../admission/types.ts';
import { loadChainFiles } from '../sources/chain-files.ts';
import { readSingleManifest } from '../sources/manifest-files.ts';
import { EXIT_OK, UsageError, oneOf, parseFlags, requireFlag, type Command } from './command.ts';

export const pathsCommand: Command = {
  name: 'paths',
  summary: 'show the upgrades available to each service of an object',
  usage: `Usage: chaingate paths --chains PATH -f FILE [-o table|yaml|json]

Prints, for each service of the ClusterDeployment or MultiClusterService in FILE, every
template it can reach through its chain and the shortest path there: the value the
chaingate controller publishes as status.servicesUpgradePaths.

Options:
  --chains PATH            ServiceTemplateChain manifests (file or directory)
  -f, --filename FILE      the ClusterDeployment or MultiClusterService
  -o, --output FORMAT      table (default), yaml or json
  --system-namespace NS    where MultiClusterService chains live (default kcm-system)
  --namespace NS           namespace for objects without metadata.namespace (default "default")`,
  async run(args, io) {
    const { values } = parseFlags(args, {
      chains: { type: 'string' },
      filename: { type: 'string', short: 'f' },
      output: { type: 'string', short: 'o' },
      'system-namespace': { type: 'string' },
      namespace: { type: 'string' },
    });
    if (values.help) {
      io.stdout(this.usage);
      return EXIT_OK;
    }
    const format = oneOf(values.output, OUTPUT_FORMATS, '--output', 'table');
    const defaultNamespace = values.namespace ?? 'default';
    const chains = loadChainFiles(requireFlag(values.chains, '--chains'), { defaultNamespace });
    const { object } = readSingleManifest(requireFlag(values.filename, '--filename'));
    if (object.kind !== 'ClusterDeployment' && object.kind !== 'MultiClusterService') {
      throw new UsageError(`-f must be a ClusterDeployment or MultiClusterService, not ${String(object.kind)}`);
    }
    let services;
    try {
      services = parseServices(object);
    } catch (err) {
      if (err instanceof MalformedObjectError) throw new UsageError(`${String(object.kind)}: ${err.message}`);
      throw err;
    }
    const metadata = (object.metadata ?? {}) as { namespace?: unknown };
    const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : defaultNamespace;
    const chainNamespace = chainNamespaceFor(object.kind, namespace, {
      ...DEFAULT_DECISION_OPTIONS,
      systemNamespace: values['system-namespace'] ?? DEFAULT_DECISION_OPTIONS.systemNamespace,
    });
    const { paths, problems } = computeUpgradePaths(services, chainNamespace, chains);
    io.stdout(renderUpgradePaths(paths, format));
    for (const problem of problems) io.stderr(`Warning: ${problem.message}`);
    return EXIT_OK;
  },
};
