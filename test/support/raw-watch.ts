// The API server's own record of writes: a raw watch (kubectl get --raw ...?watch=1), one JSON
// event a line, handed to `onEvent` as it arrives. Tests count MODIFIED events with it.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureTools, type ControlPlane } from '../cluster/control-plane.ts';

export interface WatchEvent {
  type: string;
  object: { metadata: { name: string; resourceVersion?: string; annotations?: Record<string, string> } };
}

/** Watches ClusterDeployments of `namespace` from `resourceVersion` (optionally one by name); stop() ends it. */
export async function watchClusterDeployments(
  cluster: ControlPlane,
  options: { namespace: string; resourceVersion: string; name?: string },
  onEvent: (event: WatchEvent) => void,
): Promise<{ stop: () => void }> {
  const { kubectl } = await ensureTools();
  const selector = options.name ? `&fieldSelector=metadata.name%3D${options.name}` : '';
  // A watch can end under load ("error: unexpected EOF" from kubectl, seen in CI): it is started
  // again from the last version seen, so no event is lost or counted twice.
  let resourceVersion = options.resourceVersion;
  let stopped = false;
  let child: ReturnType<typeof spawn>;
  const connect = () => {
    const path = `/apis/k0rdent.mirantis.com/v1beta1/namespaces/${options.namespace}/clusterdeployments?watch=1${selector}&resourceVersion=${resourceVersion}`;
    child = spawn(kubectl, ['--kubeconfig', cluster.kubeconfig, 'get', '--raw', path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let pending = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        const event = JSON.parse(line) as WatchEvent;
        resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
        onEvent(event);
      }
    });
    child.once('exit', () => {
      if (!stopped) setTimeout(connect, 200);
    });
  };
  connect();
  await sleep(500); // the watch is established
  return {
    stop: () => {
      stopped = true;
      child.kill();
    },
  };
}
