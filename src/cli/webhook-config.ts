// `chaingate webhook-config`: the ValidatingWebhookConfiguration for a chaingate running at
// a URL (a developer's machine, a VM), ready for `kubectl apply -f -`.
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { webhookConfiguration } from '../kube/webhook-configuration.ts';
import { EXIT_OK, UsageError, oneOf, parseFlags, requireFlag, type Command } from './command.ts';

export const webhookConfigCommand: Command = {
  name: 'webhook-config',
  summary: 'print the ValidatingWebhookConfiguration for a chaingate URL',
  usage: `Usage: chaingate webhook-config --url URL --ca FILE [--name NAME] [--failure-policy Fail|Ignore]

Prints the ValidatingWebhookConfiguration that sends ClusterDeployment, MultiClusterService
and ServiceTemplateChain admission to chaingate at URL. Example:

  chaingate webhook-config --url https://127.0.0.1:9443 --ca certs/ca.crt | kubectl apply -f -

Options:
  --url URL               where chaingate listens (https)
  --ca FILE               the CA that signed chaingate's certificate (certs/ca.crt)
  --name NAME             object name (default chaingate)
  --failure-policy P      Fail (default) or Ignore
  --timeout-seconds N     1-30 (default 5)`,
  async run(args, io) {
    const { values } = parseFlags(args, {
      url: { type: 'string' },
      ca: { type: 'string' },
      name: { type: 'string' },
      'failure-policy': { type: 'string' },
      'timeout-seconds': { type: 'string' },
    });
    if (values.help) {
      io.stdout(this.usage);
      return EXIT_OK;
    }
    const url = requireFlag(values.url, '--url');
    if (!/^https:\/\/[^/\s]+(\/\S*)?$/.test(url)) throw new UsageError('--url must be an https:// URL');
    const caFile = requireFlag(values.ca, '--ca');
    let ca: string;
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch {
      throw new UsageError(`--ca ${caFile}: cannot read the file`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca ${caFile}: not a PEM certificate`);
    const timeout = values['timeout-seconds'] ?? '5';
    if (!/^\d+$/.test(timeout) || Number(timeout) < 1 || Number(timeout) > 30) throw new UsageError('--timeout-seconds must be 1-30');
    const config = webhookConfiguration({
      name: values.name ?? 'chaingate',
      target: { url, caBundle: Buffer.from(ca).toString('base64') },
      failurePolicy: oneOf(values['failure-policy'], ['Fail', 'Ignore'] as const, '--failure-policy', 'Fail'),
      timeoutSeconds: Number(timeout),
    });
    io.stdout(stringify(config));
    return EXIT_OK;
  },
};
