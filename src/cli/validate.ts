// `chaingate validate`: the webhook's decision, offline, for CI pipelines and pre-commit hooks.
import { decide, ADMITTED_KINDS, type AdmittedKind } from '../rules/decide.ts';
import { DEFAULT_DECISION_OPTIONS, UNCHAINED_UPGRADES, UPGRADE_POLICIES, type AdmissionInput } from '../rules/types.ts';
import { requireChainSources } from '../sources/chain-files.ts';
import { readSingleManifest } from '../sources/manifest-files.ts';
import { DECISION_FLAGS } from './decision-flags.ts';
import { EXIT_DENIED, EXIT_OK, UsageError, defineCommand, oneStdin, requireFlag } from './command.ts';
import { outputOption, renderOutput } from './output.ts';
import { table } from './render-paths.ts';

export const validateCommand = defineCommand({
  name: 'validate',
  summary: 'decide offline whether a change would be admitted',
  synopsis: ['--chains PATH --new FILE [--old FILE] [-o json|yaml|wide|name|jsonpath=TEMPLATE] [options]'],
  description: `Decides, without a cluster, what the chaingate webhook would answer for the change from
--old to --new (no --old means CREATE). The kind comes from the --new object; an UPDATE
keeps kind, namespace and name. A FILE (or PATH) of - is read from stdin (one of them at most).
With -o, the verdict is printed as an object (kind: Verdict, with allowed, message and
warnings) on stdout, allowed or denied; the exit status is the same.`,
  options: {
    chains: {
      type: 'string',
      arg: 'PATH',
      description: 'ServiceTemplateChain manifests (file or directory, YAML or JSON); ServiceTemplates found there give templates their versions',
    },
    new: { type: 'string', arg: 'FILE', description: 'the object as it would be applied' },
    old: { type: 'string', arg: 'FILE', description: 'the object as it is now (omit for a new object)' },
    'upgrade-policy': {
      type: 'string',
      arg: 'P',
      values: UPGRADE_POLICIES,
      default: 'edge',
      description: "edge: one declared step; sequential: kcm v1.6+'s step-by-step walk, every step a declared edge; reachable: any path",
    },
    ...DECISION_FLAGS,
    namespace: { type: 'string', short: 'n', arg: 'NS', default: 'default', defaultText: '"default"', description: 'namespace for objects (and chains) without metadata.namespace' },
    output: { ...outputOption(['json', 'yaml', 'wide', 'name'], '{.allowed}'), defaultText: 'a line: allowed: ... or denied: ...' },
  },
  footer: 'Exit status: 0 allowed, 1 denied (the reason on stderr), 2 bad input.',
  async run({ values }, io) {
    const defaultNamespace = values.namespace;
    const policy = values['upgrade-policy'];
    const chainsPath = requireFlag(values.chains, '--chains');
    const newPath = requireFlag(values.new, '--new');
    oneStdin({ '--chains': chainsPath, '--new': newPath, '--old': values.old });
    const read = { stdin: io.stdin };
    const { chains, templates } = requireChainSources(chainsPath, { defaultNamespace, flag: '--chains', ...read });
    const after = readSingleManifest(newPath, { flag: '--new', ...read }).object;
    const before = values.old ? readSingleManifest(values.old, { flag: '--old', ...read }).object : undefined;
    const kind = after.kind as string;
    if (!(ADMITTED_KINDS as readonly string[]).includes(kind)) {
      throw new UsageError(`--new is a ${kind}; chaingate admits ${ADMITTED_KINDS.join(', ')}`);
    }
    if (before && before.kind !== kind) throw new UsageError(`--old is a ${String(before.kind)} but --new is a ${kind}`);
    const namespace = namespaceOf(after, kind, defaultNamespace);
    const name = nameOf(after);
    if (before) {
      // The API server sends an UPDATE only for the same object: another name is another object.
      const oldNamespace = namespaceOf(before, kind, defaultNamespace);
      const oldName = nameOf(before);
      if (oldNamespace !== namespace || oldName !== name) {
        const id = (ns: string, n: string) => `${kind} ${ns ? `${ns}/` : ''}${n || '(no name)'}`;
        throw new UsageError(
          `--old is ${id(oldNamespace, oldName)} but --new is ${id(namespace, name)}: an UPDATE keeps kind, namespace and name (omit --old to check a CREATE)`,
        );
      }
    }
    const input: AdmissionInput = {
      operation: before ? 'UPDATE' : 'CREATE',
      namespace,
      name,
      object: withNamespace(after, namespace),
      oldObject: before ? withNamespace(before, namespace) : undefined,
    };
    const context = { chains, templateVersion: (namespace: string, name: string) => templates.get(namespace, name) };
    const decision = decide(kind as AdmittedKind, input, context, {
      ...DEFAULT_DECISION_OPTIONS,
      policy,
      unchainedUpgrades: values['unchained-upgrades'],
      systemNamespace: values['system-namespace'],
    });
    for (const warning of decision.warnings ?? []) io.stderr(`Warning: ${warning}`);
    // Which rule answered an upgrade, since the webhook's `auto` may differ from this offline default.
    const upgrade = input.operation === 'UPDATE' && kind !== 'ServiceTemplateChain';
    const under = upgrade ? ` (policy ${policy})` : '';
    if (decision.code === 400) throw new UsageError(decision.message ?? 'malformed object');
    if (values.output !== undefined) {
      const verdict = {
        kind: 'Verdict',
        allowed: decision.allowed,
        operation: input.operation,
        object: { kind, ...(input.namespace ? { namespace: input.namespace } : {}), name: input.name },
        ...(upgrade ? { policy } : {}),
        ...(decision.allowed ? {} : { message: decision.message ?? '' }),
        warnings: decision.warnings ?? [],
      };
      const resource = `${kind.toLowerCase()}.k0rdent.mirantis.com/${input.name}`;
      const text = renderOutput(values.output, {
        object: verdict,
        names: () => [resource],
        wide: () =>
          table([
            ['VERDICT', 'OPERATION', 'KIND', 'NAME', 'POLICY', 'MESSAGE'],
            [decision.allowed ? 'allowed' : 'denied', input.operation, kind, describe(input), upgrade ? policy : '', (decision.message ?? '').split('\n')[0] ?? ''],
          ]),
      });
      io.stdout(text ?? '');
      return decision.allowed ? EXIT_OK : EXIT_DENIED;
    }
    if (decision.allowed) {
      io.stdout(`allowed: ${input.operation} ${kind} ${describe(input)}${under}`);
      return EXIT_OK;
    }
    io.stderr(`denied: ${input.operation} ${kind} ${describe(input)}${under}\n${decision.message ?? ''}`);
    return EXIT_DENIED;
  },
});

function metadataOf(object: Record<string, unknown>): { name?: unknown; namespace?: unknown } {
  return (typeof object.metadata === 'object' && object.metadata !== null ? object.metadata : {}) as { name?: unknown; namespace?: unknown };
}

function namespaceOf(object: Record<string, unknown>, kind: string, defaultNamespace: string): string {
  if (kind === 'MultiClusterService') return ''; // cluster-scoped
  const { namespace } = metadataOf(object);
  return typeof namespace === 'string' && namespace !== '' ? namespace : defaultNamespace;
}

function nameOf(object: Record<string, unknown>): string {
  const { name } = metadataOf(object);
  return typeof name === 'string' ? name : '';
}

function withNamespace(object: Record<string, unknown>, namespace: string): Record<string, unknown> {
  if (!namespace) return object;
  const metadata = metadataOf(object) as Record<string, unknown>;
  return { ...object, metadata: { ...metadata, namespace: metadata.namespace ?? namespace } };
}

function describe(input: AdmissionInput): string {
  return input.namespace ? `${input.namespace}/${input.name}` : input.name;
}
