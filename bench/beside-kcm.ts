// Beside kcm: how many writes the ClusterDeployments take when chaingate's status controller runs
// beside a stand-in for kcm's status writer (test/kcm/status-writer.ts, built from kcm v1.11.4's
// own code), side by side with the stand-in alone, at scale: N ClusterDeployments (5,000; 200
// with --quick) created naming a chain that does not exist yet, then the chain appearing, then
// the objects at rest. One control plane, two namespaces, one run each:
//   A "stand-in alone"        namespace `alone`:  the stand-in only;
//   B "stand-in + chaingate"  namespace `beside`: the stand-in and chaingate (edge policy, no
//                             webhook, controller on, resync 10 min).
// Per phase it reports the API server's own record (MODIFIED events from a raw watch started at
// the namespace list's resourceVersion), the stand-in's writes and 409 conflicts, chaingate's
// status and annotation patches (metric deltas) and how long the phase took to go quiet.
//
// Why the chain appearing matters: kcm (like the stand-in) watches only ClusterDeployments, not
// chains, so alone it does not react when the chain appears; its statuses stay as they were until
// something else touches each object. With chaingate, chaingate reacts to the chain and writes
// (its status, or its annotation once kcm owns the field), and each of those writes is an event
// that makes kcm recompute and perhaps write again. That cost is counted here, not assumed.
//
// The chain is LINEAR (line-0 -> line-1 -> ... -> line-4, versions 1.0.0..1.4.0): kcm's own path
// search is exponential on dense cyclic chains, which would measure that instead.
// A phase that does not go quiet within its bound is reported as such (not thrown), and the
// next phase starts anyway: its figures then include the tail of the one before.
// The stand-in's client is client-go's default (about 5 requests/s, no QPS set), so its write
// rate, not chaingate's, paces any back-and-forth between the two writers here.
// Run A's objects are deleted before run B starts: chaingate watches every namespace and has no
// namespace flag, so they would otherwise be its work (and its counters') too.
//
//   node bench/beside-kcm.ts [--quick]
import { setTimeout as sleep } from 'node:timers/promises';
import { startControlPlane, type ControlPlane } from '../test/cluster/control-plane.ts';
import { kcmCrds } from '../test/kcm/crds.ts';
import { KCM_STAND_IN_MANAGER, startKcmStatusWriter, type KcmStatusWriter } from '../test/kcm/status-writer.ts';
import { startChaingate, type ChaingateProcess } from '../test/support/chaingate-process.ts';
import { watchClusterDeployments } from '../test/support/raw-watch.ts';
import { GROUP, VERSION, customObjects, pool, waitFor } from './kube.ts';
import { fmt, header, printTable, quick } from './lib.ts';

const DEPLOYMENTS = quick ? 200 : 5_000;
const REST_MS = quick ? 15_000 : 30_000;
/** A phase has settled when no write event arrived for this long. */
const QUIET_MS = 5_000;
/** The bound on each phase's settling. */
const SETTLE_TIMEOUT_MS = quick ? 120_000 : 600_000;
const TEMPLATES = 5;
const CHAIN = 'line';
const ANNOTATION = 'chaingate.k0rdent.mirantis.com/upgrade-paths';
const CHAINGATE_ARGS = ['--upgrade-policy', 'edge', '--webhook=false', '--controller=true', '--resync-ms', '600000'];
const progress = (m: string) => console.error(`[beside-kcm] ${m}`);

type Api = ReturnType<typeof customObjects>;

/** The linear chain: line-i upgrades to line-(i+1), that entry carrying version 1.(i+1).0. */
function lineChain(namespace: string) {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'ServiceTemplateChain',
    metadata: { name: CHAIN, namespace },
    spec: {
      supportedTemplates: Array.from({ length: TEMPLATES }, (_, i) => ({
        name: `line-${i}`,
        availableUpgrades: i + 1 < TEMPLATES ? [{ name: `line-${i + 1}`, version: `1.${i + 1}.0` }] : [],
      })),
    },
  };
}

function clusterDeployment(namespace: string, i: number) {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'ClusterDeployment',
    metadata: { name: `cd-${i}`, namespace },
    spec: { template: 't', credential: 'c', serviceSpec: { services: [{ name: 'app', namespace: 'app', template: 'line-0', templateChain: CHAIN }] } },
  };
}

/** The namespace's ClusterDeployment list resourceVersion: where a watch misses nothing after. */
async function listResourceVersion(api: Api, namespace: string): Promise<string> {
  const list = (await api.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'clusterdeployments', limit: 1 })) as { metadata: { resourceVersion: string } };
  return list.metadata.resourceVersion;
}

interface Tracker {
  modified: number;
  added: number;
  other: Map<string, number>;
  /** MODIFIED events by object name. */
  byObject: Map<string, number>;
  /** Date.now() of the last ADDED or MODIFIED event. */
  lastAt: number | undefined;
  stop(): void;
}

/** A raw watch of the namespace's ClusterDeployments from its list's resourceVersion now. */
async function track(cluster: ControlPlane, api: Api, namespace: string): Promise<Tracker> {
  const resourceVersion = await listResourceVersion(api, namespace);
  const t: Omit<Tracker, 'stop'> = { modified: 0, added: 0, other: new Map(), byObject: new Map(), lastAt: undefined };
  const watch = await watchClusterDeployments(cluster, { namespace, resourceVersion }, (event) => {
    if (event.type === 'MODIFIED') {
      t.modified++;
      const name = event.object.metadata.name;
      t.byObject.set(name, (t.byObject.get(name) ?? 0) + 1);
    }
    else if (event.type === 'ADDED') t.added++;
    else t.other.set(event.type, (t.other.get(event.type) ?? 0) + 1);
    if (event.type === 'MODIFIED' || event.type === 'ADDED') t.lastAt = Date.now();
  });
  return Object.assign(t, { stop: watch.stop });
}

interface Counts {
  writes: number;
  conflicts: number;
  status: number;
  annotation: number;
}

async function counts(kcm: KcmStatusWriter, chaingate: ChaingateProcess | undefined): Promise<Counts> {
  return {
    writes: kcm.writes.length,
    conflicts: kcm.conflicts,
    status: chaingate ? await chaingate.metric('chaingate_controller_status_patches_total', { target: 'status' }) : 0,
    annotation: chaingate ? await chaingate.metric('chaingate_controller_status_patches_total', { target: 'annotation' }) : 0,
  };
}

interface Phase {
  modified: number;
  added: number;
  other: string;
  /** Objects with a MODIFIED event, and the most MODIFIED events of one object. */
  objectsWritten: number;
  mostOnOne: number;
  writes: number;
  conflicts: number;
  status: number;
  annotation: number;
  /** ms from the phase's start to its last write event (0: none); undefined: did not settle in the bound. */
  settledMs: number | undefined;
  /** ms the phase's own action took (creating the objects, the chain). */
  actionMs: number;
}

/**
 * One phase: a watch from now, `action`, then (unless `holdMs`) wait for QUIET_MS without a write
 * event (and chaingate's queue empty), bounded by SETTLE_TIMEOUT_MS; or just `holdMs` at rest.
 */
async function phase(
  ctx: { cluster: ControlPlane; api: Api; namespace: string; kcm: KcmStatusWriter; chaingate: ChaingateProcess | undefined },
  action: () => Promise<unknown>,
  holdMs?: number,
): Promise<Phase> {
  const watch = await track(ctx.cluster, ctx.api, ctx.namespace);
  try {
    const before = await counts(ctx.kcm, ctx.chaingate);
    const started = Date.now();
    await action();
    const actionMs = Date.now() - started;
    let settledMs: number | undefined;
    if (holdMs !== undefined) {
      await sleep(holdMs);
      settledMs = watch.lastAt === undefined ? 0 : watch.lastAt - started;
    } else {
      const deadline = Date.now() + SETTLE_TIMEOUT_MS;
      const actionDone = Date.now();
      for (;;) {
        const lastWrite = Math.max(watch.lastAt ?? 0, ctx.kcm.writes.at(-1)?.at ?? 0, actionDone);
        const idle = ctx.chaingate ? (await ctx.chaingate.metric('chaingate_controller_queue_depth')) === 0 : true;
        if (idle && Date.now() - lastWrite >= QUIET_MS) {
          settledMs = watch.lastAt === undefined ? 0 : watch.lastAt - started;
          break;
        }
        if (Date.now() > deadline) break;
        await sleep(250);
      }
    }
    const after = await counts(ctx.kcm, ctx.chaingate);
    return {
      modified: watch.modified,
      added: watch.added,
      other: [...watch.other].map(([type, n]) => `${n} ${type}`).join(', '),
      objectsWritten: watch.byObject.size,
      mostOnOne: Math.max(0, ...watch.byObject.values()),
      writes: after.writes - before.writes,
      conflicts: after.conflicts - before.conflicts,
      status: after.status - before.status,
      annotation: after.annotation - before.annotation,
      settledMs,
      actionMs,
    };
  } finally {
    watch.stop();
  }
}

interface Ownership {
  objects: number;
  standInOnly: number;
  chaingateOwns: number;
  annotated: number;
}

/** Who owns status.servicesUpgradePaths (managedFields), and who carries chaingate's annotation. */
async function ownership(api: Api, namespace: string): Promise<Ownership> {
  const o: Ownership = { objects: 0, standInOnly: 0, chaingateOwns: 0, annotated: 0 };
  let next: string | undefined;
  for (let page = 0; page < 1_000; page++) {
    const list = (await api.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'clusterdeployments', limit: 500, ...(next ? { _continue: next } : {}) })) as {
      metadata: { continue?: string };
      items: Array<{ metadata: { annotations?: Record<string, string>; managedFields?: Array<{ manager?: string; fieldsV1?: { 'f:status'?: Record<string, unknown> } }> } }>;
    };
    for (const item of list.items) {
      o.objects++;
      const owners = (item.metadata.managedFields ?? []).filter((m) => m.fieldsV1?.['f:status']?.['f:servicesUpgradePaths'] !== undefined).map((m) => m.manager);
      if (owners.length > 0 && owners.every((m) => m === KCM_STAND_IN_MANAGER)) o.standInOnly++;
      if (owners.includes('chaingate')) o.chaingateOwns++;
      if (item.metadata.annotations?.[ANNOTATION] !== undefined) o.annotated++;
    }
    next = list.metadata.continue || undefined;
    if (!next) break;
  }
  return o;
}

interface Run {
  created: Phase;
  chain: Phase;
  rest: Phase;
  owned: Ownership;
}

async function run(cluster: ControlPlane, api: Api, namespace: string, withChaingate: boolean): Promise<Run> {
  await cluster.kubectl(['create', 'namespace', namespace]);
  let chaingate: ChaingateProcess | undefined;
  let kcm: KcmStatusWriter | undefined;
  try {
    if (withChaingate) {
      progress(`${namespace}: starting chaingate`);
      chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, ...CHAINGATE_ARGS]);
    }
    progress(`${namespace}: starting the stand-in`);
    kcm = await startKcmStatusWriter({ kubeconfig: cluster.kubeconfig, namespace });
    const ctx = { cluster, api, namespace, kcm, chaingate };

    progress(`${namespace}: creating ${DEPLOYMENTS} ClusterDeployments naming chain ${CHAIN}, which does not exist yet`);
    const created = await phase(ctx, () =>
      pool(DEPLOYMENTS, 32, (i) => api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'clusterdeployments', body: clusterDeployment(namespace, i) })),
    );
    progress(`${namespace}: settled after ${created.settledMs ?? 'timeout'} ms (${created.modified} MODIFIED); creating the chain`);
    const chain = await phase(ctx, () => api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'servicetemplatechains', body: lineChain(namespace) }));
    progress(`${namespace}: settled after ${chain.settledMs ?? 'timeout'} ms (${chain.modified} MODIFIED); ${REST_MS / 1000} s at rest`);
    const rest = await phase(ctx, async () => undefined, REST_MS);
    const owned = await ownership(api, namespace);
    return { created, chain, rest, owned };
  } catch (err) {
    if (chaingate && (chaingate.child.exitCode !== null || chaingate.child.signalCode !== null)) {
      const error = err instanceof Error ? err : new Error(String(err));
      error.message += `\nchaingate exited (code ${chaingate.child.exitCode}); its last output:\n${chaingate.logs.slice(-15).join('\n')}`;
      throw error;
    }
    throw err;
  } finally {
    await kcm?.stop().catch(() => undefined);
    await chaingate?.stop().catch(() => undefined);
  }
}

header(`beside kcm: ${DEPLOYMENTS.toLocaleString('en-US')} ClusterDeployments, the stand-in for kcm v1.11.4's status writer alone and with chaingate`);
console.log(`# settled: no write event for ${QUIET_MS / 1000} s (and chaingate's queue empty), bounded by ${SETTLE_TIMEOUT_MS / 1000} s; times are to the phase's last write event`);
const cluster = await startControlPlane({ crdDir: kcmCrds('v1.11.4') });
const api = customObjects(cluster.kubeconfig);
const runs: Run[] = [];
try {
  runs.push(await run(cluster, api, 'alone', false));
  // chaingate watches every namespace: run A's objects would be its work too.
  progress('alone: deleting its ClusterDeployments before run B');
  await api.deleteCollectionNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'alone', plural: 'clusterdeployments' });
  await waitFor(
    async () => ((await api.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'alone', plural: 'clusterdeployments', limit: 1 })) as { items: unknown[] }).items.length === 0,
    120_000,
    'alone: ClusterDeployments deleted',
    250,
  );
  runs.push(await run(cluster, api, 'beside', true));
} finally {
  await cluster.stop();
}

const [alone, beside] = runs as [Run, Run];
const secs = (ms: number | undefined) => (ms === undefined ? `not settled in ${SETTLE_TIMEOUT_MS / 1000} s` : `${(ms / 1000).toFixed(1)} s`);
const rows: Array<Record<string, string>> = [];
const row = (measure: string, f: (r: Run) => string | number, onlyChaingate = false) =>
  rows.push({ measure, 'stand-in alone': onlyChaingate ? '–' : String(f(alone)), 'stand-in + chaingate': String(f(beside)) });
const phases: Array<[string, (r: Run) => Phase]> = [
  [`${DEPLOYMENTS.toLocaleString('en-US')} objects created (chain missing)`, (r) => r.created],
  ['after the chain appears', (r) => r.chain],
  [`at rest (${REST_MS / 1000} s)`, (r) => r.rest],
];
for (const [name, of] of phases) {
  row(`${name}: MODIFIED events (API server watch)`, (r) => of(r).modified + (of(r).other ? ` (also ${of(r).other})` : ''));
  row(`${name}: objects written / most MODIFIED on one`, (r) => `${of(r).objectsWritten} / ${of(r).mostOnOne}`);
  row(`${name}: stand-in writes / conflicts`, (r) => `${of(r).writes} / ${of(r).conflicts}`);
  row(`${name}: chaingate status / annotation patches`, (r) => `${of(r).status} / ${of(r).annotation}`, true);
  row(`${name}: ${of === phases[2]![1] ? 'last write after' : 'settled (last write) after'}`, (r) => secs(of(r).settledMs));
}
row('objects created: time to create them (32 in flight)', (r) => fmt.ms(r.created.actionMs));
row('total MODIFIED events (all phases)', (r) => r.created.modified + r.chain.modified + r.rest.modified);
row('total MODIFIED events per object', (r) => ((r.created.modified + r.chain.modified + r.rest.modified) / DEPLOYMENTS).toFixed(2));
row(`end: status.servicesUpgradePaths owned by ${KCM_STAND_IN_MANAGER} only`, (r) => `${r.owned.standInOnly} of ${r.owned.objects}`);
row('end: status.servicesUpgradePaths owned (or shared) by chaingate', (r) => `${r.owned.chaingateOwns} of ${r.owned.objects}`);
row(`end: carrying chaingate's annotation`, (r) => `${r.owned.annotated} of ${r.owned.objects}`);
printTable(rows);
