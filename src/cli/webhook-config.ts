// `chaingate webhook-config`: the ValidatingWebhookConfiguration for a chaingate running at
// a URL (a developer's machine, a VM), ready for `kubectl apply -f -`.
import { readFileSync } from 'node:fs';
import { webhookConfiguration } from '../kube/webhook-configuration.ts';
import { EXIT_OK, UsageError, defineCommand, requireFlag } from './command.ts';
import { outputOption, renderOutput } from './output.ts';
import { table } from './render-paths.ts';

export const webhookConfigCommand = defineCommand({
  name: 'webhook-config',
  summary: 'print the ValidatingWebhookConfiguration for a chaingate URL',
  synopsis: ['--url URL --ca FILE [--name NAME] [--failure-policy Fail|Ignore] [--timeout-seconds N] [-o yaml|json|wide|name|jsonpath=TEMPLATE]'],
  description: `Prints the ValidatingWebhookConfiguration that sends ClusterDeployment, MultiClusterService
and ServiceTemplateChain admission to chaingate at URL. Example:

  chaingate webhook-config --url https://127.0.0.1:9443 --ca certs/ca.crt | kubectl apply -f -`,
  options: {
    url: { type: 'string', arg: 'URL', description: 'where chaingate listens (https)' },
    ca: { type: 'string', arg: 'FILE', description: "the CA that signed chaingate's certificate (certs/ca.crt)" },
    name: { type: 'string', arg: 'NAME', default: 'chaingate', description: 'object name' },
    'failure-policy': {
      type: 'string',
      arg: 'P',
      values: ['Fail', 'Ignore'] as const,
      default: 'Fail',
      description: 'what the API server does when chaingate cannot be reached: refuse the change or let it through',
    },
    'timeout-seconds': { type: 'string', arg: 'N', default: '5', description: 'how long the API server waits for an answer, 1-30' },
    output: { ...outputOption(['yaml', 'json', 'wide', 'name'], '{.webhooks[*].name}'), default: 'yaml' },
  },
  async run({ values }, io) {
    const url = requireFlag(values.url, '--url');
    if (!/^https:\/\/[^/\s]+(\/\S*)?$/.test(url)) throw new UsageError('--url must be an https:// URL');
    const caFile = requireFlag(values.ca, '--ca');
    let ca: string;
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(`--ca ${caFile}: ${code === 'ENOENT' ? 'no such file or directory' : 'cannot read the file'}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca ${caFile}: not a PEM certificate`);
    const timeout = values['timeout-seconds'];
    if (!/^\d+$/.test(timeout) || Number(timeout) < 1 || Number(timeout) > 30) throw new UsageError('--timeout-seconds must be 1-30');
    const config = webhookConfiguration({
      name: values.name,
      target: { url, caBundle: Buffer.from(ca).toString('base64') },
      failurePolicy: values['failure-policy'],
      timeoutSeconds: Number(timeout),
    });
    const hooks = (config as { webhooks?: { name?: string; failurePolicy?: string; timeoutSeconds?: number }[] }).webhooks ?? [];
    const text = renderOutput(values.output, {
      object: config,
      names: () => [`validatingwebhookconfiguration.admissionregistration.k8s.io/${values.name}`],
      wide: () =>
        table([
          ['NAME', 'WEBHOOK', 'URL', 'FAILURE POLICY', 'TIMEOUT'],
          ...hooks.map((hook) => [values.name, hook.name ?? '', url, hook.failurePolicy ?? '', `${hook.timeoutSeconds ?? ''}s`]),
        ]),
    });
    io.stdout(text ?? '');
    return EXIT_OK;
  },
});
