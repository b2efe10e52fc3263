// The kcm status-writer stand-in (test/kcm/status-writer.ts) alone on kube-apiserver with kcm
// v1.11.4's CRDs, no chaingate: it writes status.servicesUpgradePaths in kcm's shape, owns the field
// as "kcm-stand-in" on the status subresource, and how often it rewrites an object at rest (kcm's
// UpgradePaths returns paths in Go map order, and every write is an update event that reconciles
// again, so a chain with several destinations can keep the writer busy; one destination cannot).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { watchClusterDeployments } from '../support/raw-watch.ts';
import { kcmCrds } from '../kcm/crds.ts';
import { KCM_STAND_IN_MANAGER, startKcmStatusWriter, type KcmStatusWriter } from '../kcm/status-writer.ts';
import { chainYaml, clusterDeploymentYaml, eventually } from '../support/manifests.ts';
import { ok } from '../support/webhook.ts';

const NS = 'team-a';
const REST_MS = 30_000;

type Paths = { name: string; namespace: string; template: string; availableUpgrades?: { versions?: { name: string; version: string }[] }[] }[];

/** Counts MODIFIED watch events of one object, from the API server's raw watch stream. */
async function watchModified(cluster: ControlPlane, name: string, resourceVersion: string): Promise<{ count: () => number; stop: () => void }> {
  let modified = 0;
  const watch = await watchClusterDeployments(cluster, { namespace: NS, resourceVersion, name }, (event) => {
    if (event.type === 'MODIFIED') modified++;
  });
  return { count: () => modified, stop: watch.stop };
}

describe('kcm status-writer stand-in on kube-apiserver (kcm CRDs v1.11.4, no chaingate)', () => {
  let cluster: ControlPlane;
  let writer: KcmStatusWriter;
  const getCd = async (name: string) =>
    JSON.parse(await ok(cluster, ['get', 'clusterdeployment', name, '-n', NS, '-o', 'json', '--show-managed-fields'])) as {
      metadata: { resourceVersion: string; managedFields: { manager: string; operation: string; subresource?: string; fieldsV1?: Record<string, Record<string, unknown>> }[] };
      status?: { servicesUpgradePaths?: Paths };
    };

  beforeAll(async () => {
    cluster = await startControlPlane({ crdDir: kcmCrds('v1.11.4') });
    await ok(cluster, ['create', 'namespace', NS]);
    const started = Date.now();
    writer = await startKcmStatusWriter({ kubeconfig: cluster.kubeconfig });
    process.stderr.write(`[kcm-status-writer] ready ${Date.now() - started} ms after start (build included if it was not cached)\n`);
    // fan: app-1 upgrades to two destinations (map order matters); line: one destination.
    await ok(cluster, ['apply', '-f', '-'], chainYaml('fan', NS, { 'app-1': ['app-2', 'app-3'], 'app-2': ['app-3'], 'app-3': [] }));
    await ok(cluster, ['apply', '-f', '-'], chainYaml('line', NS, { 'app-1': ['app-2'], 'app-2': [] }));
  });

  afterAll(async () => {
    await writer?.stop();
    await cluster?.stop();
  });

  it('writes kcm-shaped servicesUpgradePaths, owned by kcm-stand-in on the status subresource', async () => {
    await ok(cluster, ['apply', '-f', '-'], clusterDeploymentYaml('fan-cd', NS, [
      { name: 'web', template: 'app-1', chain: 'fan' },
      { name: 'plain', template: 'plain-1-0-0' },
    ]));
    await writer.waitForWrite(`${NS}/fan-cd`);
    const cd = await eventually(() => getCd('fan-cd'), (o) => (o.status?.servicesUpgradePaths?.length ?? 0) === 2, { what: 'servicesUpgradePaths written' });
    const paths = cd.status!.servicesUpgradePaths!;
    process.stderr.write(`[kcm-status-writer] fan-cd servicesUpgradePaths: ${JSON.stringify(paths)}\n`);
    const web = paths.find((p) => p.name === 'web')!;
    const plain = paths.find((p) => p.name === 'plain')!;
    expect(web).toMatchObject({ name: 'web', namespace: 'web', template: 'app-1' });
    // Every entry has versions (kcm's shape, no deprecated upgradePaths), with version defaulted to the name.
    for (const u of web.availableUpgrades!) {
      expect(Object.keys(u)).toEqual(['versions']);
      for (const v of u.versions!) expect(v.version).toBe(v.name);
    }
    const destinations = web.availableUpgrades!.map((u) => u.versions!.at(-1)!.name).sort();
    expect(destinations).toEqual(['app-2', 'app-3']);
    // The unchained service lists itself, version defaulted to its template.
    expect(plain).toEqual({ name: 'plain', namespace: 'plain', template: 'plain-1-0-0', availableUpgrades: [{ versions: [{ name: 'plain-1-0-0', version: 'plain-1-0-0' }] }] });

    const mine = cd.metadata.managedFields.filter((m) => m.manager === KCM_STAND_IN_MANAGER);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ operation: 'Update', subresource: 'status' });
    expect(mine[0]!.fieldsV1?.['f:status']).toHaveProperty('f:servicesUpgradePaths');
    expect(writer.logs.join('\n')).not.toMatch(/failed to get/);
  });

  it('measures writes per minute at rest (no changes) over 30 s', async () => {
    await ok(cluster, ['apply', '-f', '-'], clusterDeploymentYaml('line-cd', NS, [
      { name: 'web', template: 'app-1', chain: 'line' },
      { name: 'plain', template: 'plain-1-0-0' },
    ]));
    await writer.waitForWrite(`${NS}/line-cd`);
    await sleep(2_000); // let the first writes settle
    const fanWatch = await watchModified(cluster, 'fan-cd', (await getCd('fan-cd')).metadata.resourceVersion);
    const lineWatch = await watchModified(cluster, 'line-cd', (await getCd('line-cd')).metadata.resourceVersion);
    const writesBefore = writer.writes.length;
    const conflictsBefore = writer.conflicts;
    const started = Date.now();
    await sleep(REST_MS);
    const elapsedMin = (Date.now() - started) / 60_000;
    const fanAtRest = fanWatch.count();
    const lineAtRest = lineWatch.count();
    const perMin = (n: number) => Math.round(n / elapsedMin);
    const report = {
      seconds: Math.round(elapsedMin * 60),
      fanModifiedPerMin: perMin(fanAtRest),
      lineModifiedPerMin: perMin(lineAtRest),
      standInWritesPerMin: perMin(writer.writes.length - writesBefore),
      conflicts: writer.conflicts - conflictsBefore,
      // Before the window: writes the stand-in made to settle each object after its create.
      fanWritesToSettle: writer.writes.filter((w) => w.write === `${NS}/fan-cd` && w.writes <= writesBefore).length,
      lineWritesToSettle: writer.writes.filter((w) => w.write === `${NS}/line-cd` && w.writes <= writesBefore).length,
    };
    // The watches see changes: a metadata-only edit is one MODIFIED event (plus any rewrite it sets off).
    const writesBeforeTouch = writer.writes.length;
    await ok(cluster, ['annotate', 'clusterdeployment', 'fan-cd', '-n', NS, 'touched=1']);
    await eventually(async () => fanWatch.count(), (n) => n > fanAtRest, { what: 'the annotation seen by the watch' });
    await sleep(2_000);
    const touchReport = { fanModifiedAfterTouch: fanWatch.count() - fanAtRest, standInWritesAfterTouch: writer.writes.length - writesBeforeTouch };
    fanWatch.stop();
    lineWatch.stop();
    process.stderr.write(`[kcm-status-writer] at rest: ${JSON.stringify({ ...report, ...touchReport })}\n`);
    // One destination: one order, so nothing to rewrite once written.
    expect(lineAtRest).toBe(0);
    // Two destinations: whatever Go's map order does; the figure is the result, not a bound.
    expect(report.fanModifiedPerMin).toBeGreaterThanOrEqual(0);
  }, 60_000);
});
