// Scale ×10 for the status controller (issue 18, goal 5): 50,000 ClusterDeployments, each with
// one service on template t-a naming the chain `big`, created straight through the API server
// before chaingate starts. chaingate then starts (under the chart's memory limit, with the
// image's Node flags) and publishes each object's first status (the service, no upgrades: the
// chain does not exist yet); then the one chain `big` appears (t-a -> t-b) and every object's
// status changes once more. Both rounds go through the write budget (--status-write-budget).
//
// Printed: time per round, writes/s achieved against the budget, peak RSS, the cgroup's peak,
// heap bytes per cached ClusterDeployment, and the writes counted twice over: by chaingate's
// metrics and by a watch of the API server counting MODIFIED events per object. A redundant
// write (an object written more than once in a round, or a write that changed nothing, which
// the API server answers without a new version or event) must be 0.
//
//   node bench/scale-status.ts [--objects N] [--budget N] [--quick] [--no-memory-limit]
import { readFileSync } from 'node:fs';
import { startControlPlane } from '../test/cluster/control-plane.ts';
import { kcmCrds } from '../test/kcm/crds.ts';
import { startChaingate, type ChaingateProcess } from '../test/support/chaingate-process.ts';
import { chartMemoryLimit, createMemoryCgroup } from '../test/support/memory-cgroup.ts';
import { watchClusterDeployments, type WatchEvent } from '../test/support/raw-watch.ts';
import { GROUP, VERSION, customObjects, pool, waitFor } from './kube.ts';
import { fmt, header, printTable, quick } from './lib.ts';

function numberFlag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} needs a whole number`);
  return value;
}

const OBJECTS = numberFlag('--objects', quick ? 2_000 : 50_000);
/** Writes per second; chaingate's default is 50. Quick mode goes faster so that it stays short. */
const BUDGET = numberFlag('--budget', quick ? 500 : 50);
const NS = 'scale-status';
const CREATE_CONCURRENCY = 64;
const progress = (m: string) => console.error(`[scale-status] ${new Date().toISOString().slice(11, 19)} ${m}`);

function procStatusBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
}

function withChaingateExit(err: unknown, chaingate: ChaingateProcess | undefined): Error {
  const error = err instanceof Error ? err : new Error(String(err));
  if (chaingate && (chaingate.child.exitCode !== null || chaingate.child.signalCode !== null)) {
    error.message += `\nchaingate exited (code ${chaingate.child.exitCode}, signal ${chaingate.child.signalCode}); its last output:\n${chaingate.logs.slice(-15).join('\n')}`;
  }
  return error;
}

/** What an object carries that chaingate writes: the status field and its annotation. */
function published(object: WatchEvent['object'] & { status?: { servicesUpgradePaths?: unknown } }): string {
  return JSON.stringify([object.status?.servicesUpgradePaths ?? null, object.metadata.annotations?.['chaingate.k0rdent.mirantis.com/upgrade-paths'] ?? null]);
}

/** Per round: MODIFIED events per object, and those that left chaingate's fields as they were. */
class WriteLedger {
  round = 0;
  private readonly perRound: Array<Map<string, number>> = [new Map(), new Map(), new Map()];
  private readonly last = new Map<string, string>();
  unchanged = [0, 0, 0];
  events = 0;

  see(event: WatchEvent): void {
    if (event.type !== 'MODIFIED') return;
    this.events++;
    const name = event.object.metadata.name;
    const counts = this.perRound[this.round]!;
    counts.set(name, (counts.get(name) ?? 0) + 1);
    const value = published(event.object);
    if (this.last.get(name) === value) this.unchanged[this.round]!++;
    this.last.set(name, value);
  }

  /** MODIFIED events in a round; objects seen more than once in it. */
  summary(round: number): { events: number; objects: number; twice: number } {
    const counts = this.perRound[round]!;
    let events = 0;
    let twice = 0;
    for (const n of counts.values()) {
      events += n;
      if (n > 1) twice += n - 1;
    }
    return { events, objects: counts.size, twice };
  }
}

header(`scale-status: ${OBJECTS.toLocaleString('en-US')} ClusterDeployments, one chain, status write budget ${BUDGET === 0 ? 'unlimited' : `${BUDGET}/s`}`);
const limit = chartMemoryLimit();
const limited = !process.argv.includes('--no-memory-limit');
const cgroup = limited ? createMemoryCgroup(`chaingate-scale-status-${process.pid}`, limit.bytes) : undefined;
console.log(cgroup
  ? `# chaingate runs under the chart's memory limit: ${limit.text} (a cgroup of its own; Node sizes its heap from it), with the image's Node flags`
  : `# NOT under the chart's ${limit.text} memory limit (${limited ? 'needs root and a writable cgroup memory controller' : '--no-memory-limit'})`);

const cluster = await startControlPlane({ crdDir: kcmCrds('v1.11.4') });
const api = customObjects(cluster.kubeconfig);
const rows: Array<Record<string, string>> = [];
const row = (measure: string, value: string, note = '') => rows.push({ measure, value, note });
const ARGS = ['--kubeconfig', cluster.kubeconfig, '--webhook=false', '--controller=true', '--resync-ms', '3600000', '--status-write-budget', String(BUDGET)];
let watch: { stop: () => void } | undefined;
try {
  await cluster.kubectl(['create', 'namespace', NS]);

  // chaingate with nothing to cache: the baseline for the bytes each cached object costs.
  progress('baseline: chaingate with no ClusterDeployments');
  const empty = await startChaingate(ARGS, { cgroup });
  await new Promise((r) => setTimeout(r, 3000)); // ready (startChaingate waits for /readyz), then settled
  const baseHeap = await empty.metric('nodejs_heap_size_used_bytes');
  const baseRss = procStatusBytes(empty.child.pid!, 'VmRSS');
  await empty.stop();

  progress(`creating ${OBJECTS} ClusterDeployments (${CREATE_CONCURRENCY} at a time)`);
  const created = Date.now();
  await pool(OBJECTS, CREATE_CONCURRENCY, (i) =>
    api.createNamespacedCustomObject({
      group: GROUP, version: VERSION, namespace: NS, plural: 'clusterdeployments',
      body: {
        apiVersion: `${GROUP}/${VERSION}`, kind: 'ClusterDeployment',
        metadata: { name: `cd-${String(i).padStart(6, '0')}`, namespace: NS },
        spec: { template: 'cluster-t', credential: 'cred', serviceSpec: { services: [{ name: 'app', namespace: 'app', template: 't-a', templateChain: 'big' }] } },
      },
    }),
  );
  const createMs = Date.now() - created;
  row(`create ${OBJECTS.toLocaleString('en-US')} ClusterDeployments through the API server (before chaingate)`, `${fmt.rate(createMs / 1000)} s`, `${fmt.rate(OBJECTS / (createMs / 1000))}/s, ${CREATE_CONCURRENCY} in flight`);

  // The API server's record: every MODIFIED event from here on.
  const listed = (await api.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: 'clusterdeployments', limit: 1 })) as { metadata: { resourceVersion: string } };
  const ledger = new WriteLedger();
  watch = await watchClusterDeployments(cluster, { namespace: NS, resourceVersion: listed.metadata.resourceVersion }, (event) => ledger.see(event));

  const patches = (c: ChaingateProcess) => c.metric('chaingate_controller_status_patches_total');
  progress('starting chaingate');
  const started = Date.now();
  const chaingate = await startChaingate(ARGS, { cgroup });
  let peakPending = 0;
  const sampler = setInterval(() => {
    void chaingate.metric('chaingate_controller_status_writes_pending').then((n) => (peakPending = Math.max(peakPending, n)), () => undefined);
  }, 1000);
  try {
    // Round 1: each object's first status (the service, no upgrades: `big` does not exist yet).
    // (The queue waits on the budget, so reconciles trail the writes: no earlier point is "synced".)
    ledger.round = 1;
    let lastProgress = Date.now();
    const report = (round: number, n: number) => {
      if (Date.now() - lastProgress < 60_000) return;
      lastProgress = Date.now();
      progress(`round ${round}: ${n} of ${OBJECTS} written; RSS ${fmt.mib(procStatusBytes(chaingate.child.pid!, 'VmRSS'))}`);
    };
    await waitFor(async () => {
      const n = await patches(chaingate);
      report(1, n);
      // Done when the API server has every object's new status (its watch says so): a write that
      // timed out on chaingate's side may still have landed, and then is rightly not written again.
      return ledger.summary(1).objects >= OBJECTS;
    }, 4 * OBJECTS * 1000 / Math.max(1, BUDGET) + 300_000, 'first statuses', 500);
    const round1Ms = Date.now() - started;
    const round1Writes = await patches(chaingate);
    // Each write comes back through the watch and is reconciled again (a skip). Not fatal if
    // that takes long: the 50,000 run found each of those re-recording its Event (below).
    const drained = await waitFor(async () => (await chaingate.metric('chaingate_controller_queue_depth')) === 0, 60_000, 'queue drained', 200).then(() => true, () => false);
    if (!drained) progress(`queue not drained 60 s after round 1: ${await chaingate.metric('chaingate_controller_queue_depth')} left`);
    const cachedHeap = await chaingate.metric('nodejs_heap_size_used_bytes');
    const cachedRss = procStatusBytes(chaingate.child.pid!, 'VmRSS');
    row(`round 1: chaingate starts, first status on every object (chain absent)`, `${fmt.rate(round1Ms / 1000)} s`, `process start to last write: ${(round1Writes / (round1Ms / 1000)).toFixed(1)} writes/s, budget ${BUDGET === 0 ? 'unlimited' : `${BUDGET}/s`}`);
    row('heap used per cached ClusterDeployment (after round 1, minus an empty chaingate)', `${fmt.rate((cachedHeap - baseHeap) / OBJECTS)} B`, `heap ${fmt.mib(cachedHeap)} vs ${fmt.mib(baseHeap)}; RSS ${fmt.mib(cachedRss)} vs ${fmt.mib(baseRss)} (${fmt.rate((cachedRss - baseRss) / OBJECTS)} B/object)`);

    // Round 2: the chain appears; every status changes once (t-a can now go to t-b).
    await new Promise((r) => setTimeout(r, 2000)); // the last round-1 events reach the watch
    const before = await patches(chaingate);
    ledger.round = 2;
    progress('creating the chain `big`');
    const appeared = Date.now();
    await api.createNamespacedCustomObject({
      group: GROUP, version: VERSION, namespace: NS, plural: 'servicetemplatechains',
      body: {
        apiVersion: `${GROUP}/${VERSION}`, kind: 'ServiceTemplateChain', metadata: { name: 'big', namespace: NS },
        spec: { supportedTemplates: [{ name: 't-a', availableUpgrades: [{ name: 't-b' }] }, { name: 't-b' }] },
      },
    });
    await waitFor(async () => {
      const n = (await patches(chaingate)) - before;
      report(2, n);
      return ledger.summary(2).objects >= OBJECTS;
    }, 2 * OBJECTS * 1000 / Math.max(1, BUDGET) + 300_000, 'statuses after the chain appears', 200);
    const round2Ms = Date.now() - appeared;
    await new Promise((r) => setTimeout(r, 3000)); // anything more would show up now
    const after = await patches(chaingate);
    const round2Writes = after - before;
    const rate2 = round2Writes / (round2Ms / 1000);
    row(`round 2: chain appears -> every status published (${OBJECTS.toLocaleString('en-US')} objects)`, `${fmt.rate(round2Ms / 1000)} s`, `${rate2.toFixed(1)} writes/s achieved, budget ${BUDGET === 0 ? 'unlimited' : `${BUDGET}/s`}`);
    const peakRss = procStatusBytes(chaingate.child.pid!, 'VmHWM');
    row('chaingate peak RSS (VmHWM)', fmt.mib(peakRss), `limit ${limit.text}`);
    row('writes waiting for the budget, most seen (chaingate_controller_status_writes_pending)', String(peakPending), 'sampled every second');
    const r1 = ledger.summary(1);
    const r2 = ledger.summary(2);
    row('writes by chaingate\'s metrics: round 1 / round 2', `${round1Writes} / ${round2Writes}`, `one per object per real change would be ${OBJECTS} / ${OBJECTS}`);
    row('writes by the API server\'s watch (MODIFIED): round 1 / round 2', `${r1.events} / ${r2.events}`, `objects modified: ${r1.objects} / ${r2.objects}`);
    const twice = r1.twice + r2.twice;
    const unchanged = ledger.unchanged[1]! + ledger.unchanged[2]!;
    // A write that changes nothing gets no new version and no event: chaingate counted it, the watch did not.
    const noops = Math.max(0, round1Writes + round2Writes - (r1.events + r2.events));
    row('redundant writes: an object written again in a round / equal value / no-op (metric minus watch)', `${twice} / ${unchanged} / ${noops}`, twice + unchanged + noops === 0 ? 'zero, as required' : 'NOT ZERO');
    const errors = await chaingate.metric('chaingate_controller_errors_total');
    row('reconcile errors', String(errors), errors > 0 ? 'failed writes are retried; one that timed out but landed is not written again (the watch counts it)' : '');
  } catch (err) {
    throw withChaingateExit(err, chaingate);
  } finally {
    clearInterval(sampler);
    await chaingate.stop().catch(() => undefined);
  }
  const events = await cluster.kubectl(['get', 'events', '-n', NS, '-o', 'name']);
  row('Events recorded in the namespace (ChainNotFound while the chain was absent; not under the budget)', String(events.stdout.split('\n').filter(Boolean).length), '');
  if (cgroup) {
    const peak = cgroup.peakBytes();
    row(`cgroup (limit ${limit.text}): most memory used, OOM kills`, peak === undefined ? 'unknown' : fmt.mib(peak), `${cgroup.oomKills()} OOM kills`);
  }
} finally {
  watch?.stop();
  await cluster.stop();
  cgroup?.remove();
}
printTable(rows);
