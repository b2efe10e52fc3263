// The API server's own record of writes: a raw watch (kubectl get --raw ...?watch=1), one JSON
// event a line, handed to `onEvent` as it arrives. Tests count MODIFIED events with it.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureTools, type ControlPlane } from '../cluster/control-plane.ts';

export interface WatchEvent {
  type: string;
  object: { metadata: { name: string; annotations?: Record<string, string> } };
}

/** Watches ClusterDeployments of `namespace` from `resourceVersion` (optionally one by name); stop() ends it. */
export async function watchClusterDeployments(
  cluster: ControlPlane,
  options: { namespace: string; resourceVersion: string; name?: string },
  onEvent: (event: WatchEvent) => void,
): Promise<{ stop: () => void }> {
  const { kubectl } = await ensureTools();
  const selector = options.name ? `&fieldSelector=metadata.name%3D${options.name}` : '';
  const path = `/apis/k0rdent.mirantis.com/v1beta1/namespaces/${options.namespace}/clusterdeployments?watch=1${selector}&resourceVersion=${options.resourceVersion}`;
  const child = spawn(kubectl, ['--kubeconfig', cluster.kubeconfig, 'get', '--raw', path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) onEvent(JSON.parse(line) as WatchEvent);
  });
  await sleep(500); // the watch is established
  return { stop: () => void child.kill() };
}
