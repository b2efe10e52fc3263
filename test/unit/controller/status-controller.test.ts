// StatusController end to end, without an API server: the watches are fakes the test feeds
// (upsert/remove/relisted, as a ResilientInformer would call them) and the client records
// the patches it is asked for and answers each with a new resourceVersion.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Registry } from 'prom-client';
import { StatusController, type Informer, type StatusControllerOptions } from '../../../src/controller/status-controller.ts';
import type { InformerEvents, ResilientInformerOptions } from '../../../src/kube/resilient-informer.ts';
import type { KcmClient, KcmResource } from '../../../src/kube/client.ts';
import { UPGRADE_PATHS_OWNERS } from '../../../src/kube/bookkeeping.ts';
import type { EventRecorder } from '../../../src/controller/event-recorder.ts';
import type { ChainRegistry } from '../../../src/graph/chain-registry.ts';
import { UPGRADE_PATHS_ANNOTATION } from '../../../src/rules/status-writer.ts';
import { chainObject, clusterDeployment, multiClusterService, registryOf, service } from '../../support/builders.ts';
import { apiError, memoryLogger } from './fakes.ts';

type Json = Record<string, unknown>;

interface Patch {
  call: 'patch' | 'patchStatus';
  plural: string;
  namespace: string | undefined;
  name: string;
  body: Json;
}

class FakeClient {
  readonly patches: Patch[] = [];
  private revision = 100;
  /** Errors the next patches fail with, in order. */
  readonly failures: Error[] = [];

  private answer(call: Patch['call'], resource: KcmResource, namespace: string | undefined, name: string, body: unknown): Promise<unknown> {
    this.patches.push({ call, plural: resource.plural, namespace, name, body: body as Json });
    const failure = this.failures.shift();
    if (failure) return Promise.reject(failure);
    return Promise.resolve({ metadata: { name, namespace, resourceVersion: String(++this.revision) } });
  }

  /** The resourceVersion the last answer carried. */
  get lastRevision(): string {
    return String(this.revision);
  }

  patch(resource: KcmResource, namespace: string | undefined, name: string, body: unknown): Promise<unknown> {
    return this.answer('patch', resource, namespace, name, body);
  }

  patchStatus(resource: KcmResource, namespace: string | undefined, name: string, body: unknown): Promise<unknown> {
    return this.answer('patchStatus', resource, namespace, name, body);
  }
}

class FakeInformer implements Informer {
  hasSynced = false;
  readonly options: ResilientInformerOptions;
  constructor(options: ResilientInformerOptions) {
    this.options = options;
  }
  async start(): Promise<void> {
    this.hasSynced = true;
  }
  async stop(): Promise<void> {}
  get events(): InformerEvents {
    return this.options.events;
  }
}

const CHAIN = chainObject('app-chain', { 'app-1-0-0': ['app-1-1-0'], 'app-1-1-0': [] }, { namespace: 'team-a' });
const SYSTEM_CHAIN = chainObject('app-chain', { 'app-1-0-0': ['app-1-1-0'], 'app-1-1-0': [] }, { namespace: 'kcm-system' });

let client: FakeClient;
let informers: FakeInformer[];
let controllers: StatusController[];
let log: ReturnType<typeof memoryLogger>;

async function startController(overrides: Partial<StatusControllerOptions> = {}, chains: ChainRegistry = registryOf(CHAIN, SYSTEM_CHAIN)) {
  const controller = new StatusController({
    client: client as unknown as KcmClient,
    chains,
    logger: log.logger,
    registry: new Registry(),
    systemNamespace: 'kcm-system',
    informer: (options) => {
      const informer = new FakeInformer(options);
      informers.push(informer);
      return informer;
    },
    ...overrides,
  });
  controllers.push(controller);
  await controller.start();
  return controller;
}

/** The fake watch of one resource. */
const watch = (plural: string) => informers.find((i) => i.options.resource.plural === plural)!;
const cds = () => watch('clusterdeployments');
const mcss = () => watch('multiclusterservices');

/** A ClusterDeployment whose one service runs app-1-0-0 from app-chain. */
function demo(extra: { resourceVersion?: string; owners?: string[]; status?: Json; annotations?: Json } = {}): Json {
  const object = clusterDeployment([service('app', 'app-1-0-0', 'app-chain')], extra.status ? { status: extra.status } : {});
  const metadata = object.metadata as Json;
  metadata.uid = 'uid-demo';
  metadata.resourceVersion = extra.resourceVersion ?? '10';
  if (extra.owners) metadata[UPGRADE_PATHS_OWNERS] = extra.owners;
  if (extra.annotations) metadata.annotations = extra.annotations;
  return object;
}

/** What the controller publishes for demo(). */
const DEMO_PATHS = [{ name: 'app', namespace: 'default', template: 'app-1-0-0', availableUpgrades: [{ upgradePaths: ['app-1-1-0'] }] }];
/** What it publishes for demo() while app-chain does not exist: the service, no upgrades. */
const UNCHAINED_PATHS = [{ name: 'app', namespace: 'default', template: 'app-1-0-0' }];

async function reconciles(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric('chaingate_controller_reconciles_total')!.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

/** An upsert, and the reconciles it causes. */
async function deliver(controller: StatusController, object: Json, informer = cds()): Promise<void> {
  informer.events.upsert(object);
  await controller.whenIdle();
}

beforeEach(() => {
  vi.useFakeTimers();
  client = new FakeClient();
  informers = [];
  controllers = [];
  log = memoryLogger();
});

afterEach(async () => {
  for (const controller of controllers) await controller.stop();
  vi.useRealTimers();
});

describe('StatusController: where the upgrade paths go', () => {
  it('writes status.servicesUpgradePaths when no other manager owns the field', async () => {
    const controller = await startController();
    await deliver(controller, demo());
    expect(client.patches).toEqual([
      { call: 'patchStatus', plural: 'clusterdeployments', namespace: 'team-a', name: 'demo', body: { status: { servicesUpgradePaths: DEMO_PATHS } } },
    ]);
  });

  it('writes the status when chaingate itself is the only owner', async () => {
    const controller = await startController();
    await deliver(controller, demo({ owners: ['chaingate'] }));
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus']);
  });

  it('writes the annotation, and leaves the status alone, when another manager owns the field', async () => {
    const controller = await startController();
    await deliver(controller, demo({ owners: ['kcm-controller-manager', 'chaingate'] }));
    expect(client.patches).toEqual([
      {
        call: 'patch',
        plural: 'clusterdeployments',
        namespace: 'team-a',
        name: 'demo',
        body: { metadata: { annotations: { [UPGRADE_PATHS_ANNOTATION]: JSON.stringify(DEMO_PATHS) } } },
      },
    ]);
  });

  it('--status-writer status writes the status whoever owns it; annotation writes the annotation even when nobody does', async () => {
    const status = await startController({ statusWriter: 'status' });
    await deliver(status, demo({ owners: ['kcm-controller-manager'] }));
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus']);
    await status.stop();
    informers = [];
    const annotation = await startController({ statusWriter: 'annotation' }, registryOf(CHAIN));
    await deliver(annotation, demo());
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus', 'patch']);
  });

  it('--status-writer off computes but writes nothing', async () => {
    const controller = await startController({ statusWriter: 'off' });
    await deliver(controller, demo());
    await deliver(controller, demo({ owners: ['kcm-controller-manager'] }));
    expect(client.patches).toEqual([]);
  });

  it('skips an object whose status already holds the value', async () => {
    const controller = await startController();
    await deliver(controller, demo({ status: { servicesUpgradePaths: DEMO_PATHS } }));
    expect(client.patches).toEqual([]);
  });

  it('skips an object whose annotation already holds the value', async () => {
    const controller = await startController();
    await deliver(controller, demo({ owners: ['kcm-controller-manager'], annotations: { [UPGRADE_PATHS_ANNOTATION]: JSON.stringify(DEMO_PATHS) } }));
    expect(client.patches).toEqual([]);
  });

  it('takes an absent status as the empty list', async () => {
    const controller = await startController();
    await deliver(controller, clusterDeployment([], {}));
    expect(client.patches).toEqual([]);
    await deliver(controller, clusterDeployment([service('app', 'app-1-0-0', 'app-chain')], { status: { servicesUpgradePaths: [] } }));
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus']);
  });

  it('publishes a MultiClusterService (cluster-scoped) from chains in the system namespace', async () => {
    const controller = await startController({}, registryOf(SYSTEM_CHAIN));
    await deliver(controller, multiClusterService([service('app', 'app-1-0-0', 'app-chain')], { name: 'global' }), mcss());
    expect(client.patches).toEqual([
      {
        call: 'patchStatus',
        plural: 'multiclusterservices',
        namespace: undefined,
        name: 'global',
        body: { status: { servicesUpgradePaths: [{ ...DEMO_PATHS[0], namespace: 'default' }] } },
      },
    ]);
  });
});

describe('StatusController: yielding to a writer that undoes its write', () => {
  it('a writer that clears the field (no owner left) gets it from then on: the annotation follows', async () => {
    const controller = await startController();
    await deliver(controller, demo({ resourceVersion: '10' }));
    const written = client.lastRevision;
    await deliver(controller, demo({ resourceVersion: written, owners: ['chaingate'], status: { servicesUpgradePaths: DEMO_PATHS } }));
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus']);
    // kcm's full status update for a service whose chain it cannot read: the field is gone.
    await deliver(controller, demo({ resourceVersion: String(Number(written) + 1) }));
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus', 'patch']);
    expect(client.patches[1]!.body).toEqual({ metadata: { annotations: { [UPGRADE_PATHS_ANNOTATION]: JSON.stringify(DEMO_PATHS) } } });
    // The field still has no owner, the annotation holds the value: nothing more, however often it is seen.
    const annotations = { [UPGRADE_PATHS_ANNOTATION]: JSON.stringify(DEMO_PATHS) };
    await deliver(controller, demo({ resourceVersion: String(Number(written) + 2), annotations }));
    controller.resyncAll();
    await controller.whenIdle();
    expect(client.patches).toHaveLength(2);
  });

  it('a relist that skips the written version: the write is no longer awaited, and only a write the watch showed can be undone', async () => {
    const controller = await startController();
    await deliver(controller, demo({ resourceVersion: '10' }));
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus']);
    // The watch broke; the relist shows a later version where another writer cleared the field.
    cds().events.relisted!([demo({ resourceVersion: '900' })]);
    await controller.whenIdle();
    // Not held back for the in-flight timeout, and not taken as undone (the write was never seen).
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus', 'patchStatus']);
    const written = client.lastRevision;
    await deliver(controller, demo({ resourceVersion: written, owners: ['chaingate'], status: { servicesUpgradePaths: DEMO_PATHS } }));
    await deliver(controller, demo({ resourceVersion: String(Number(written) + 1) }));
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus', 'patchStatus', 'patch']);
  });

  it('an object that already carries the annotation (a restarted chaingate) keeps to the annotation', async () => {
    const controller = await startController();
    const stale = JSON.stringify(UNCHAINED_PATHS);
    await deliver(controller, demo({ annotations: { [UPGRADE_PATHS_ANNOTATION]: stale } }));
    expect(client.patches.map((p) => p.call)).toEqual(['patch']);
    const statusWriter = await startController({ statusWriter: 'status' });
    await deliver(statusWriter, demo({ annotations: { [UPGRADE_PATHS_ANNOTATION]: stale } }), informers.at(-2)!);
    expect(client.patches.map((p) => p.call)).toEqual(['patch', 'patchStatus']);
  });

  it('its own later writes do not count as undone: a new value while it owns the field goes to the status', async () => {
    const chains = registryOf(CHAIN);
    const controller = await startController({}, chains);
    await deliver(controller, demo({ resourceVersion: '10' }));
    await deliver(controller, demo({ resourceVersion: client.lastRevision, owners: ['chaingate'], status: { servicesUpgradePaths: DEMO_PATHS } }));
    chains.set(chainObject('app-chain', { 'app-1-0-0': ['app-1-1-0', 'app-1-2-0'], 'app-1-1-0': [], 'app-1-2-0': [] }, { namespace: 'team-a' }));
    await controller.whenIdle();
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus', 'patchStatus']);
  });
});

describe('StatusController: a write on its way is not repeated', () => {
  it('an older cached version seen before the write reaches the watch is not written again', async () => {
    const controller = await startController();
    await deliver(controller, demo({ resourceVersion: '10' }));
    expect(client.patches).toHaveLength(1);
    const written = client.lastRevision;
    // A version from before our write (or kcm's status update racing it), without our value.
    await deliver(controller, demo({ resourceVersion: '10' }));
    controller.resyncAll();
    await controller.whenIdle();
    expect(client.patches).toHaveLength(1);
    // The watch shows our write: from now on, a version without the value is a real change.
    await deliver(controller, demo({ resourceVersion: written, owners: ['chaingate'], status: { servicesUpgradePaths: DEMO_PATHS } }));
    expect(client.patches).toHaveLength(1);
    // Then another writer clears the field: chaingate leaves the field to it from now on.
    await deliver(controller, demo({ resourceVersion: String(Number(written) + 1) }));
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus', 'patch']);
  });

  it('a different value is written even while the earlier one is on its way', async () => {
    const chains = registryOf(CHAIN);
    const controller = await startController({}, chains);
    await deliver(controller, demo());
    expect(client.patches).toHaveLength(1);
    chains.set(chainObject('app-chain', { 'app-1-0-0': ['app-1-1-0', 'app-1-2-0'], 'app-1-1-0': [], 'app-1-2-0': [] }, { namespace: 'team-a' }));
    await controller.whenIdle();
    expect(client.patches).toHaveLength(2);
    expect(client.patches[1]!.body).toEqual({
      status: { servicesUpgradePaths: [{ ...DEMO_PATHS[0], availableUpgrades: [{ upgradePaths: ['app-1-1-0'] }, { upgradePaths: ['app-1-2-0'] }] }] },
    });
  });

  it('a write the watch never shows stops counting as on its way after a while', async () => {
    const controller = await startController();
    await deliver(controller, demo());
    await vi.advanceTimersByTimeAsync(29_000);
    await deliver(controller, demo());
    expect(client.patches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    await deliver(controller, demo());
    expect(client.patches).toHaveLength(2);
  });

  it('a result the watch delivered before the answer arrived leaves nothing pending', async () => {
    const controller = await startController();
    // The answer arrives only after the watch has shown the result.
    client.patchStatus = function (this: FakeClient, ...args: Parameters<FakeClient['patchStatus']>) {
      const answer = FakeClient.prototype.patchStatus.apply(this, args);
      cds().events.upsert(demo({ resourceVersion: this.lastRevision, owners: ['chaingate'], status: { servicesUpgradePaths: DEMO_PATHS } }));
      return answer;
    };
    await deliver(controller, demo());
    expect(client.patches).toHaveLength(1);
    // Someone clears the value: chaingate publishes at once, not held back as "on its way"
    // (in its annotation: the field has another writer now).
    await deliver(controller, demo({ resourceVersion: '500' }));
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus', 'patch']);
  });

  it('a result the watch delivered, and a clearing write after it, both before the answer: the field is yielded at once', async () => {
    const controller = await startController();
    // kcm's full status update lands right after ours, and the watch shows both before our
    // answer arrives: the cache is already past our version when the answer names it.
    client.patchStatus = function (this: FakeClient, ...args: Parameters<FakeClient['patchStatus']>) {
      const answer = FakeClient.prototype.patchStatus.apply(this, args);
      const ours = Number(this.lastRevision);
      cds().events.upsert(demo({ resourceVersion: String(ours), owners: ['chaingate'], status: { servicesUpgradePaths: DEMO_PATHS } }));
      cds().events.upsert(demo({ resourceVersion: String(ours + 1) }));
      return answer;
    };
    await deliver(controller, demo());
    // Not taken for a write still on its way (which would hold the object for 30 s, then write
    // the status again): the watch showed it, and then someone cleared it.
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus', 'patch']);
    await deliver(controller, demo({ resourceVersion: client.lastRevision, annotations: { [UPGRADE_PATHS_ANNOTATION]: JSON.stringify(DEMO_PATHS) } }));
    await vi.advanceTimersByTimeAsync(31_000);
    controller.resyncAll();
    await controller.whenIdle();
    expect(client.patches.map((p) => p.call)).toEqual(['patchStatus', 'patch']);
  });

  it('an object deleted and re-created is written again', async () => {
    const controller = await startController();
    await deliver(controller, demo());
    cds().events.remove(demo());
    await deliver(controller, demo({ resourceVersion: '1' }));
    expect(client.patches).toHaveLength(2);
  });
});

describe('StatusController: when it writes', () => {
  it('writes only while leading, and catches up on resyncAll when it becomes leader', async () => {
    let leader = false;
    const events = { warn: vi.fn(async () => undefined), record: vi.fn(async () => undefined) };
    const controller = await startController({ isLeader: () => leader, events: events as unknown as EventRecorder });
    await deliver(controller, demo());
    await deliver(controller, clusterDeployment([{ name: 'broken' }], { name: 'broken' }));
    expect(client.patches).toEqual([]);
    expect(events.warn).not.toHaveBeenCalled();
    leader = true;
    controller.resyncAll();
    await controller.whenIdle();
    expect(client.patches.map((p) => p.name)).toEqual(['demo']);
    expect(events.warn).toHaveBeenCalledWith(expect.objectContaining({ kind: 'ClusterDeployment', name: 'broken', namespace: 'team-a' }), 'MalformedServices', expect.any(String));
  });

  it('records an Event for a service whose chain does not exist, and NoTemplateChain only when asked', async () => {
    const events = { warn: vi.fn(async () => undefined), record: vi.fn(async () => undefined) };
    const controller = await startController({ events: events as unknown as EventRecorder }, registryOf());
    await deliver(controller, clusterDeployment([service('app', 'app-1-0-0', 'missing'), service('plain', 'plain-1-0-0')]));
    expect(events.record.mock.calls.map((call) => (call as unknown[])[2])).toEqual(['ChainNotFound']);
    const chatty = await startController({ events: events as unknown as EventRecorder, unchainedEvents: true, registry: new Registry() }, registryOf());
    await deliver(chatty, clusterDeployment([service('plain', 'plain-1-0-0')], { name: 'other' }), informers.at(-2));
    expect(events.record.mock.calls.map((call) => (call as unknown[])[2])).toEqual(['ChainNotFound', 'NoTemplateChain']);
  });

  it('recomputes exactly the objects that name a chain when that chain appears', async () => {
    const chains = registryOf();
    const registry = new Registry();
    const controller = await startController({ registry }, chains);
    await deliver(controller, demo({ status: { servicesUpgradePaths: UNCHAINED_PATHS } }));
    await deliver(controller, clusterDeployment([service('other', 'x-1', 'other-chain')], { name: 'unrelated', status: { servicesUpgradePaths: [{ name: 'other', namespace: 'default', template: 'x-1' }] } }));
    expect(client.patches).toEqual([]);
    const before = await reconciles(registry);
    chains.set(CHAIN);
    await controller.whenIdle();
    expect(await reconciles(registry)).toBe(before + 1);
    expect(client.patches.map((p) => [p.name, p.body])).toEqual([['demo', { status: { servicesUpgradePaths: DEMO_PATHS } }]]);
  });

  it('does not reconcile before the chains have been listed', async () => {
    let synced = false;
    const controller = await startController({ chainsSynced: () => synced });
    cds().events.upsert(demo());
    await vi.advanceTimersByTimeAsync(1_000);
    expect(client.patches).toEqual([]);
    synced = true;
    await vi.advanceTimersByTimeAsync(100);
    await controller.whenIdle();
    expect(client.patches).toHaveLength(1);
  });

  it('retries a failed write with backoff and logs it', async () => {
    const controller = await startController();
    client.failures.push(apiError(500, 'etcd unavailable'));
    cds().events.upsert(demo());
    await vi.advanceTimersByTimeAsync(0);
    expect(client.patches).toHaveLength(1);
    expect(log.lines.find((l) => l.message === 'status reconcile failed; will retry')?.fields).toMatchObject({ object: 'cd/team-a/demo', err: 'etcd unavailable' });
    await vi.advanceTimersByTimeAsync(200);
    await controller.whenIdle();
    expect(client.patches).toHaveLength(2);
  });

  it('forgets objects a relist no longer has', async () => {
    const chains = registryOf();
    const controller = await startController({}, chains);
    await deliver(controller, demo({ status: { servicesUpgradePaths: UNCHAINED_PATHS } }));
    cds().events.relisted!([]);
    await controller.whenIdle();
    chains.set(CHAIN);
    await controller.whenIdle();
    expect(client.patches).toEqual([]);
  });

  it('watches ClusterDeployments in each given namespace, MultiClusterServices cluster-wide', async () => {
    await startController({ namespaces: ['team-a', 'team-b'] });
    expect(informers.map((i) => `${i.options.resource.plural}:${i.options.namespace ?? '*'}`)).toEqual([
      'clusterdeployments:team-a',
      'clusterdeployments:team-b',
      'multiclusterservices:*',
    ]);
    expect(controllers[0]!.hasSynced).toBe(true);
  });
});

describe('StatusController: the write budget (--status-write-budget)', () => {
  /** demo() under another name, so that each is its own object. */
  const named = (name: string, extra: Parameters<typeof demo>[0] = {}): Json => {
    const object = demo(extra);
    (object.metadata as Json).name = name;
    return object;
  };
  const pendingWrites = async (registry: Registry) =>
    (await registry.getSingleMetric('chaingate_controller_status_writes_pending')!.get()).values[0]?.value;

  it('writes at most the budget per second; the rest wait (counted as pending) and are written in turn', async () => {
    const registry = new Registry();
    const controller = await startController({ registry, writeBudget: 2 });
    for (let i = 0; i < 5; i++) cds().events.upsert(named(`cd-${i}`));
    await vi.advanceTimersByTimeAsync(0);
    expect(client.patches.length).toBe(2);
    expect(await pendingWrites(registry)).toBe(3);
    await vi.advanceTimersByTimeAsync(500);
    expect(client.patches.length).toBe(3);
    await vi.advanceTimersByTimeAsync(1000);
    await controller.whenIdle();
    expect(client.patches.map((p) => p.name).sort()).toEqual(['cd-0', 'cd-1', 'cd-2', 'cd-3', 'cd-4']);
    expect(await pendingWrites(registry)).toBe(0);
  });

  it('reconciles that write nothing take nothing from the budget', async () => {
    const controller = await startController({ writeBudget: 1 });
    for (let i = 0; i < 20; i++) cds().events.upsert(named(`cd-${i}`, { status: { servicesUpgradePaths: DEMO_PATHS } }));
    await controller.whenIdle();
    expect(client.patches).toEqual([]);
    // The budget is still full: the next write goes at once.
    cds().events.upsert(named('fresh'));
    await vi.advanceTimersByTimeAsync(0);
    expect(client.patches.map((p) => p.name)).toEqual(['fresh']);
  });

  it('an object that changes while its write waits is written once, with the newest value', async () => {
    const controller = await startController({ writeBudget: 1 });
    cds().events.upsert(named('first'));
    cds().events.upsert(named('waits', { resourceVersion: '10' }));
    await vi.advanceTimersByTimeAsync(0);
    expect(client.patches.map((p) => p.name)).toEqual(['first']);
    // Meanwhile the object gains the value in its status by another hand... nothing to write at all.
    cds().events.upsert(named('waits', { resourceVersion: '11', status: { servicesUpgradePaths: DEMO_PATHS } }));
    await vi.advanceTimersByTimeAsync(5000);
    await controller.whenIdle();
    expect(client.patches.map((p) => p.name)).toEqual(['first']);
    // ...or changes its service: one write, of the value for the new version.
    const moved = named('waits', { resourceVersion: '12' });
    cds().events.upsert(named('third'));
    await vi.advanceTimersByTimeAsync(0);
    cds().events.upsert(moved);
    const changed = named('waits', { resourceVersion: '13' });
    ((changed.spec as Json).serviceSpec as { services: Json[] }).services[0]!.template = 'app-1-1-0';
    cds().events.upsert(changed);
    await vi.advanceTimersByTimeAsync(5000);
    await controller.whenIdle();
    const writes = client.patches.filter((p) => p.name === 'waits');
    expect(writes.length).toBe(1);
    expect((writes[0]!.body.status as Json).servicesUpgradePaths).toEqual([{ name: 'app', namespace: 'default', template: 'app-1-1-0' }]);
  });

  it('a write waiting when leadership is lost is not sent', async () => {
    let leading = true;
    const controller = await startController({ writeBudget: 1, isLeader: () => leading });
    cds().events.upsert(named('first'));
    cds().events.upsert(named('second'));
    await vi.advanceTimersByTimeAsync(0);
    leading = false;
    await vi.advanceTimersByTimeAsync(2000);
    await controller.whenIdle();
    expect(client.patches.map((p) => p.name)).toEqual(['first']);
  });

  it('stop releases the writes that wait, unsent', async () => {
    const controller = await startController({ writeBudget: 1 });
    for (let i = 0; i < 4; i++) cds().events.upsert(named(`cd-${i}`));
    await vi.advanceTimersByTimeAsync(0);
    await controller.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(client.patches.length).toBe(1);
  });
});
