// Registers a running chaingate with the test API server through the same
// `chaingate webhook-config` output a user pipes into kubectl.
import { stringify } from 'yaml';
import type { ControlPlane } from '../cluster/control-plane.ts';
import { webhookConfiguration } from '../../src/kube/webhook-configuration.ts';
import type { ChaingateProcess } from './chaingate-process.ts';

export async function registerWebhook(cluster: ControlPlane, chaingate: ChaingateProcess, name = 'chaingate'): Promise<void> {
  const config = webhookConfiguration({
    name,
    target: { url: chaingate.admissionUrl, caBundle: Buffer.from(chaingate.caBundle).toString('base64') },
  });
  const result = await cluster.kubectl(['apply', '-f', '-'], { input: stringify(config) });
  if (result.code !== 0) throw new Error(`registering the webhook failed: ${result.stderr}`);
}

export async function unregisterWebhook(cluster: ControlPlane, name = 'chaingate'): Promise<void> {
  await cluster.kubectl(['delete', 'validatingwebhookconfiguration', name, '--ignore-not-found']);
}

/** kubectl must succeed; returns stdout. */
export async function ok(cluster: ControlPlane, args: string[], input?: string): Promise<string> {
  const result = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

/** kubectl must fail; returns stderr as the user sees it. */
export async function refused(cluster: ControlPlane, args: string[], input?: string): Promise<string> {
  const result = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (result.code === 0) throw new Error(`kubectl ${args.join(' ')} unexpectedly succeeded: ${result.stdout}`);
  return result.stderr;
}
