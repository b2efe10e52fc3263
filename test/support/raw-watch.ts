// The API server's own record of writes: a raw watch (kubectl get --raw ...?watch=1), one JSON
// event a line, handed to `onEvent` as it arrives. Tests count MODIFIED events with it.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureTools, type ControlPlane } from '../cluster/control-plane.ts';

/** How long the API server keeps one watch open before it ends it (and it is started again). */
const WATCH_SECONDS = 30;

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
  // again from the last version seen, so no event is lost or counted twice. It can also stall
  // without ending (seen once in CI: no event for three minutes while the objects were written),
  // so the API server is asked to end each watch after WATCH_SECONDS, and bookmarks keep the
  // version to resume from current while nothing changes.
  let resourceVersion = options.resourceVersion;
  let stopped = false;
  let child: ReturnType<typeof spawn>;
  const connect = () => {
    const path = `/apis/k0rdent.mirantis.com/v1beta1/namespaces/${options.namespace}/clusterdeployments?watch=1${selector}&resourceVersion=${resourceVersion}&allowWatchBookmarks=true&timeoutSeconds=${WATCH_SECONDS}`;
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
        if (event.type === 'ERROR') {
          // A version too old to resume from (410): events were lost, and no retry brings them back.
          stopped = true;
          process.stderr.write(`raw watch of ${options.namespace} failed, events lost: ${line}\n`);
          child.kill();
          return;
        }
        resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
        if (event.type !== 'BOOKMARK') onEvent(event);
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
