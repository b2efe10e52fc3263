// `chaingate validate`: the webhook's decision, offline, for CI pipelines and pre-commit hooks.
import { decide, ADMITTED_KINDS, type AdmittedKind } from '../admission/decide.ts';
import { DEFAULT_DECISION_OPTIONS, UNCHAINED_UPGRADES, UPGRADE_POLICIES, type AdmissionInput } from '../admission/types.ts';
import { loadChainSources } from '../sources/chain-files.ts';
import { readSingleManifest } from '../sources/manifest-files.ts';
import { EXIT_DENIED, EXIT_OK, UsageError, oneOf, parseFlags, requireFlag, type Command } from './command.ts';

export const validateCommand: Command = {
  name: 'validate',
  summary: 'decide offline whether a change would be admitted',
  usage: `Usage: chaingate validate --chains DIR --new FILE [--old FILE] [options]

Decides, without a cluster, what the chaingate webhook would answer for the change from
--old to --new (no --old means CREATE). The kind comes from the --new object.

Options:
  --chains PATH            ServiceTemplateChain manifests (file or directory, YAML or JSON);
                           ServiceTemplates found there give templates their versions
  --new FILE               the object as it would be applied
  --old FILE               the object as it is now (omit for a new object)
  --upgrade-policy P       edge (default: one declared step), sequential (kcm v1.6+'s step-by-step
                           walk, every step a declared edge) or reachable (any path)
  --unchained-upgrades M   deny (default) or allow: changes of services without templateChain
  --system-namespace NS    where MultiClusterService chains live (default kcm-system)
  --namespace NS           namespace for objects without metadata.namespace (default "default")

Exit status: 0 allowed, 1 denied (the reason on stderr), 2 bad input.`,
  async run(args, io) {
    const { values } = parseFlags(args, {
      chains: { type: 'string' },
      new: { type: 'string' },
      old: { type: 'string' },
      'upgrade-policy': { type: 'string' },
      'unchained-upgrades': { type: 'string' },
      'system-namespace': { type: 'string' },
      namespace: { type: 'string' },
    });
    if (values.help) {
      io.stdout(this.usage);
      return EXIT_OK;
    }
    const defaultNamespace = values.namespace ?? 'default';
    const policy = oneOf(values['upgrade-policy'], UPGRADE_POLICIES, '--upgrade-policy', 'edge');
    const unchainedUpgrades = oneOf(values['unchained-upgrades'], UNCHAINED_UPGRADES, '--unchained-upgrades', 'deny');
    const { chains, templates } = loadChainSources(requireFlag(values.chains, '--chains'), { defaultNamespace });
    const after = readSingleManifest(requireFlag(values.new, '--new')).object;
    const before = values.old ? readSingleManifest(values.old).object : undefined;
    const kind = after.kind as string;
    if (!(ADMITTED_KINDS as readonly string[]).includes(kind)) {
      throw new UsageError(`--new is a ${kind}; chaingate admits ${ADMITTED_KINDS.join(', ')}`);
    }
    if (before && before.kind !== kind) throw new UsageError(`--old is a ${String(before.kind)} but --new is a ${kind}`);
    const metadata = (after.metadata ?? {}) as { name?: unknown; namespace?: unknown };
    const namespace = kind === 'MultiClusterService' ? '' : typeof metadata.namespace === 'string' ? metadata.namespace : defaultNamespace;
    const input: AdmissionInput = {
      operation: before ? 'UPDATE' : 'CREATE',
      namespace,
      name: typeof metadata.name === 'string' ? metadata.name : '',
      object: withNamespace(after, namespace),
      oldObject: before ? withNamespace(before, namespace) : undefined,
    };
    const context = { chains, templateVersion: (namespace: string, name: string) => templates.get(namespace, name) };
    const decision = decide(kind as AdmittedKind, input, context, {
      ...DEFAULT_DECISION_OPTIONS,
      policy,
      unchainedUpgrades,
      systemNamespace: values['system-namespace'] ?? DEFAULT_DECISION_OPTIONS.systemNamespace,
    });
    for (const warning of decision.warnings ?? []) io.stderr(`Warning: ${warning}`);
    // Which rule answered an upgrade, since the webhook's `auto` may differ from this offline default.
    const under = input.operation === 'UPDATE' && kind !== 'ServiceTemplateChain' ? ` (policy ${policy})` : '';
    if (decision.allowed) {
      io.stdout(`allowed: ${input.operation} ${kind} ${describe(input)}${under}`);
      return EXIT_OK;
    }
    if (decision.code === 400) throw new UsageError(decision.message ?? 'malformed object');
    io.stderr(`denied: ${input.operation} ${kind} ${describe(input)}${under}\n${decision.message ?? ''}`);
    return EXIT_DENIED;
  },
};

function withNamespace(object: Record<string, unknown>, namespace: string): Record<string, unknown> {
  if (!namespace) return object;
  const metadata = (typeof object.metadata === 'object' && object.metadata !== null ? object.metadata : {}) as Record<string, unknown>;
  return { ...object, metadata: { ...metadata, namespace: metadata.namespace ?? namespace } };
}

function describe(input: AdmissionInput): string {
  return input.namespace ? `${input.namespace}/${input.name}` : input.name;
}
