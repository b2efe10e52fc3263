// `chaingate paths`: the servicesUpgradePaths the controller would publish for an object.
import { parseServices, MalformedObjectError } from '../model/parse.ts';
import { computeUpgradePaths, UPGRADE_ITEM_SHAPES } from '../rules/published-paths.ts';
import { OUTPUT_FORMATS, renderUpgradePaths } from './render-paths.ts';
import { chainNamespaceFor } from '../rules/service-decisions.ts';
import { DEFAULT_DECISION_OPTIONS, UPGRADE_POLICIES } from '../rules/types.ts';
import { requireChainSources } from '../sources/chain-files.ts';
import { readSingleManifest } from '../sources/manifest-files.ts';
import { EXIT_OK, UsageError, defineCommand, oneStdin, requireFlag } from './command.ts';
import { outputOption } from './output.ts';

export const pathsCommand = defineCommand({
  name: 'paths',
  summary: 'show the upgrades available to each service of an object',
  synopsis: [
    '--chains PATH -f FILE [-o table|wide|yaml|json|name|jsonpath=TEMPLATE]',
    'clusterdeployment/NAME [-n NAMESPACE] [--kubeconfig FILE] [-o ...]',
    'multiclusterservice/NAME [--kubeconfig FILE] [-o ...]',
  ],
  description: `Prints, for each service of the ClusterDeployment or MultiClusterService in FILE, every
template it can reach through its chain and the shortest path there: the value the
chaingate controller publishes as status.servicesUpgradePaths. With KIND/NAME it reads
the object from the cluster and prints its published status, or computes it from the
cluster's chains when the controller has not published one (said on stderr).
Installed as kubectl-chaingate, it also runs as "kubectl chaingate paths ...".
A FILE (or PATH) of - is read from stdin (one of them at most).`,
  positionals: true,
  options: {
    chains: {
      type: 'string',
      arg: 'PATH',
      description: 'ServiceTemplateChain manifests (file or directory); ServiceTemplates found there give templates their versions',
    },
    'upgrade-policy': {
      type: 'string',
      arg: 'P',
      values: UPGRADE_POLICIES,
      default: 'edge',
      description: 'edge or reachable: shortest paths; sequential: the steps kcm v1.6+ deploys, over the fewest edits that policy admits',
    },
    'item-shape': {
      type: 'string',
      arg: 'S',
      values: UPGRADE_ITEM_SHAPES,
      default: 'names',
      description: "file mode: names: classic kcm's {upgradePaths}; versions: kcm v1.6+'s, with each step's {name, version} (live mode follows the served CRD)",
    },
    filename: { type: 'string', short: 'f', arg: 'FILE', description: 'the ClusterDeployment or MultiClusterService' },
    output: { ...outputOption(OUTPUT_FORMATS, '{.servicesUpgradePaths[*].name}'), default: 'table' },
    namespace: {
      type: 'string',
      short: 'n',
      arg: 'NS',
      default: 'default',
      defaultText: '"default"',
      description: "live mode: the ClusterDeployment's namespace; file mode: namespace for objects without metadata.namespace",
    },
    kubeconfig: { type: 'string', arg: 'FILE', defaultText: '$KUBECONFIG or in-cluster', description: 'live mode: the cluster' },
    context: { type: 'string', arg: 'NAME', defaultText: "the kubeconfig's current context", description: 'live mode: the kubeconfig context to use (its namespace is the default of -n, as in kubectl)' },
    'system-namespace': { type: 'string', arg: 'NS', default: DEFAULT_DECISION_OPTIONS.systemNamespace, description: 'where MultiClusterService chains live' },
  },
  async run({ values, positionals, given }, io) {
    const format = values.output;
    const policy = values['upgrade-policy'];
    if (positionals.length > 1) throw new UsageError('expected one KIND/NAME');
    if (positionals.length === 1) {
      if (values.chains || values.filename) throw new UsageError('KIND/NAME reads the cluster: do not combine it with --chains or -f');
      const { livePaths } = await import('./paths-live.ts');
      const result = await livePaths({
        target: positionals[0]!,
        namespace: given.has('namespace') ? values.namespace : undefined,
        kubeconfig: values.kubeconfig,
        context: values.context,
        systemNamespace: values['system-namespace'],
      });
      if (result.source === 'computed') io.stderr('Note: no published status yet; computed from the chains in the cluster');
      io.stdout(renderUpgradePaths(result.paths, format));
      for (const note of result.disagreements) io.stderr(`Note: ${note}`);
      for (const problem of result.problems) io.stderr(`Warning: ${problem}`);
      return EXIT_OK;
    }
    const defaultNamespace = values.namespace;
    const chainsPath = requireFlag(values.chains, '--chains');
    const filename = requireFlag(values.filename, '--filename');
    oneStdin({ '--chains': chainsPath, '--filename': filename });
    const { chains, templates } = requireChainSources(chainsPath, { defaultNamespace, flag: '--chains', stdin: io.stdin });
    const { object } = readSingleManifest(filename, { flag: '-f', stdin: io.stdin });
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
      systemNamespace: values['system-namespace'],
    });
    const { paths, problems } = computeUpgradePaths(services, chainNamespace, chains, {
      policy,
      templateVersion: (ns, name) => templates.get(ns, name),
      itemShape: values['item-shape'],
    });
    if (given.has('upgrade-policy')) io.stderr(`policy: ${policy}`);
    io.stdout(renderUpgradePaths(paths, format));
    for (const problem of problems) if (problem.type === 'Warning') io.stderr(`Warning: ${problem.message}`);
    return EXIT_OK;
  },
});
