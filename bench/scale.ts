// Scale: (1) time and peak memory for chaingate to load 10,000 chains (20 templates, 60
// edges each) from the API server; (2) time to publish status on 5,000 ClusterDeployments
// after the one chain they all name appears, and patches avoided when nothing changed.
// Goals: load < 5 s and < 400 MiB RSS; 5,000 statuses < 60 s with zero redundant patches.
// chaingate runs under the chart's memory limit (a cgroup of its own) where the machine allows
// it: Node sizes its heap from that limit, so this is what says whether the chart's default fits.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'node:https';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from '../test/cluster/control-plane.ts';
import { bundleChaingate } from '../scripts/bundle.ts';
import { kcmCrds } from '../test/kcm/crds.ts';
import { startChaingate, type ChaingateProcess } from '../test/support/chaingate-process.ts';
import { chartMemoryLimit, createMemoryCgroup } from '../test/support/memory-cgroup.ts';
import { GROUP, VERSION, customObjects, pool, timeList, waitFor } from './kube.ts';
import { fmt, header, printTable, quick } from './lib.ts';

// The scale chains are dense cycles (each template upgrades to the next three, round the ring):
// kcm's own path search, which `auto` would simulate under sequential on these CRDs, enumerates
// exponentially many paths there. The figures here are the edge policy's, as before.
const EDGE = ['--upgrade-policy', 'edge'];
import { chainUseReview, cycleChain } from './chains.ts';

const CRDS = kcmCrds('v1.11.4');
const CHAINS = quick ? 300 : 10_000;
const DEPLOYMENTS = quick ? 200 : 5_000;
const progress = (m: string) => console.error(`[scale] ${m}`);

/** chaingate's own last words, when a step fails because it died. */
function withChaingateExit(err: unknown, chaingate: ChaingateProcess | undefined): Error {
  const error = err instanceof Error ? err : new Error(String(err));
  if (chaingate && (chaingate.child.exitCode !== null || chaingate.child.signalCode !== null)) {
    error.message += `\nchaingate exited (code ${chaingate.child.exitCode}, signal ${chaingate.child.signalCode}); its last output:\n${chaingate.logs.slice(-15).join('\n')}`;
  }
  return error;
}

function rssBytes(pid: number, field: 'VmHWM' | 'VmRSS' = 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
}
const peakRssBytes = (pid: number) => rssBytes(pid, 'VmHWM');

/**
 * Puts every chain to use: one ClusterDeployment CREATE review per chain, straight to the
 * webhook, each naming that chain (so its graph is built). Returns the reviews that were not allowed.
 */
async function useEveryChain(admissionUrl: string, ca: string, namespaces: string[]): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16, ca });
  const url = new URL(`${admissionUrl}/validate/clusterdeployments`);
  let refused = 0;
  await pool(CHAINS, 16, (i) => {
    const namespace = namespaces[i % namespaces.length]!;
    const body = chainUseReview(namespace, i);
    return new Promise<void>((resolve, reject) => {
      const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => {
          if ((JSON.parse(text) as { response?: { allowed?: boolean } }).response?.allowed !== true) refused++;
          resolve();
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  });
  agent.destroy();
  return refused;
}

header(`scale: ${CHAINS.toLocaleString('en-US')} chains, ${DEPLOYMENTS.toLocaleString('en-US')} ClusterDeployments`);
const limit = chartMemoryLimit();
/** --no-memory-limit: compare with a heap sized from the host's memory. */
const limited = !process.argv.includes('--no-memory-limit');
const cgroup = limited ? createMemoryCgroup(`chaingate-bench-${process.pid}`, limit.bytes) : undefined;
console.log(cgroup
  ? `# chaingate runs under the chart's memory limit: ${limit.text} (a cgroup of its own; Node sizes its heap from it)`
  : `# NOT under the chart's ${limit.text} memory limit (${limited ? 'needs root and a writable cgroup memory controller' : '--no-memory-limit'}): figures are for a heap sized from the host's memory`);
const cluster = await startControlPlane({ crdDir: CRDS });
const api = customObjects(cluster.kubeconfig);
const rows: Array<Record<string, string>> = [];
try {
  const namespaces = Array.from({ length: 10 }, (_, i) => `scale-${i}`);
  for (const ns of namespaces) await cluster.kubectl(['create', 'namespace', ns]);
  progress(`creating ${CHAINS} chains`);
  await pool(CHAINS, 32, (i) => {
    const namespace = namespaces[i % namespaces.length]!;
    return api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'servicetemplatechains', body: cycleChain(namespace, `chain-${i}`) });
  });

  // The floor of loading them: the API server's own answer to the list chaingate's informer
  // sends (every namespace, from the watch cache), read to its last byte and nothing done with it.
  const list = await timeList(cluster.server, cluster.dir, `/apis/${GROUP}/${VERSION}/servicetemplatechains?resourceVersion=0`);
  rows.push({ measure: `the API server's list of them (resourceVersion=0): first byte / last byte, ${fmt.mib(list.bytes)}`, value: `${fmt.rate(list.firstByteMs)} / ${fmt.rate(list.lastByteMs)} ms`, 'peak RSS': '' });

  // The load, from the source tree as `npm start` in a clone runs it, then from the one-file
  // bundle the image runs (scripts/bundle.ts), which the rest of the run goes on with.
  const bundle = await bundleChaingate({ outfile: join(mkdtempSync(join(tmpdir(), 'chaingate-bundle-')), 'dist', 'bundle', 'chaingate.cjs') });
  const serveArgs = ['--kubeconfig', cluster.kubeconfig, ...EDGE, '--webhook=true', '--controller=true', '--resync-ms', '600000'];
  const load = async (entry: string | undefined, what: string) => {
    progress(`starting chaingate (${what})`);
    const started = Date.now();
    const instance = await startChaingate(serveArgs, { cgroup, ...(entry ? { entry } : {}) });
    try {
      await waitFor(async () => (await instance.metric('chaingate_chains')) >= CHAINS, 120_000, 'chains loaded');
    } catch (err) {
      await instance.stop().catch(() => undefined);
      throw withChaingateExit(err, instance);
    }
    const loadMs = Date.now() - started;
    rows.push({ measure: `load ${CHAINS.toLocaleString('en-US')} chains, ${what} (process start to ready, all in cache)`, value: fmt.ms(loadMs).replace(' ms', '') + ' ms', 'peak RSS': fmt.mib(peakRssBytes(instance.child.pid!)) });
    rows.push({ measure: `  load / the API server's list to its last byte (goal <= 1.2x)`, value: `${(loadMs / list.lastByteMs).toFixed(2)}x`, 'peak RSS': '' });
    return instance;
  };
  await (await load(undefined, 'src/cli/main.ts')).stop();
  const chaingate = await load(bundle, 'the image\'s bundle');
  try {

    // Graphs are built on first use: the load above builds none. Use every chain once.
    progress('one admission review per chain, building every graph');
    const used = Date.now();
    const refused = await useEveryChain(chaingate.admissionUrl, chaingate.caBundle, namespaces);
    if (refused > 0) throw new Error(`${refused} reviews naming an existing chain were refused`);
    rows.push({ measure: `then every chain in use (${CHAINS.toLocaleString('en-US')} reviews, each building one graph); RSS now`, value: `${fmt.rate(Date.now() - used)} ms`, 'peak RSS': `${fmt.mib(peakRssBytes(chaingate.child.pid!))} (now ${fmt.mib(rssBytes(chaingate.child.pid!, 'VmRSS'))})` });

    progress(`creating ${DEPLOYMENTS} ClusterDeployments naming a chain that does not exist yet`);
    const ns = 'scale-0';
    // No webhook is registered here, so objects may name a chain before it exists.
    await pool(DEPLOYMENTS, 32, (i) =>
      api.createNamespacedCustomObject({
        group: GROUP, version: VERSION, namespace: ns, plural: 'clusterdeployments',
        body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ClusterDeployment', metadata: { name: `cd-${i}`, namespace: ns }, spec: { template: 't', credential: 'c', serviceSpec: { services: [{ name: 'app', namespace: 'app', template: 'late-t0', templateChain: 'late' }] } } },
      }),
    );
    // Each gets its first status (the service, no upgrades) once; let that settle.
    await waitFor(async () => (await chaingate.metric('chaingate_controller_status_patches_total')) >= DEPLOYMENTS && (await chaingate.metric('chaingate_controller_queue_depth')) === 0, 300_000, 'initial statuses');
    const patchesNamed = await chaingate.metric('chaingate_controller_status_patches_total');

    progress('creating the chain');
    const appeared = Date.now();
    await api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: 'servicetemplatechains', body: cycleChain(ns, 'late') });
    await waitFor(async () => (await chaingate.metric('chaingate_controller_status_patches_total')) >= patchesNamed + DEPLOYMENTS, 600_000, 'statuses published', 100);
    const publishMs = Date.now() - appeared;
    const afterPublish = await chaingate.metric('chaingate_controller_status_patches_total');
    rows.push({ measure: `publish ${DEPLOYMENTS.toLocaleString('en-US')} statuses after their chain appears`, value: `${fmt.rate(publishMs)} ms`, 'peak RSS': fmt.mib(peakRssBytes(chaingate.child.pid!)) });

    // Nothing changes now: a full recompute must not write anything.
    await chaingate.stop();
    const again = await startChaingate(['--kubeconfig', cluster.kubeconfig, ...EDGE, '--webhook=false', '--controller=true', '--resync-ms', '600000'], { cgroup });
    await waitFor(async () => (await again.metric('chaingate_controller_reconciles_total')) >= DEPLOYMENTS && (await again.metric('chaingate_controller_queue_depth')) === 0, 300_000, 'restart recompute');
    const redundant = await again.metric('chaingate_controller_status_patches_total');
    const skipped = await again.metric('chaingate_controller_patches_skipped_total');
    await again.stop();
    rows.push({ measure: 'redundant status patches (beyond one per object per real change)', value: String(afterPublish - 2 * DEPLOYMENTS), 'peak RSS': '' });
    rows.push({ measure: `full recompute by a restarted replica: patches written / avoided`, value: `${redundant} / ${skipped}`, 'peak RSS': '' });
  } catch (err) {
    throw withChaingateExit(err, chaingate);
  } finally {
    await chaingate.stop().catch(() => undefined);
  }
  if (cgroup) {
    const peak = cgroup.peakBytes();
    rows.push({ measure: `cgroup (limit ${limit.text}): most memory used, OOM kills`, value: `${cgroup.oomKills()} kills`, 'peak RSS': peak === undefined ? 'unknown' : fmt.mib(peak) });
  }
} finally {
  await cluster.stop();
  cgroup?.remove();
}
printTable(rows);
