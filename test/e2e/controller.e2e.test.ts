// The status controller against a real kube-apiserver: status read the way a user reads it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.ts';
import { startChaingate, type ChaingateProcess } from '../support/chaingate-process.ts';
import { ok, refused, registerWebhook } from '../support/webhook.ts';
import { eventually as poll, chainYaml, kcmCrds, clusterDeploymentYaml, routeItem } from '../support/manifests.ts';




/** SPEC's example chain. */
const SPEC_CHAIN = { 'app-010': ['app-020', 'app-030', 'app-040'], 'app-020': ['app-030', 'app-040'], 'app-030': ['app-040'], 'app-040': ['app-100'], 'app-100': [] };


const cdYaml = (name: string, namespace: string, services: Array<[string, string, string?]>) =>
  clusterDeploymentYaml(name, namespace, services.map(([svc, template, chain]) => ({ name: svc, template, ...(chain ? { chain } : {}) })));
const eventually = <T,>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs?: number) => poll(read, accept, { timeoutMs });

describe('status controller on kube-apiserver (kcm CRDs v1.11.4)', () => {
  let cluster: ControlPlane;
  let chaingate: ChaingateProcess;
  const paths = (kind: string, name: string, namespace?: string) =>
    ok(cluster, ['get', kind, name, ...(namespace ? ['-n', namespace] : []), '-o', 'jsonpath={.status.servicesUpgradePaths}']).then((out) => (out ? JSON.parse(out) : undefined));

  beforeAll(async () => {
    cluster = await startControlPlane({ crdDir: kcmCrds('v1.11.4') });
    await ok(cluster, ['create', 'namespace', 'kcm-system']);
    await ok(cluster, ['create', 'namespace', 'team-a']);
    chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, '--webhook=false', '--controller=true', '--resync-ms', '1500']);
  });

  afterAll(async () => {
    await chaingate?.stop();
    await cluster?.stop();
  });

  it("publishes SPEC's example paths, read with kubectl -o jsonpath", async () => {
    await ok(cluster, ['apply', '-f', '-'], chainYaml('spec-chain', 'team-a', SPEC_CHAIN));
    await ok(cluster, ['apply', '-f', '-'], cdYaml('spec', 'team-a', [['one', 'app-010', 'spec-chain'], ['two', 'app-030', 'spec-chain']]));
    const published = await eventually(() => paths('clusterdeployment', 'spec', 'team-a'), (v) => Array.isArray(v) && v.length === 2);
    expect(published).toEqual([
      { name: 'one', namespace: 'one', template: 'app-010', availableUpgrades: [routeItem('app-020'), routeItem('app-030'), routeItem('app-040'), routeItem('app-040', 'app-100')] },
      { name: 'two', namespace: 'two', template: 'app-030', availableUpgrades: [routeItem('app-040'), routeItem('app-040', 'app-100')] },
    ]);
  });

  it('fills status in when the chain appears after the ClusterDeployment, and empties it when the chain goes', async () => {
    await ok(cluster, ['apply', '-f', '-'], cdYaml('late', 'team-a', [['web', 'web-1', 'web-chain']]));
    const before = await eventually(() => paths('clusterdeployment', 'late', 'team-a'), (v) => Array.isArray(v));
    expect(before).toEqual([{ name: 'web', namespace: 'web', template: 'web-1' }]);
    const events = await eventually(
      () => ok(cluster, ['get', 'events', '-n', 'team-a', '--field-selector', 'involvedObject.name=late', '-o', 'jsonpath={.items[*].reason}']),
      (v) => v.includes('ChainNotFound'),
    );
    expect(events).toContain('ChainNotFound');

    await ok(cluster, ['apply', '-f', '-'], chainYaml('web-chain', 'team-a', { 'web-1': ['web-2'], 'web-2': [] }));
    const after = await eventually(() => paths('clusterdeployment', 'late', 'team-a'), (v) => v?.[0]?.availableUpgrades !== undefined);
    expect(after).toEqual([{ name: 'web', namespace: 'web', template: 'web-1', availableUpgrades: [routeItem('web-2')] }]);

    await ok(cluster, ['delete', 'servicetemplatechain', 'web-chain', '-n', 'team-a']);
    const gone = await eventually(() => paths('clusterdeployment', 'late', 'team-a'), (v) => v?.[0]?.availableUpgrades === undefined);
    expect(gone).toEqual([{ name: 'web', namespace: 'web', template: 'web-1' }]);
  });

  it('follows spec changes and reports templates the chain does not support', async () => {
    await ok(cluster, ['apply', '-f', '-'], cdYaml('spec', 'team-a', [['one', 'app-040', 'spec-chain'], ['two', 'app-999', 'spec-chain']]));
    const published = await eventually(() => paths('clusterdeployment', 'spec', 'team-a'), (v) => v?.[0]?.template === 'app-040');
    expect(published).toEqual([
      { name: 'one', namespace: 'one', template: 'app-040', availableUpgrades: [routeItem('app-100')] },
      { name: 'two', namespace: 'two', template: 'app-999' },
    ]);
    const reasons = await eventually(
      () => ok(cluster, ['get', 'events', '-n', 'team-a', '--field-selector', 'involvedObject.name=spec', '-o', 'jsonpath={.items[*].reason}']),
      (v) => v.includes('TemplateNotInChain'),
    );
    expect(reasons).toContain('TemplateNotInChain');
  });

  it('publishes MultiClusterService status from chains in the system namespace', async () => {
    await ok(cluster, ['apply', '-f', '-'], chainYaml('global-chain', 'kcm-system', { 'g-1': ['g-2'], 'g-2': ['g-3'], 'g-3': [] }));
    await ok(
      cluster,
      ['apply', '-f', '-'],
      `apiVersion: k0rdent.mirantis.com/v1beta1\nkind: MultiClusterService\nmetadata: {name: global}\nspec:\n  serviceSpec:\n    services:\n      - {name: g, namespace: g, template: g-1, templateChain: global-chain}\n`,
    );
    const published = await eventually(() => paths('multiclusterservice', 'global'), (v) => v?.[0]?.availableUpgrades !== undefined);
    expect(published).toEqual([{ name: 'g', namespace: 'g', template: 'g-1', availableUpgrades: [routeItem('g-2'), routeItem('g-2', 'g-3')] }]);
  });

  it('leaves spec and other status fields alone, and never patches an unchanged status', async () => {
    await ok(cluster, ['patch', 'clusterdeployment', 'spec', '-n', 'team-a', '--subresource=status', '--type=merge', '-p', '{"status":{"observedGeneration":42}}']);
    const specBefore = await ok(cluster, ['get', 'clusterdeployment', 'spec', '-n', 'team-a', '-o', 'jsonpath={.spec}']);
    const patchesBefore = await chaingate.metric('chaingate_controller_status_patches_total');
    const skippedBefore = await chaingate.metric('chaingate_controller_patches_skipped_total');
    // Several resyncs (every 1.5 s) go by: each recomputes every object.
    await eventually(() => chaingate.metric('chaingate_controller_patches_skipped_total'), (v) => v >= skippedBefore + 6, 15_000);
    expect(await chaingate.metric('chaingate_controller_status_patches_total')).toBe(patchesBefore);
    expect(await ok(cluster, ['get', 'clusterdeployment', 'spec', '-n', 'team-a', '-o', 'jsonpath={.status.observedGeneration}'])).toBe('42');
    expect(await ok(cluster, ['get', 'clusterdeployment', 'spec', '-n', 'team-a', '-o', 'jsonpath={.spec}'])).toBe(specBefore);

    // A change that does alter the paths keeps the other writer's field too.
    await ok(cluster, ['apply', '-f', '-'], cdYaml('spec', 'team-a', [['one', 'app-010', 'spec-chain'], ['two', 'app-999', 'spec-chain']]));
    await eventually(() => paths('clusterdeployment', 'spec', 'team-a'), (v) => v?.[0]?.template === 'app-010');
    expect(await ok(cluster, ['get', 'clusterdeployment', 'spec', '-n', 'team-a', '-o', 'jsonpath={.status.observedGeneration}'])).toBe('42');
  });
});

describe('leader election between two replicas', () => {
  let cluster: ControlPlane;
  const replicas: ChaingateProcess[] = [];

  beforeAll(async () => {
    cluster = await startControlPlane({ crdDir: kcmCrds('v1.11.4') });
    await ok(cluster, ['create', 'namespace', 'team-a']);
    await ok(cluster, ['apply', '-f', '-'], chainYaml('c', 'team-a', { 'x-1': ['x-2'], 'x-2': [] }));
    for (let i = 0; i < 2; i++) {
      replicas.push(
        await startChaingate(['--kubeconfig', cluster.kubeconfig, '--webhook=false', '--leader-election=true', '--leader-election-namespace', 'kube-system'], {
          env: { POD_NAME: `replica-${i}` },
        }),
      );
    }
  });

  afterAll(async () => {
    for (const replica of replicas) await replica.stop();
    await cluster?.stop();
  });

  it('lets exactly one replica write status, and the other take over within the lease duration', async () => {
    const leaders = async () => Promise.all(replicas.map((r) => (r.child.exitCode === null ? r.metric('chaingate_leader') : Promise.resolve(0))));
    const initial = await eventually(leaders, (v) => v.reduce((a, b) => a + b, 0) === 1);
    const leaderIndex = initial.indexOf(1);
    const holder = await ok(cluster, ['get', 'lease', 'chaingate-controller', '-n', 'kube-system', '-o', 'jsonpath={.spec.holderIdentity}']);
    expect(holder).toBe(`replica-${leaderIndex}`);

    await ok(cluster, ['apply', '-f', '-'], cdYaml('one', 'team-a', [['x', 'x-1', 'c']]));
    await eventually(() => ok(cluster, ['get', 'clusterdeployment', 'one', '-n', 'team-a', '-o', 'jsonpath={.status.servicesUpgradePaths}']), (v) => v.includes('x-2'));
    // A chain that does not exist (one Event), and a service with no chain (no Event by default).
    await ok(cluster, ['apply', '-f', '-'], cdYaml('lost', 'team-a', [['s1', 's-1', 'gone'], ['s2', 's-1', 'gone-too'], ['s3', 's-1']]));
    const reasons = () => ok(cluster, ['get', 'events', '-n', 'team-a', '--field-selector', 'involvedObject.name=lost', '-o', 'jsonpath={.items[*].reason}']);
    await eventually(reasons, (v) => v.includes('ChainNotFound'));
    const follower = replicas[1 - leaderIndex]!;
    expect(await follower.metric('chaingate_controller_status_patches_total')).toBe(0);

    // A crash, not a clean stop: the lease is not released and must expire (15 s).
    replicas[leaderIndex]!.child.kill('SIGKILL');
    const killedAt = Date.now();
    // Lease duration (15 s) plus one retry period (2 s) and the time to notice.
    await eventually(() => follower.metric('chaingate_leader'), (v) => v === 1, 15_000 + 2 * 2_000 + 2_000);
    console.log(`failover took ${Date.now() - killedAt} ms after the leader was killed`);
    await ok(cluster, ['apply', '-f', '-'], cdYaml('two', 'team-a', [['x', 'x-1', 'c']]));
    await eventually(() => ok(cluster, ['get', 'clusterdeployment', 'two', '-n', 'team-a', '-o', 'jsonpath={.status.servicesUpgradePaths}']), (v) => v.includes('x-2'));
    expect(await follower.metric('chaingate_controller_status_patches_total')).toBeGreaterThan(0);
    // The new leader recomputed everything, and reported nothing twice: one Event per object and
    // reason, named after them, survives the leader change.
    await ok(cluster, ['apply', '-f', '-'], cdYaml('lost', 'team-a', [['s1', 's-1', 'gone'], ['s2', 's-1', 'gone-too'], ['s3', 's-1'], ['s4', 's-1', 'gone']]));
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await reasons()).split(' ')).toEqual(['ChainNotFound']);
  });
});

describe('with fewer graphs kept built than chains in use (--graph-cache-size 1)', () => {
  let cluster: ControlPlane;
  let chaingate: ChaingateProcess;
  const names = ['red', 'green', 'blue'];
  const steps = (n: string) => ({ [`${n}-1`]: [`${n}-2`], [`${n}-2`]: [`${n}-3`], [`${n}-3`]: [] });
  const paths = (kind: string, name: string, namespace: string) =>
    ok(cluster, ['get', kind, name, '-n', namespace, '-o', 'jsonpath={.status.servicesUpgradePaths}']).then((out) => (out ? JSON.parse(out) : undefined));

  beforeAll(async () => {
    cluster = await startControlPlane({ crdDir: kcmCrds('v1.11.4') });
    await ok(cluster, ['create', 'namespace', 'team-a']);
    chaingate = await startChaingate(['--kubeconfig', cluster.kubeconfig, '--graph-cache-size', '1', '--resync-ms', '1500']);
    await registerWebhook(cluster, chaingate);
  });

  afterAll(async () => {
    await chaingate?.stop();
    await cluster?.stop();
  });

  it('publishes every status and decides every edit as if all graphs were kept', async () => {
    for (const n of names) await ok(cluster, ['apply', '-f', '-'], chainYaml(`${n}-chain`, 'team-a', steps(n)));
    for (const n of names) await ok(cluster, ['apply', '-f', '-'], cdYaml(n, 'team-a', [[n, `${n}-1`, `${n}-chain`]]));
    for (const n of names) {
      const published = await eventually(() => paths('clusterdeployment', n, 'team-a'), (v) => v?.[0]?.availableUpgrades !== undefined);
      expect(published).toEqual([{ name: n, namespace: n, template: `${n}-1`, availableUpgrades: [routeItem(`${n}-2`), routeItem(`${n}-2`, `${n}-3`)] }]);
    }
    // Each edit needs its chain's graph, evicted by the edit before it.
    for (const n of names) {
      const stderr = await refused(cluster, ['apply', '-f', '-'], cdYaml(n, 'team-a', [[n, `${n}-3`, `${n}-chain`]]));
      expect(stderr).toContain(`service ${n}/${n} can't be upgraded from ${n}-1 to ${n}-3`);
      expect(stderr).toContain(`${n}-1 -> ${n}-2 -> ${n}-3 (apply ${n}-2 first)`);
    }
    for (const n of names) await ok(cluster, ['apply', '-f', '-'], cdYaml(n, 'team-a', [[n, `${n}-2`, `${n}-chain`]]));
    for (const n of names) {
      const published = await eventually(() => paths('clusterdeployment', n, 'team-a'), (v) => v?.[0]?.template === `${n}-2`);
      expect(published).toEqual([{ name: n, namespace: n, template: `${n}-2`, availableUpgrades: [routeItem(`${n}-3`)] }]);
    }
    expect(await chaingate.metric('chaingate_chain_graphs_built')).toBe(1);
    // Three chains through a cache of one: graphs were rebuilt, not kept.
    expect(await chaingate.metric('chaingate_chain_graph_builds_total')).toBeGreaterThan(names.length);
  });
});
