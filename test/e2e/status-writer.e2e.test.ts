// One writer per field, on a real kube-apiserver: chaingate publishes status.servicesUpgradePaths
// while it is the field's only manager; once another manager (here: kubectl as "kcm", the way
// kcm's controller replaces the status) owns the field, chaingate leaves the status alone and
// publishes the same entries in its annotation, written only when their value changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { ok } from '../support/webhook.ts';
import { chainYaml, clusterDeploymentYaml, eventually, kcmCrds, routeItem } from '../support/manifests.ts';

const NS = 'team-a';
const ANNOTATION = 'chaingate.k0rdent.mirantis.com/upgrade-paths';

describe('status writer: yields status.servicesUpgradePaths to another field manager', () => {
  let cluster: ControlPlane;
  let chaingate: ChaingateProcess;
  const object = async (name: string) => JSON.parse(await ok(cluster, ['get', 'clusterdeployment', name, '-n', NS, '-o', 'json', '--show-managed-fields']));
  const owners = (o: { metadata: { managedFields?: Array<{ manager: string; fieldsV1?: { 'f:status'?: Record<string, unknown> } }> } }) =>
    (o.metadata.managedFields ?? []).filter((m) => m.fieldsV1?.['f:status']?.['f:servicesUpgradePaths'] !== undefined).map((m) => m.manager).sort();

  beforeAll(async () => {
    cluster = await startControlPlane({ crdDir: kcmCrds('v1.11.4') });
    await ok(cluster, ['create', 'namespace', NS]);
    chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, '--webhook=false', '--controller=true']);
    await ok(cluster, ['apply', '-f', '-'], chainYaml('app', NS, { 'app-1': ['app-2'], 'app-2': ['app-3'], 'app-3': [] }));
  });

  afterAll(async () => {
    await chaingate?.stop();
    await cluster?.stop();
  });

  it('writes the status while it is the only writer, and owns the field', async () => {
    await ok(cluster, ['apply', '-f', '-'], clusterDeploymentYaml('alone', NS, [{ name: 'app', template: 'app-1', chain: 'app' }]));
    const published = await eventually(() => object('alone'), (o) => o.status?.servicesUpgradePaths !== undefined, { what: 'status published' });
    expect(published.status.servicesUpgradePaths[0].availableUpgrades).toEqual([routeItem('app-2'), routeItem('app-2', 'app-3')]);
    expect(owners(published)).toEqual(['chaingate']);
    expect(published.metadata.annotations?.[ANNOTATION]).toBeUndefined();
  });

  it('leaves the status to another writer and publishes in its annotation, only on change', async () => {
    await ok(cluster, ['apply', '-f', '-'], clusterDeploymentYaml('shared', NS, [{ name: 'app', template: 'app-1', chain: 'app' }]));
    await eventually(() => object('shared'), (o) => o.status?.servicesUpgradePaths !== undefined, { what: 'status published' });
    // kcm's value for this object (the longest path per destination, listed its own way).
    const kcmValue = [{ name: 'app', namespace: 'app', template: 'app-1', availableUpgrades: [{ versions: [{ name: 'app-2', version: 'app-2' }, { name: 'app-3', version: 'app-3' }] }, { versions: [{ name: 'app-2', version: 'app-2' }] }] }];
    await ok(cluster, ['patch', 'clusterdeployment', 'shared', '-n', NS, '--subresource=status', '--type=merge', '--field-manager=kcm', '-p', JSON.stringify({ status: { servicesUpgradePaths: kcmValue } })]);

    const yielded = await eventually(() => object('shared'), (o) => o.metadata.annotations?.[ANNOTATION] !== undefined, { what: 'annotation written' });
    expect(JSON.parse(yielded.metadata.annotations[ANNOTATION])).toEqual([
      { name: 'app', namespace: 'app', template: 'app-1', availableUpgrades: [routeItem('app-2'), routeItem('app-2', 'app-3')] },
    ]);
    expect(owners(yielded)).toContain('kcm');
    const statusWrites = await chaingate.metric('chaingate_controller_status_patches_total', { target: 'status' });
    const annotationWrites = await chaingate.metric('chaingate_controller_status_patches_total', { target: 'annotation' });

    // At rest, and after a label edit (a watch event, same value): no write of either kind.
    await ok(cluster, ['label', 'clusterdeployment', 'shared', '-n', NS, 'touched=yes']);
    await sleep(3_000);
    const rest = await object('shared');
    expect(rest.status.servicesUpgradePaths).toEqual(kcmValue);
    expect(await chaingate.metric('chaingate_controller_status_patches_total', { target: 'status' })).toBe(statusWrites);
    expect(await chaingate.metric('chaingate_controller_status_patches_total', { target: 'annotation' })).toBe(annotationWrites);

    // A template change changes chaingate's value: the annotation follows, the status stays kcm's.
    await ok(cluster, ['apply', '-f', '-'], clusterDeploymentYaml('shared', NS, [{ name: 'app', template: 'app-2', chain: 'app' }]));
    const moved = await eventually(() => object('shared'), (o) => (o.metadata.annotations?.[ANNOTATION] ?? '').includes('"template":"app-2"'), { what: 'annotation follows the edit' });
    expect(JSON.parse(moved.metadata.annotations[ANNOTATION])[0].availableUpgrades).toEqual([routeItem('app-3')]);
    expect(moved.status.servicesUpgradePaths).toEqual(kcmValue);
    expect(await chaingate.metric('chaingate_controller_status_patches_total', { target: 'status' })).toBe(statusWrites);
  });
});
