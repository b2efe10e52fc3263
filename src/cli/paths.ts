// `chaingate paths`: the servicesUpgradePaths the controller would publish for an object.
import { parseServices, MalformedObjectError } from '../model/parse.ts';
import { computeUpgradePaths } from '../status/upgrade-paths.ts';
import { OUTPUT_FORMATS, renderUpgradePaths } from '../status/render.ts';
import { chainNamespaceFor } from '../admission/service-decisions.ts';
import { DEFAULT_DECISION_OPTIONS, UPGRADE_POLICIES } from '../admission/types.ts';
import { loadChainSources } from '../sources/chain-files.ts';
import { readSingleManifest } from '../sources/manifest-files.ts';
import { EXIT_OK, UsageError, oneOf, parseFlags, requireFlag, type Command } from './command.ts';

export const pathsCommand: Command = {
  name: 'paths',
  summary: 'show the upgrades available to each service of an object',
  usage: `Usage: chaingate paths --chains PATH -f FILE [-o table|yaml|json]
       chaingate paths clusterdeployment/NAME [-n NAMESPACE] [--kubeconfig FILE] [-o ...]
       chaingate paths multiclusterservice/NAME [--kubeconfig FILE] [-o ...]

Prints, for each service of the ClusterDeployment or MultiClusterService in FILE, every
template it can reach through its chain and the shortest path there: the value the
chaingate controller publishes as status.servicesUpgradePaths. With KIND/NAME it reads
the object from the cluster and prints its published status, or computes it from the
cluster's chains when the controller has not published one (said on stderr).
Installed as kubectl-chaingate, it also runs as "kubectl chaingate paths ...".

Options:
  --chains PATH            ServiceTemplateChain manifests (file or directory); ServiceTemplates
                           found there give templates their versions
  --upgrade-policy P       edge (default) or reachable: shortest paths; sequential: the steps
                           kcm v1.6+ deploys, over the fewest edits that policy admits
  -f, --filename FILE      the ClusterDeployment or MultiClusterService
  -o, --output FORMAT      table (default), yaml or json
  -n, --namespace NS       live mode: the ClusterDeployment's namespace (default "default");
                           file mode: namespace for objects without metadata.namespace
  --kubeconfig FILE        live mode: the cluster (default: $KUBECONFIG or in-cluster)
  --system-namespace NS    where MultiClusterService chains live (default kcm-system)
`,
  async run(args, io) {
    const { values, positionals } = parseFlags(
      args,
      {
        chains: { type: 'string' },
        filename: { type: 'string', short: 'f' },
        output: { type: 'string', short: 'o' },
        'system-namespace': { type: 'string' },
        'upgrade-policy': { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        kubeconfig: { type: 'string' },
      },
      true,
    );
    if (values.help) {
      io.stdout(this.usage);
      return EXIT_OK;
    }
    const format = oneOf(values.output, OUTPUT_FORMATS, '--output', 'table');
    const policy = oneOf(values['upgrade-policy'], UPGRADE_POLICIES, '--upgrade-policy', 'edge');
    if (positionals.length > 1) throw new UsageError('expected one KIND/NAME');
    if (positionals.length === 1) {
      if (values.chains || values.filename) throw new UsageError('KIND/NAME reads the cluster: do not combine it with --chains or -f');
      const { livePaths } = await import('./paths-live.ts');
      const result = await livePaths({
        target: positionals[0]!,
        namespace: values.namespace ?? 'default',
        kubeconfig: values.kubeconfig,
        systemNamespace: values['system-namespace'] ?? DEFAULT_DECISION_OPTIONS.systemNamespace,
      });
      if (result.source === 'computed') io.stderr('Note: no published status yet; computed from the chains in the cluster');
      io.stdout(renderUpgradePaths(result.paths, format));
      for (const problem of result.problems) io.stderr(`Warning: ${problem}`);
      return EXIT_OK;
    }
    const defaultNamespace = values.namespace ?? 'default';
    const { chains, templates } = loadChainSources(requireFlag(values.chains, '--chains'), { defaultNamespace });
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
    const { paths, problems } = computeUpgradePaths(services, chainNamespace, chains, {
      policy,
      templateVersion: (ns, name) => templates.get(ns, name),
    });
    if (values['upgrade-policy'] !== undefined) io.stderr(`policy: ${policy}`);
    io.stdout(renderUpgradePaths(paths, format));
    for (const problem of problems) if (problem.type === 'Warning') io.stderr(`Warning: ${problem.message}`);
    return EXIT_OK;
  },
};
