// `chaingate chain generate` and `chaingate chain diff`: authoring ServiceTemplateChains.
// One command with two subcommands and one option table (the convention every command
// follows: it drives parsing, --help and README's table); flags of the other subcommand are
// refused by name rather than ignored.
import { stringify } from 'yaml';
import { parseChain, MalformedObjectError } from '../model/parse.ts';
import type { ServiceTemplateChain } from '../model/resources.ts';
import { ChainGenerationError, GENERATION_MODES, generateChains, readTemplate, type TemplateFacts } from '../rules/chain-generation.ts';
import { affectedServices, diffChains, diffLines, type AffectedService } from '../rules/chain-diff.ts';
import { DEFAULT_DECISION_OPTIONS } from '../rules/types.ts';
import { readManifests, readSingleManifest } from '../sources/manifest-files.ts';
import { EXIT_DENIED, EXIT_OK, UsageError, defineCommand, type Io } from './command.ts';

const SUBCOMMANDS = ['generate', 'diff'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

/** Which flags each subcommand takes (the others are refused). */
const FLAGS_OF: Record<Subcommand, readonly string[]> = {
  generate: ['mode', 'chart', 'name', 'from', 'rollback', 'filename', 'output', 'namespace', 'kubeconfig', 'context'],
  diff: ['output', 'namespace', 'kubeconfig', 'context', 'system-namespace'],
};

/** `servicetemplatechain/NAME` (kubectl's spelling) names a live chain; anything else is a file. */
const LIVE_CHAIN = /^(?:servicetemplatechains?|servicetemplatechains?\.k0rdent\.mirantis\.com)\/(.+)$/i;

export const chainCommand = defineCommand({
  name: 'chain',
  summary: 'generate a ServiceTemplateChain from ServiceTemplates, or diff two chains',
  synopsis: [
    'generate [-f PATH | --kubeconfig FILE -n NS] [--mode semver|semver-skippatch|replaces] [--chart NAME] [--name NAME] [--from VERSION] [--rollback] [-o yaml|json]',
    'diff OLD NEW [-n NS] [--kubeconfig FILE] [-o yaml|json]',
  ],
  description: `generate: groups the ServiceTemplates by Helm chart (spec.helm.chartSpec.chart, or the
annotation chaingate.k0rdent.mirantis.com/chart) and prints one ServiceTemplateChain per chart,
every upgrade carrying its target's version. Modes (after OLM's): semver, each version upgrades
to the next higher one; semver-skippatch, also straight to any higher patch of its own minor;
replaces, the edges the templates declare with the annotations
chaingate.k0rdent.mirantis.com/replaces (one template) and chaingate.k0rdent.mirantis.com/skips
(comma-separated). Templates whose version is not semver are left out with a note on stderr.
Without -f it reads the ServiceTemplates of namespace -n from the cluster.

diff: compares two chains, each a file or servicetemplatechain/NAME (read from the cluster,
namespace -n): the upgrades NEW adds and removes. When OLD is read from the cluster it also
names the ClusterDeployments and MultiClusterServices whose services use OLD and would lose
their current template's support or upgrades from it.`,
  positionals: true,
  footer: `Exit status: 0 done (notes and warnings on stderr); 1 (diff) a service on OLD would lose
its current template's support; 2 bad input (nothing is printed on stdout).`,
  options: {
    mode: { type: 'string', arg: 'M', values: GENERATION_MODES, default: 'semver', description: 'generate: how versions are linked (see above)' },
    chart: { type: 'string', arg: 'NAME', defaultText: 'every chart', description: "generate: only this Helm chart's templates" },
    name: { type: 'string', arg: 'NAME', defaultText: 'the chart name (-rollback appended with --rollback)', description: "generate: the chain's name (one chart only)" },
    from: { type: 'string', arg: 'VERSION', description: 'generate: the oldest version to include' },
    rollback: { type: 'boolean', description: 'generate: the reverse chain, each version going back one step (a rollback chain)' },
    filename: { type: 'string', short: 'f', arg: 'PATH', description: 'generate: ServiceTemplate manifests (file or directory, YAML or JSON; - for stdin) instead of the cluster' },
    output: { type: 'string', short: 'o', arg: 'FORMAT', values: ['yaml', 'json'], defaultText: 'generate: yaml; diff: a text report', description: 'yaml or json' },
    namespace: {
      type: 'string',
      short: 'n',
      arg: 'NS',
      defaultText: "the kubeconfig context's namespace, else default",
      description: "the namespace of the templates and of the chain (with -f: the templates' own)",
    },
    kubeconfig: { type: 'string', arg: 'FILE', defaultText: '$KUBECONFIG or in-cluster', description: 'the cluster (generate without -f; diff with servicetemplatechain/NAME)' },
    context: { type: 'string', arg: 'NAME', defaultText: "the kubeconfig's current context", description: 'the kubeconfig context to use' },
    'system-namespace': { type: 'string', arg: 'NS', default: DEFAULT_DECISION_OPTIONS.systemNamespace, description: 'diff: where MultiClusterService chains live' },
  },
  async run({ values, positionals, given }, io) {
    const [sub, ...args] = positionals;
    if (sub === undefined) throw new UsageError(`expected a subcommand: ${SUBCOMMANDS.join(' or ')}`);
    if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}: expected ${SUBCOMMANDS.join(' or ')}`);
    const subcommand = sub as Subcommand;
    const stray = [...given].filter((flag) => !FLAGS_OF[subcommand].includes(flag));
    if (stray.length > 0) throw new UsageError(`--${stray[0]} does not apply to chain ${subcommand}`);
    if (subcommand === 'generate') {
      if (args.length > 0) throw new UsageError(`chain generate takes no arguments (got ${JSON.stringify(args[0])})`);
      return generate(values, io);
    }
    if (args.length !== 2) throw new UsageError('chain diff expects two chains: OLD NEW (each a file or servicetemplatechain/NAME)');
    return diff(args[0]!, args[1]!, values, io);
  },
});

interface Values {
  mode: (typeof GENERATION_MODES)[number];
  chart: string | undefined;
  name: string | undefined;
  from: string | undefined;
  rollback: boolean | undefined;
  filename: string | undefined;
  output: 'yaml' | 'json' | undefined;
  namespace: string | undefined;
  kubeconfig: string | undefined;
  context: string | undefined;
  'system-namespace': string;
}

function render(value: unknown, format: 'yaml' | 'json'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) : stringify(value, { lineWidth: 0 });
}

async function generate(values: Values, io: Io): Promise<number> {
  let templates: TemplateFacts[];
  let namespace = values.namespace;
  try {
    if (values.filename !== undefined) {
      if (values.kubeconfig !== undefined || values.context !== undefined) throw new UsageError('-f reads files: do not combine it with --kubeconfig or --context');
      templates = readManifests(values.filename, { flag: '-f', stdin: io.stdin }).flatMap((m) => readTemplate(m.object, m.source) ?? []);
      if (templates.length === 0) throw new UsageError(`-f ${values.filename}: no ServiceTemplate found`);
    } else {
      const { connect, listServiceTemplates } = await import('./chain-live.ts');
      const cluster = await connect(values.kubeconfig, values.context, values.namespace);
      namespace = cluster.namespace;
      templates = (await listServiceTemplates(cluster)).flatMap((object) => readTemplate(object, `the cluster (${cluster.namespace})`) ?? []);
      if (templates.length === 0) throw new UsageError(`no ServiceTemplate in namespace ${cluster.namespace}`);
    }
    const { chains, notes, warnings } = generateChains(templates, {
      mode: values.mode,
      ...(values.chart !== undefined ? { chart: values.chart } : {}),
      ...(values.name !== undefined ? { name: values.name } : {}),
      ...(namespace !== undefined ? { namespace } : {}),
      ...(values.from !== undefined ? { from: values.from } : {}),
      rollback: values.rollback === true,
    });
    for (const note of notes) io.stderr(`Note: ${note}`);
    for (const warning of warnings) io.stderr(`Warning: ${warning}`);
    const format = values.output ?? 'yaml';
    if (format === 'json') io.stdout(render(chains.length === 1 ? chains[0] : { apiVersion: 'v1', kind: 'List', items: chains }, 'json'));
    else io.stdout(chains.map((c) => render(c, 'yaml')).join('---\n'));
    return EXIT_OK;
  } catch (err) {
    if (err instanceof ChainGenerationError) throw new UsageError(err.message);
    throw err;
  }
}

async function diff(oldArg: string, newArg: string, values: Values, io: Io): Promise<number> {
  const live = [oldArg, newArg].some((a) => LIVE_CHAIN.test(a));
  if (!live && (values.kubeconfig !== undefined || values.context !== undefined)) throw new UsageError('--kubeconfig and --context apply to servicetemplatechain/NAME arguments');
  const cluster = live ? await (await import('./chain-live.ts')).connect(values.kubeconfig, values.context, values.namespace) : undefined;
  if ([oldArg, newArg].every((a) => a === '-')) throw new UsageError('only one of OLD, NEW can be - (stdin)');
  const read = async (arg: string, which: string): Promise<{ chain: ServiceTemplateChain; label: string }> => {
    const name = LIVE_CHAIN.exec(arg)?.[1];
    if (name !== undefined && cluster) {
      const chain = await (await import('./chain-live.ts')).readLiveChain(cluster, name);
      return { chain, label: `${cluster.namespace}/${name}` };
    }
    const manifest = readSingleManifest(arg, { flag: which, stdin: io.stdin });
    if (manifest.object.kind !== 'ServiceTemplateChain') throw new UsageError(`${which} ${arg}: expected a ServiceTemplateChain, got ${String(manifest.object.kind)}`);
    try {
      const chain = parseChain(manifest.object);
      return { chain, label: chain.metadata.namespace ? `${chain.metadata.namespace}/${chain.metadata.name}` : chain.metadata.name! };
    } catch (err) {
      if (err instanceof MalformedObjectError) throw new UsageError(`${which} ${arg}: ${err.message}`);
      throw err;
    }
  };
  const old = await read(oldArg, 'OLD');
  const next = await read(newArg, 'NEW');
  const changes = diffChains(old.chain, next.chain);
  let affected: AffectedService[] | undefined;
  if (cluster && LIVE_CHAIN.test(oldArg)) {
    const { chainUsers } = await import('./chain-live.ts');
    affected = affectedServices(changes, old.chain.metadata.name!, next.chain, await chainUsers(cluster, cluster.namespace, values['system-namespace']));
  }
  if (values.output) io.stdout(render({ old: old.label, new: next.label, ...changes, ...(affected ? { affected } : {}) }, values.output));
  else io.stdout(diffLines(old.label, next.label, changes, affected).join('\n'));
  // A swap that strands a deployed service fails a CI check, as `validate` fails a refused change.
  return affected?.some((a) => a.impact === 'unsupported') ? EXIT_DENIED : EXIT_OK;
}
