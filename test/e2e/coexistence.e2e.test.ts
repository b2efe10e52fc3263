// chaingate beside kcm's status writer: two chaingate replicas (leader election on) and the
// stand-in built from kcm v1.11.4's own code (test/kcm/status-writer.ts) on one kube-apiserver,
// for over 60 s of churn (chains created and deleted, ClusterDeployments edited), then at rest.
// Asserted from the API server's own records (managedFields, watch events) and both replicas'
// counters: chaingate stops writing the status field once the stand-in owns it (at most one write
// per object before that), its annotation is written only when its value changes, and at rest
// the objects are written no more often than the stand-in alone writes them (which is 0).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { watchClusterDeployments } from '../support/raw-watch.ts';
import { kcmCrds } from '../kcm/crds.ts';
import { KCM_STAND_IN_MANAGER, startKcmStatusWriter, type KcmStatusWriter } from '../kcm/status-writer.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { chainYaml, clusterDeploymentYaml, eventually } from '../support/manifests.ts';
import { ok } from '../support/webhook.ts';

const NS = 'team-a';
const OBJECTS = ['cd-0', 'cd-1', 'cd-2'];
const CHURN_MS = 65_000;
const REST_MS = 15_000;
const ANNOTATION = 'chaingate.k0rdent.mirantis.com/upgrade-paths';

/** MODIFIED events of the namespace's ClusterDeployments, and changes of chaingate's annotation, by object. */
async function watchModified(cluster: ControlPlane, resourceVersion: string): Promise<{ counts: Map<string, number>; annotationChanges: Map<string, number>; stop: () => void }> {
  const counts = new Map<string, number>();
  const annotationChanges = new Map<string, number>();
  const lastAnnotation = new Map<string, string | undefined>();
  const watch = await watchClusterDeployments(cluster, { namespace: NS, resourceVersion }, (event) => {
    const name = event.object.metadata.name;
    if (event.type === 'MODIFIED') counts.set(name, (counts.get(name) ?? 0) + 1);
    const annotation = event.object.metadata.annotations?.[ANNOTATION];
    if (annotation !== lastAnnotation.get(name)) {
      if (annotation !== undefined) annotationChanges.set(name, (annotationChanges.get(name) ?? 0) + 1);
      lastAnnotation.set(name, annotation);
    }
  });
  return { counts, annotationChanges, stop: watch.stop };
}

describe('chaingate (2 replicas) beside a kcm status writer built from kcm v1.11.4', () => {
  let cluster: ControlPlane;
  let kcm: KcmStatusWriter;
  const replicas: ChaingateProcess[] = [];
  const get = async (name: string) => JSON.parse(await ok(cluster, ['get', 'clusterdeployment', name, '-n', NS, '-o', 'json', '--show-managed-fields']));
  const sum = async (name: string, labels: Record<string, string>) => (await Promise.all(replicas.map((r) => r.metric(name, labels)))).reduce((a, b) => a + b, 0);

  beforeAll(async () => {
    cluster = await startControlPlane({ crdDir: kcmCrds('v1.11.4') });
    await ok(cluster, ['create', 'namespace', NS]);
    await ok(cluster, ['apply', '-f', '-'], chainYaml('app', NS, { 'app-1': ['app-2', 'app-3'], 'app-2': ['app-1', 'app-3'], 'app-3': ['app-1'] }));
    for (let i = 0; i < 2; i++) {
      replicas.push(
        await startChaingate(['--kubeconfig', cluster.kubeconfig, '--webhook=false', '--leader-election=true', '--leader-election-namespace', 'kube-system', '--resync-ms', '5000'], {
          env: { POD_NAME: `replica-${i}` },
        }),
      );
    }
    kcm = await startKcmStatusWriter({ kubeconfig: cluster.kubeconfig });
  }, 1_800_000);

  afterAll(async () => {
    await kcm?.stop();
    for (const replica of replicas) await replica.stop();
    await cluster?.stop();
  });

  it('writes the status at most once per object, then only its annotation on change; at rest, nothing', async () => {
    // Every write of the objects, from the API server's own watch, from before they exist.
    const startRv = JSON.parse(await ok(cluster, ['get', 'clusterdeployments', '-n', NS, '-o', 'json'])).metadata.resourceVersion as string;
    const history = await watchModified(cluster, startRv);
    for (const name of OBJECTS) {
      await ok(cluster, ['apply', '-f', '-'], clusterDeploymentYaml(name, NS, [{ name: 'app', template: 'app-1', chain: 'app' }, { name: 'plain', template: 'plain-1' }]));
    }
    // The stand-in owns the field of every object, and chaingate has moved to its annotation.
    for (const name of OBJECTS) {
      await eventually(() => get(name), (o) => o.metadata.annotations?.[ANNOTATION] !== undefined, { what: `${name}: chaingate's annotation`, timeoutMs: 30_000 });
    }

    // Churn: chains created and deleted (nothing uses them), and template edits, for over 60 s.
    const started = Date.now();
    let edits = 0;
    for (let i = 0; Date.now() - started < CHURN_MS; i++) {
      await ok(cluster, ['apply', '-f', '-'], chainYaml(`spare-${i}`, NS, { 's-1': ['s-2'], 's-2': [] }));
      if (i > 0) await ok(cluster, ['delete', 'servicetemplatechain', `spare-${i - 1}`, '-n', NS]);
      const name = OBJECTS[i % OBJECTS.length]!;
      await ok(cluster, ['apply', '-f', '-'], clusterDeploymentYaml(name, NS, [{ name: 'app', template: `app-${(Math.floor(i / OBJECTS.length) % 3) + 1}`, chain: 'app' }, { name: 'plain', template: 'plain-1' }]));
      edits++;
      await sleep(1_500);
    }
    expect(edits).toBeGreaterThan(20);
    await sleep(5_000); // let both writers settle

    // chaingate's status writes: only before the stand-in first owned each object's field.
    const statusWrites = await sum('chaingate_controller_status_patches_total', { target: 'status' });
    expect(statusWrites).toBeLessThanOrEqual(OBJECTS.length);
    for (const name of OBJECTS) {
      const object = await get(name);
      const owners = (object.metadata.managedFields as Array<{ manager: string; fieldsV1?: { 'f:status'?: Record<string, unknown> } }>)
        .filter((m) => m.fieldsV1?.['f:status']?.['f:servicesUpgradePaths'] !== undefined)
        .map((m) => m.manager);
      expect(owners, name).toEqual([KCM_STAND_IN_MANAGER]);
      // The annotation is chaingate's view of the current template.
      const mine = JSON.parse(object.metadata.annotations[ANNOTATION]) as Array<{ name: string; template: string }>;
      expect(mine.map((s) => s.template)).toEqual(object.spec.serviceSpec.services.map((s: { template: string }) => s.template));
    }
    // The annotation changes only with chaingate's value: at most once per template edit, plus
    // its first value per object (counted in the API server's events; a repeated patch of the
    // same value is no write there, and the counter below counts such patches too).
    history.stop();
    const annotationChanges = [...history.annotationChanges.values()].reduce((a, b) => a + b, 0);
    expect(annotationChanges).toBeGreaterThanOrEqual(edits);
    expect(annotationChanges).toBeLessThanOrEqual(edits + OBJECTS.length);
    const annotationWrites = await sum('chaingate_controller_status_patches_total', { target: 'annotation' });
    // Nor does chaingate send the same value twice: a stand-in write racing chaingate's patch
    // (a newer object still without the annotation) is no reason to patch again.
    expect(annotationWrites).toBeLessThanOrEqual(edits + OBJECTS.length);

    // At rest: count every write of the objects from the API server's own watch.
    const rv = JSON.parse(await ok(cluster, ['get', 'clusterdeployments', '-n', NS, '-o', 'json'])).metadata.resourceVersion as string;
    const watch = await watchModified(cluster, rv);
    const kcmBefore = kcm.writes.length;
    const mineBefore = await sum('chaingate_controller_status_patches_total', {});
    await sleep(REST_MS);
    watch.stop();
    const restWrites = [...watch.counts.values()].reduce((a, b) => a + b, 0);
    console.log(`coexistence: ${edits} edits in ${CHURN_MS / 1000} s; chaingate status writes ${statusWrites}, annotation patches ${annotationWrites} (changes ${annotationChanges}); stand-in writes ${kcmBefore}, conflicts ${kcm.conflicts}; at rest over ${REST_MS / 1000} s: ${restWrites} writes (stand-in ${kcm.writes.length - kcmBefore})`);
    expect(await sum('chaingate_controller_status_patches_total', {})).toBe(mineBefore);
    // The stand-in alone writes nothing at rest (test/e2e/kcm-status-writer.e2e.test.ts): neither does the pair.
    expect(restWrites).toBe(kcm.writes.length - kcmBefore);
    expect(restWrites).toBe(0);
  }, 300_000);

  it('yields to a writer that clears the field: a chain that does not exist yet, then appears', async () => {
    // kcm skips a service whose chain it cannot read, so its full status update leaves the
    // field empty and owned by nobody: ownership alone cannot tell chaingate that kcm writes it.
    const names = ['gone-0', 'gone-1', 'gone-2'];
    const before = await sum('chaingate_controller_status_patches_total', { target: 'status' });
    const rv = JSON.parse(await ok(cluster, ['get', 'clusterdeployments', '-n', NS, '-o', 'json'])).metadata.resourceVersion as string;
    const watch = await watchModified(cluster, rv);
    for (const name of names) await ok(cluster, ['apply', '-f', '-'], clusterDeploymentYaml(name, NS, [{ name: 'app', template: 'app-1', chain: 'later' }]));
    for (const name of names) {
      await eventually(() => get(name), (o) => o.metadata.annotations?.[ANNOTATION] !== undefined, { what: `${name}: chaingate's annotation`, timeoutMs: 60_000 });
    }
    await sleep(10_000);
    const gone = names.map((name) => watch.counts.get(name) ?? 0);
    // One status write per object at most (before chaingate saw it undone), then the annotation.
    expect(await sum('chaingate_controller_status_patches_total', { target: 'status' }) - before).toBeLessThanOrEqual(names.length);
    for (const [i, name] of names.entries()) expect(gone[i], `${name}: writes while its chain is missing`).toBeLessThanOrEqual(6);

    // The chain appears: chaingate's annotation follows, kcm recomputes on that event, then quiet.
    await ok(cluster, ['apply', '-f', '-'], chainYaml('later', NS, { 'app-1': ['app-2'], 'app-2': [] }));
    for (const name of names) {
      await eventually(() => get(name), (o) => (o.metadata.annotations?.[ANNOTATION] ?? '').includes('app-2') && JSON.stringify(o.status?.servicesUpgradePaths ?? []).includes('app-2'), { what: `${name}: both views list app-2`, timeoutMs: 60_000 });
    }
    await sleep(3_000);
    const settled = names.map((name) => watch.counts.get(name) ?? 0);
    await sleep(REST_MS);
    watch.stop();
    expect(names.map((name) => watch.counts.get(name) ?? 0)).toEqual(settled);
    console.log(`coexistence, missing chain: writes per object while missing ${gone.join(', ')}, after it appeared ${settled.map((n, i) => n - gone[i]!).join(', ')}, at rest 0`);
  }, 180_000);
});
