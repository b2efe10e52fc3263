// The watch/cache layer under faults: ResilientInformer (our wrapper around client-node's
// ListWatch) and startChainCache's event handling, against a fake API server on 127.0.0.1
// that fails lists, sends 410 Gone, cuts connections, stalls, and sends garbage.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { CHAINS, KcmClient } from '../../src/kube/client.ts';
import { stripBookkeeping } from '../../src/kube/bookkeeping.ts';
import { ResilientInformer, type InformerEvents } from '../../src/kube/resilient-informer.ts';
import { startChainCache, type ChainCache } from '../../src/kube/chain-cache.ts';
import { DEFAULT_SERVE_CONFIG } from '../../src/config/serve-config.ts';
import { Metrics } from '../../src/runtime/metrics.ts';
import { createAdmissionHandler } from '../../src/webhook/handler.ts';
import { DEFAULT_DECISION_OPTIONS } from '../../src/rules/types.ts';
import { FakeApiServer, GROUP, chain } from '../support/fake-apiserver.ts';

type Json = Record<string, unknown>;

// ---------------------------------------------------------------------------------------
// Helpers

function memoryLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

const eventually = (check: () => boolean, what: string, timeout = 5_000): Promise<void> =>
  vi.waitFor(() => {
    if (!check()) throw new Error(`still waiting for: ${what}`);
  }, { timeout, interval: 10 });

/** Records what an informer hands to its consumer, in order. */
function recorder(): InformerEvents & { log: string[]; names: Set<string> } {
  const names = new Set<string>();
  const log: string[] = [];
  const nameOf = (o: Json) => `${(o.metadata as Json)?.namespace}/${(o.metadata as Json)?.name}`;
  return {
    log,
    names,
    upsert(o) {
      log.push(`upsert ${nameOf(o)}`);
      names.add(nameOf(o));
    },
    remove(o) {
      log.push(`remove ${nameOf(o)}`);
      names.delete(nameOf(o));
    },
    relisted(items) {
      log.push(`relisted ${items.length}`);
      names.clear();
      for (const o of items) names.add(nameOf(o));
    },
  };
}

/** Unhandled rejections and uncaught exceptions seen while a test runs. */
function trapCrashes(): { errors: unknown[]; release: () => void } {
  const errors: unknown[] = [];
  const onRejection = (reason: unknown) => errors.push(reason);
  const onException = (err: unknown) => errors.push(err);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    errors,
    release: () => {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}

const ADMISSION_OPTIONS = DEFAULT_DECISION_OPTIONS;

function cdCreate(chainName: string, template = 'a-1', namespace = 'team-a') {
  const object = {
    apiVersion: 'k0rdent.mirantis.com/v1beta1',
    kind: 'ClusterDeployment',
    metadata: { name: 'demo', namespace },
    spec: { serviceSpec: { services: [{ name: 'svc', namespace: 'svc', template, templateChain: chainName }] } },
  };
  return { operation: 'CREATE' as const, namespace, name: 'demo', object, oldObject: undefined };
}

let fake: FakeApiServer;
let crashes: ReturnType<typeof trapCrashes>;
const cleanups: Array<() => Promise<void> | void> = [];

beforeEach(async () => {
  crashes = trapCrashes();
  fake = await new FakeApiServer().start();
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await fake.close();
  crashes.release();
  expect(crashes.errors).toEqual([]);
});

function informerFor(events: InformerEvents, options: { resyncMs?: number; initialMs?: number; maxMs?: number; namespace?: string; cacheMetadataOnly?: boolean } = {}) {
  const { logger, lines } = memoryLogger();
  let restarts = 0;
  const informer = new ResilientInformer({
    client: new KcmClient(fake.kubeConfig(), 'v1beta1'),
    resource: CHAINS,
    ...(options.namespace ? { namespace: options.namespace } : {}),
    events,
    logger,
    resyncMs: options.resyncMs ?? 60_000,
    backoff: { initialMs: options.initialMs ?? 50, maxMs: options.maxMs ?? 1_000 },
    onRestart: () => restarts++,
    ...(options.cacheMetadataOnly ? { cacheMetadataOnly: true } : {}),
  });
  cleanups.push(() => informer.stop());
  return { informer, lines, restarts: () => restarts };
}

async function chainCache(options: { resyncMs?: number; namespaces?: string[] } = {}): Promise<{ cache: ChainCache; lines: Array<Record<string, unknown>>; metrics: Metrics }> {
  const { logger, lines } = memoryLogger();
  const kubeconfig = fake.kubeconfigFile();
  cleanups.push(() => kubeconfig.remove());
  const metrics = new Metrics({ defaultMetrics: false });
  const cache = await startChainCache({
    config: { ...DEFAULT_SERVE_CONFIG, kubeconfig: kubeconfig.path, namespaces: options.namespaces ?? [] },
    logger,
    metrics,
    resyncMs: options.resyncMs ?? 60_000,
  });
  cleanups.push(() => cache.stop());
  return { cache, lines, metrics };
}

const synced = (cache: ChainCache) => cache.readiness.every((check) => check.ready());
const keys = (cache: ChainCache) => cache.registry.list().map((c) => c.key).sort();

// ---------------------------------------------------------------------------------------
// (a) a failing list

describe('ResilientInformer', () => {
  it('restarts a failing initial list with growing backoff and only then reports synced', async () => {
    fake.store(chain('team-a', 'one', { 'a-1': ['a-2'], 'a-2': [] }));
    fake.failLists = { count: 2, status: 500 };
    const events = recorder();
    const { informer, lines, restarts } = informerFor(events, { initialMs: 100 });
    expect(informer.hasSynced).toBe(false);
    await informer.start();
    expect(informer.hasSynced).toBe(false);
    await eventually(() => informer.hasSynced, 'synced after two failed lists');
    expect(restarts()).toBe(2);
    const lists = fake.lists();
    expect(lists).toHaveLength(3);
    const gaps = [lists[1]!.at - lists[0]!.at, lists[2]!.at - lists[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(90);
    expect(gaps[1]).toBeGreaterThanOrEqual(190); // doubled
    expect(lines.filter((l) => l.msg === 'watch failed; restarting').map((l) => l.retryInMs)).toEqual([100, 200]);
    expect(events.names).toEqual(new Set(['team-a/one']));

    // Then the watch runs: a new chain arrives as an event.
    await eventually(() => fake.watches.size === 1, 'watch open');
    fake.store(chain('team-a', 'two', { 'b-1': [] }));
    await eventually(() => events.names.has('team-a/two'), 'watch event applied');
  });

  it('resets the backoff once the watch is re-established, so the next outage is retried quickly', async () => {
    fake.failLists = { count: 4, status: 503 };
    const events = recorder();
    const { informer, lines } = informerFor(events, { initialMs: 50, maxMs: 5_000 });
    await informer.start();
    await eventually(() => informer.hasSynced, 'synced');
    await eventually(() => fake.watches.size === 1, 'watch open');
    // A second outage: the watch is refused once, and the retry must start from the initial delay again.
    fake.failWatches = { count: 1, status: 500 };
    [...fake.watches][0]!.cut();
    await eventually(() => lines.filter((l) => l.msg === 'watch failed; restarting').length >= 5, 'fifth restart');
    const delays = lines.filter((l) => l.msg === 'watch failed; restarting').map((l) => l.retryInMs);
    expect(delays.slice(0, 4)).toEqual([50, 100, 200, 400]);
    expect(delays[4]).toBe(50);
  });
  it('does not resurrect an object deleted by a watch event while a relist is in flight', async () => {
    fake.store(chain('team-a', 'one', { 'a-1': [] }));
    fake.store(chain('team-a', 'doomed', { 'b-1': [] }));
    const events = recorder();
    const { informer } = informerFor(events, { resyncMs: 600_000 });
    await informer.start();
    await eventually(() => informer.hasSynced && fake.watches.size === 1, 'synced and watching');
    let released = false;
    fake.onList = (request) => {
      fake.onList = undefined;
      // The list is answered with what was true when it was read; the chain is deleted (and
      // any open watch told so) before that answer arrives.
      const stale = fake.list(); // items and resourceVersion of this moment
      setTimeout(() => {
        fake.remove('team-a', 'doomed');
        setTimeout(() => {
          request.reply(stale);
          released = true;
        }, 100);
      }, 50);
      return true;
    };
    await informer.relist();
    expect(released).toBe(true);
    // The deletion is newer than the list: it must win, at the latest once the watch resumes
    // from the list's version (a real API server replays what happened since).
    await eventually(() => !events.names.has('team-a/doomed'), 'deleted chain stays deleted', 2_000);
    await sleep(300);
    expect([...events.names]).toEqual(['team-a/one']);
  });
});

describe('ResilientInformer lists', () => {
  const many = (count: number) => {
    for (let i = 0; i < count; i++) fake.store(chain(`ns-${i % 3}`, `c-${i}`, { 'a-1': [] }));
  };

  it('lists in pages of 500 from one snapshot, then watches from it', async () => {
    many(1_234);
    let pages = 0;
    fake.onList = (request) => {
      // A chain created after the first page is not in this list's snapshot: the watch brings it.
      if (++pages === 2) fake.store(chain('ns-0', 'late', { 'a-1': [] }));
      request.reply();
      return true;
    };
    const events = recorder();
    const { informer } = informerFor(events);
    await informer.start();
    await eventually(() => informer.hasSynced, 'synced');
    const lists = fake.lists();
    expect(lists.map((l) => l.query.get('limit'))).toEqual(['500', '500', '500']);
    expect(lists[0]!.query.has('continue')).toBe(false);
    expect(lists.slice(1).every((l) => (l.query.get('continue') ?? '') !== '')).toBe(true);
    expect(events.log).toContain('relisted 1234');
    expect(events.names.has('ns-0/late')).toBe(false);
    await eventually(() => events.names.has('ns-0/late'), 'the chain created during the list arrives as a watch event');
    expect(events.names.size).toBe(1_235);
  });

  it('hands each listed item over as it arrives, before the list is complete, and survives a handler that throws', async () => {
    many(1_234);
    const events = recorder();
    const streamed: string[] = [];
    let relistedAfter = -1;
    events.listedItem = (o) => {
      streamed.push(String((o.metadata as Json).name));
      if (streamed.length === 7) throw new Error('handler bug');
    };
    const relisted = events.relisted!;
    events.relisted = (items) => {
      relistedAfter = streamed.length;
      relisted(items);
    };
    const { informer, lines } = informerFor(events);
    await informer.start();
    await eventually(() => informer.hasSynced, 'synced');
    expect(streamed).toHaveLength(1_234);
    expect(new Set(streamed).size).toBe(1_234);
    expect(relistedAfter).toBe(1_234);
    expect(events.log).toContain('relisted 1234');
    expect(lines.filter((l) => l.msg === 'listed item handler failed')).toHaveLength(1);
  });

  it('lists again unpaged when the snapshot expires between pages', async () => {
    many(1_100);
    fake.expireContinueTokens = true;
    const events = recorder();
    const { informer, restarts } = informerFor(events);
    await informer.start();
    await eventually(() => informer.hasSynced, 'synced');
    const lists = fake.lists();
    expect(lists.map((l) => [l.query.get('limit'), l.query.has('continue')])).toEqual([['500', false], ['500', true], [null, false]]);
    expect(events.names.size).toBe(1_100);
    expect(restarts()).toBe(0);
  });

  it('hands on objects without managedFields and the last-applied annotation, listed or watched', async () => {
    const bookkept = (name: string) => {
      const object = chain('team-a', name, { 'a-1': [] });
      const metadata = object.metadata as Json;
      metadata.managedFields = [{ manager: 'kubectl', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }];
      metadata.annotations = { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(object), team: 'a' };
      return object;
    };
    fake.store(bookkept('listed'));
    const seen: Json[] = [];
    const { informer } = informerFor({ upsert: (o) => seen.push(o), remove: () => {}, relisted: (items) => seen.push(...items) });
    await informer.start();
    await eventually(() => informer.hasSynced && fake.watches.size === 1, 'synced and watching');
    fake.store(bookkept('watched'));
    await eventually(() => seen.some((o) => (o.metadata as Json).name === 'watched'), 'watch event');
    for (const object of seen) {
      const metadata = object.metadata as Json;
      expect(metadata.managedFields).toBeUndefined();
      expect(metadata.annotations).toEqual({ team: 'a' });
      expect(object.spec).toEqual({ supportedTemplates: [{ name: 'a-1', availableUpgrades: [] }] });
    }
  });

  it('keeps only metadata in client-node\'s cache when the store keeps its own copy, after the store read it whole', async () => {
    fake.store(chain('team-a', 'listed', { 'a-1': ['a-2'], 'a-2': [] }));
    fake.store(chain('team-a', 'dropped', { 'b-1': [] }));
    /** What client-node's ListWatch holds: the objects its relist diff and delete events read. */
    const cachedBy = (informer: ResilientInformer) => (informer as unknown as { current: { list(): Json[] } }).current.list();
    const cachedSpecs = (informer: ResilientInformer) => cachedBy(informer).map((o) => [(o.metadata as Json).name, o.spec, o.status]);
    const upserted: Array<[unknown, unknown]> = [];
    const removed: string[] = [];
    const events: InformerEvents = {
      upsert: (o) => upserted.push([(o.metadata as Json).name, structuredClone(o.spec)]),
      remove: (o) => removed.push(`${(o.metadata as Json).namespace}/${(o.metadata as Json).name}`),
      relisted: () => {},
    };
    const { informer } = informerFor(events, { cacheMetadataOnly: true, resyncMs: 600_000 });
    await informer.start();
    await eventually(() => informer.hasSynced && fake.watches.size === 1 && cachedBy(informer).length === 2, 'synced, cached and watching');
    expect(upserted).toContainEqual(['listed', { supportedTemplates: [{ name: 'a-1', availableUpgrades: [{ name: 'a-2' }] }, { name: 'a-2', availableUpgrades: [] }] }]);
    expect(cachedSpecs(informer).sort()).toEqual([['dropped', undefined, undefined], ['listed', undefined, undefined]]);
    for (const o of cachedBy(informer)) expect(Object.keys(o).sort()).toEqual(['apiVersion', 'kind', 'metadata']);

    // A watched change reaches the store whole, and is cached slim as well.
    fake.store(chain('team-a', 'listed', { 'a-1': [] }));
    await eventually(() => upserted.length === 3, 'the MODIFIED event');
    expect(upserted[2]).toEqual(['listed', { supportedTemplates: [{ name: 'a-1', availableUpgrades: [] }] }]);
    expect(cachedSpecs(informer).sort()).toEqual([['dropped', undefined, undefined], ['listed', undefined, undefined]]);

    // Deletes, by a watch event and by a relist that no longer holds an object, still name it.
    fake.remove('team-a', 'dropped');
    await eventually(() => removed.length === 1, 'the DELETED event');
    fake.store(chain('team-b', 'gone', { 'c-1': [] }));
    await eventually(() => cachedBy(informer).length === 2, 'the new chain cached');
    // client-node's own relist after 410 Gone diffs the list against its (slim) cache.
    fake.remove('team-b', 'gone', false); // the DELETED event is lost (compacted away)
    const watch = [...fake.watches][0]!;
    watch.event('ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' });
    watch.end();
    await eventually(() => removed.length === 2, 'the delete found by the relist');
    expect(removed).toEqual(['team-a/dropped', 'team-b/gone']);
    // The same informer without the option caches whole objects (the control).
    const whole = informerFor({ upsert: () => {}, remove: () => {} }, { resyncMs: 600_000 });
    await whole.informer.start();
    await eventually(() => whole.informer.hasSynced && cachedBy(whole.informer).length === 1, 'the control synced');
    expect(cachedBy(whole.informer).every((o) => o.spec !== undefined)).toBe(true);
  });

  it('stripBookkeeping leaves objects without bookkeeping as they are, and never mutates', () => {
    const plain = { metadata: { name: 'n', annotations: { a: 'b' } }, spec: {} };
    expect(stripBookkeeping(plain)).toBe(plain);
    const kept = { metadata: { name: 'n', managedFields: [{}], annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } }, spec: { x: 1 } };
    const before = structuredClone(kept);
    const stripped = stripBookkeeping(kept);
    expect(stripped).toEqual({ metadata: { name: 'n', annotations: {} }, spec: { x: 1 } });
    expect(stripped.spec).toBe(kept.spec);
    expect(kept).toEqual(before);
    // Hostile shapes are passed through, not thrown on.
    expect(stripBookkeeping({ metadata: { name: 'n', annotations: 'not a map' } } as never)).toEqual({ metadata: { name: 'n', annotations: 'not a map' } });
  });
});

// ---------------------------------------------------------------------------------------
// (b)-(e) through startChainCache: what the webhook reads

describe('startChainCache under watch faults', () => {
  it('relists after a 410 Gone ERROR event, dropping a chain deleted meanwhile', async () => {
    fake.store(chain('team-a', 'keep', { 'a-1': [] }));
    fake.store(chain('team-a', 'gone', { 'b-1': [] }));
    const { cache } = await chainCache();
    await eventually(() => synced(cache) && fake.watches.size === 1, 'synced and watching');
    expect(keys(cache)).toEqual(['team-a/gone', 'team-a/keep']);
    const listsBefore = fake.lists().length;

    fake.remove('team-a', 'gone', false); // the DELETED event is lost (compacted away)
    const watch = [...fake.watches][0]!;
    watch.event('ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' });
    watch.end();

    await eventually(() => !cache.registry.has('team-a', 'gone'), 'deleted chain dropped');
    expect(fake.lists().length).toBeGreaterThan(listsBefore);
    expect(keys(cache)).toEqual(['team-a/keep']);
    // And the new watch starts from the relisted resourceVersion, not the expired one.
    await eventually(() => fake.watches.size === 1, 'watch reopened');
    expect(fake.watchRequests().at(-1)!.query.get('resourceVersion')).toBe(fake.resourceVersion);
  });

  it('reconnects after the watch connection is cut mid-event, and applies later events', async () => {
    fake.store(chain('team-a', 'one', { 'a-1': [] }));
    const { cache, lines, metrics } = await chainCache();
    await eventually(() => synced(cache) && fake.watches.size === 1, 'synced and watching');
    const watch = [...fake.watches][0]!;
    watch.res.write('{"type":"ADDED","object":{"metadata":{"name":"half'); // no newline: half an event
    await sleep(20);
    watch.cut();

    await eventually(() => fake.watchRequests().length >= 2 && fake.watches.size === 1, 'watch reconnected', 10_000);
    fake.store(chain('team-a', 'two', { 'b-1': ['b-2'], 'b-2': [] }));
    await eventually(() => cache.registry.has('team-a', 'two'), 'event after reconnect applied');
    expect(cache.registry.has('team-a', 'half')).toBe(false);
    expect(cache.registry.get('team-a', 'two')!.valid).toBe(true);
    const restarts = (await metrics.registry.getSingleMetric('chaingate_watch_restarts_total')!.get()).values[0]!.value;
    expect(restarts).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => l.msg === 'watch failed; restarting')).toBe(true);
  });

  it('survives hostile watch events and records an unreadable chain as invalid', async () => {
    fake.store(chain('team-a', 'good', { 'a-1': ['a-2'], 'a-2': [] }));
    const { cache } = await chainCache();
    await eventually(() => synced(cache) && fake.watches.size === 1, 'synced and watching');
    const watch = [...fake.watches][0]!;
    const metadata = (name: string, rv: string) => ({ name, namespace: 'team-a', resourceVersion: rv });

    for (const raw of ['garbage', '{not json', '42', 'null', '"a string"', '[]', '[1,2]', '{}', '{"type":"ADDED"}', '{"type":"ADDED","object":null}', '{"type":"ADDED","object":7}']) {
      watch.line(raw);
    }
    watch.event('ADDED', { kind: 'ServiceTemplateChain' }); // no metadata
    watch.event('MODIFIED', { metadata: null, spec: {} });
    watch.event('DELETED', { metadata: 'not an object' });
    watch.event('DELETED', {});
    watch.event('ADDED', { metadata: { namespace: 'team-a' }, spec: {} }); // no name
    watch.event('ERROR', null);
    watch.event('ERROR', 'a string');
    watch.event('BOOKMARK', null);
    watch.event('SOMETHING', { metadata: metadata('weird', '500') });
    watch.event(42, { metadata: metadata('weird', '501') });
    // A chain whose spec does not match the schema at all.
    watch.event('ADDED', { apiVersion: 'k0rdent.mirantis.com/v1beta1', kind: 'ServiceTemplateChain', metadata: metadata('broken', '502'), spec: { supportedTemplates: 'a-1' } });
    // A huge but well-formed chain (about 6 MB on the wire).
    const huge = chain('team-a', 'huge', {});
    const templates = Array.from({ length: 40_000 }, (_, i) => ({ name: `huge-${i}`, availableUpgrades: i + 1 < 40_000 ? [{ name: `huge-${i + 1}` }] : [] }));
    (huge.spec as Json).supportedTemplates = templates;
    (huge.metadata as Json).resourceVersion = '503';
    (huge.metadata as Json).annotations = { padding: 'x'.repeat(4 * 1024 * 1024) };
    watch.event('ADDED', huge);
    // And a normal event afterwards: the stream is still being read.
    watch.event('ADDED', { ...chain('team-a', 'after', { 'c-1': [] }), metadata: metadata('after', '504') });

    await eventually(() => cache.registry.has('team-a', 'after'), 'event after the garbage applied', 10_000);
    expect(keys(cache)).toEqual(['team-a/after', 'team-a/broken', 'team-a/good', 'team-a/huge']);
    expect(cache.registry.get('team-a', 'good')!.valid).toBe(true);
    expect(cache.registry.get('team-a', 'huge')!.templates()).toHaveLength(40_000);
    const broken = cache.registry.get('team-a', 'broken')!;
    expect(broken.valid).toBe(false);
    expect(broken.validation.errors).toEqual(['spec.supportedTemplates must be a list']);

    const admit = createAdmissionHandler({ ...cache.handlerDependencies, options: ADMISSION_OPTIONS });
    const decision = await admit('ClusterDeployment', cdCreate('broken'));
    expect(decision.allowed).toBe(false);
    expect(decision.message).toContain('ServiceTemplateChain team-a/broken is invalid (spec.supportedTemplates must be a list)');
    expect((await admit('ClusterDeployment', cdCreate('good'))).allowed).toBe(true);
  });

  it('keeps an unreadable chain recorded as invalid across a relist', async () => {
    fake.store(chain('team-a', 'good', { 'a-1': [] }));
    fake.store({ ...chain('team-a', 'broken', {}), spec: { supportedTemplates: [{ name: 'a-1', availableUpgrades: 'a-2' }] } });
    const { cache } = await chainCache({ resyncMs: 150 });
    await eventually(() => synced(cache), 'synced');
    const changes: string[] = [];
    cache.registry.onChange((change) => changes.push(`${change.type} ${change.namespace}/${change.name}`));
    const listsBefore = fake.lists().length;
    await eventually(() => fake.lists().length >= listsBefore + 2, 'two periodic relists');
    const broken = cache.registry.get('team-a', 'broken');
    expect(broken, 'an unreadable chain must stay known (as invalid), not vanish on relist').toBeDefined();
    expect(broken!.valid).toBe(false);
    expect(broken!.validation.errors).toEqual(['spec.supportedTemplates[0].availableUpgrades must be a list']);
    // Nothing changed, so nothing was announced (the status controller recomputes on every change).
    expect(changes).toEqual([]);
    const admit = createAdmissionHandler({ ...cache.handlerDependencies, options: ADMISSION_OPTIONS });
    expect((await admit('ClusterDeployment', cdCreate('broken'))).message).toContain('ServiceTemplateChain team-a/broken is invalid');
  });

  it('relists periodically, catching up with changes a stalled watch never delivers', async () => {
    fake.store(chain('team-a', 'one', { 'a-1': [] }));
    fake.store(chain('team-a', 'two', { 'b-1': [] }));
    const { cache } = await chainCache({ resyncMs: 200 });
    await eventually(() => synced(cache) && fake.watches.size === 1, 'synced and watching');
    fake.silentWatches = true; // the watch stays open but says nothing from now on
    fake.store(chain('team-a', 'three', { 'c-1': [] }));
    fake.remove('team-a', 'one');
    await eventually(() => keys(cache).join() === 'team-a/three,team-a/two', 'registry caught up by relist');
    expect(cache.staleness()).toBeLessThan(1);
  });

  it('answers admission from the last known chains while the API server is gone', async () => {
    fake.store(chain('team-a', 'one', { 'a-1': ['a-2'], 'a-2': [] }));
    const { cache } = await chainCache();
    await eventually(() => synced(cache) && fake.watches.size === 1, 'synced and watching');
    await fake.close();
    const admit = createAdmissionHandler({ ...cache.handlerDependencies, options: ADMISSION_OPTIONS });
    expect((await admit('ClusterDeployment', cdCreate('one'))).allowed).toBe(true);
    const missing = await admit('ClusterDeployment', cdCreate('nope'));
    expect(missing.allowed).toBe(false);
    expect(missing.message).toContain('ServiceTemplateChain team-a/nope does not exist');
    expect(synced(cache)).toBe(true); // once synced, an outage does not make the webhook unready
    await sleep(1_100);
    expect(cache.staleness()).toBeGreaterThanOrEqual(1);
  });
});

describe('startChainCache start-up and live reads', () => {
  it('starts (unready) while the API server is unreachable, and syncs once it answers', async () => {
    const port = Number(new URL(fake.url).port);
    await fake.close(); // nothing listens on the kubeconfig's port any more
    const { cache, lines } = await chainCache();
    expect(synced(cache)).toBe(false);
    expect(cache.staleness()).toBe(Number.POSITIVE_INFINITY);
    expect(lines.some((l) => l.msg === 'API discovery failed; starting unready, retrying in the background')).toBe(true);
    const admit = createAdmissionHandler({ ...cache.handlerDependencies, options: ADMISSION_OPTIONS });
    expect((await admit('ClusterDeployment', cdCreate('one'))).message).toContain('ServiceTemplateChain team-a/one does not exist');

    fake = new FakeApiServer();
    fake.store(chain('team-a', 'one', { 'a-1': ['a-2'], 'a-2': [] }));
    await fake.start(port);
    await eventually(() => synced(cache) && cache.registry.has('team-a', 'one'), 'synced after the API server came up', 10_000);
    await eventually(() => lines.some((l) => l.msg === 'API discovery succeeded'), 'discovery retried', 10_000);
    expect((await admit('ClusterDeployment', cdCreate('one'))).allowed).toBe(true);
  });

  it('refuses to start when the API server does not serve the kcm group, and stops the lists it began', async () => {
    fake.servesGroup = false;
    await expect(chainCache()).rejects.toThrow('does not serve k0rdent.mirantis.com: install the kcm CRDs first');
    // Requests made before discovery answered may still be arriving; their watches are closed.
    await eventually(() => fake.watches.size === 0, 'no watch left open');
    await sleep(100);
    const count = fake.requests.length;
    await sleep(1_200); // past the informers' first restart delay (500 ms)
    expect(fake.requests.slice(count).map((r) => `${r.path} ${r.watch}`)).toEqual([]);
  });

  it('lists the chains before discovery answers', async () => {
    fake.store(chain('team-a', 'one', { 'a-1': [] }));
    let answer!: () => void;
    fake.discoveryGate = new Promise((resolve) => (answer = resolve));
    const started = chainCache();
    await eventually(() => fake.requests.some((r) => r.path.endsWith('/servicetemplatechains') && !r.watch), 'chains listed while discovery is unanswered');
    answer();
    const { cache } = await started;
    await eventually(() => synced(cache) && cache.registry.has('team-a', 'one'), 'synced');
  });

  it('lists and watches again at the version discovery prefers', async () => {
    fake.preferredVersion = 'v1';
    fake.store(chain('team-a', 'one', { 'a-1': [] }));
    const { cache, lines } = await chainCache();
    await eventually(() => synced(cache) && fake.watches.size === 1, 'synced and watching');
    const chainRequests = fake.requests.filter((r) => r.path.endsWith('/servicetemplatechains'));
    expect(chainRequests.at(-1)).toMatchObject({ path: `/apis/${GROUP}/v1/servicetemplatechains`, watch: true });
    expect(cache.client.version).toBe('v1');
    expect(lines.find((l) => l.msg === 'watching ServiceTemplateChains')).toMatchObject({ version: 'v1' });
    fake.store(chain('team-a', 'two', { 'b-1': [] }));
    await eventually(() => cache.registry.has('team-a', 'two'), 'a change seen by the watch at v1');
  });

  it('reports a chain read live on a cache miss as invalid, not missing, when it cannot be parsed', async () => {
    const { cache } = await chainCache();
    await eventually(() => synced(cache) && fake.watches.size === 1, 'synced and watching');
    fake.silentWatches = true; // the watch has not seen it yet: the webhook reads it live
    fake.store({ ...chain('team-a', 'late', {}), spec: { supportedTemplates: [{ availableUpgrades: [] }] } });
    const admit = createAdmissionHandler({ ...cache.handlerDependencies, options: ADMISSION_OPTIONS });
    const decision = await admit('ClusterDeployment', cdCreate('late'));
    expect(decision.allowed).toBe(false);
    expect(decision.message).toContain('ServiceTemplateChain team-a/late is invalid (spec.supportedTemplates[0].name is required)');
  });
});

// ---------------------------------------------------------------------------------------
// (f) stop

describe('stopping', () => {
  it('makes no further requests after stop()', async () => {
    fake.store(chain('team-a', 'one', { 'a-1': [] }));
    const events = recorder();
    const { informer } = informerFor(events, { resyncMs: 100 });
    await informer.start();
    await eventually(() => informer.hasSynced && fake.watches.size === 1, 'watching');
    await informer.stop();
    const count = fake.requests.length;
    await sleep(1_000);
    expect(fake.requests.slice(count)).toEqual([]);
    expect(fake.watches.size).toBe(0);
  });

  it('makes no further requests when stopped while waiting to restart', async () => {
    const events = recorder();
    fake.failLists = { count: 100, status: 500 };
    const { informer, restarts } = informerFor(events, { initialMs: 300 });
    await informer.start();
    await eventually(() => restarts() === 1, 'first restart scheduled');
    await informer.stop();
    const count = fake.requests.length;
    await sleep(1_000);
    expect(fake.requests.slice(count)).toEqual([]);
  });

  it('makes no further requests when stopped while client-node waits to reconnect a closed watch', async () => {
    const events = recorder();
    const { informer } = informerFor(events);
    await informer.start();
    await eventually(() => fake.watches.size === 1, 'watching');
    // The API server ends watches at its timeout; client-node reconnects at once the first
    // time, then waits 1 s before the next reconnect.
    [...fake.watches][0]!.end();
    await eventually(() => fake.watchRequests().length === 2 && fake.watches.size === 1, 'second watch');
    [...fake.watches][0]!.end();
    await sleep(100);
    await informer.stop();
    const count = fake.requests.length;
    await sleep(1_500);
    expect(fake.requests.slice(count)).toEqual([]);
    expect(fake.watches.size).toBe(0);
  });

  it('makes no further requests when stopped while a list is in flight', async () => {
    const events = recorder();
    let pending: (() => void) | undefined;
    fake.onList = (request) => {
      pending = () => request.reply();
      return true;
    };
    const { informer } = informerFor(events);
    const started = informer.start();
    await eventually(() => pending !== undefined, 'list in flight');
    await informer.stop();
    pending!();
    await started;
    const count = fake.requests.length;
    await sleep(1_000);
    expect(fake.requests.slice(count)).toEqual([]);
    expect(fake.watches.size).toBe(0);
    expect(events.log.filter((l) => l.startsWith('upsert') || l.startsWith('relisted'))).toEqual([]);
  });

  it('leaves no timers or sockets behind', async () => {
    const resources = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap' || r === 'TCPWRAP');
    const before = resources().length;
    fake.store(chain('team-a', 'one', { 'a-1': [] }));
    const { cache } = await chainCache({ resyncMs: 100 });
    await eventually(() => synced(cache) && fake.watches.size === 1, 'watching');
    await sleep(250);
    await cache.stop();
    await fake.close();
    // Idle keep-alive sockets close once the server side has gone.
    await eventually(() => resources().length <= before, `resources back to ${before}: ${resources().join(',')}`, 3_000);
  });
});
