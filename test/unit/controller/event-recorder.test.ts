// EventRecorder against an in-memory Events API that, like the API server, answers 409 to a
// second create of the same name. The name is what lets a restarted replica or a new leader
// find out that an Event was already reported.
import { beforeEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { EventRecorder, eventName, type EventApi, type InvolvedObject } from '../../../src/controller/event-recorder.ts';
import { apiError, memoryLogger } from './fakes.ts';

type Event = Parameters<EventApi['createNamespacedEvent']>[0]['body'];

class FakeEventApi implements EventApi {
  /** Stored events by namespace/name. */
  readonly events = new Map<string, Event>();
  creates = 0;
  /** Errors the next creates fail with, in order. */
  readonly failures: Error[] = [];

  async createNamespacedEvent(param: { namespace: string; body: Event }): Promise<Event> {
    this.creates++;
    const failure = this.failures.shift();
    if (failure) throw failure;
    const key = `${param.namespace}/${param.body.metadata?.name}`;
    if (this.events.has(key)) throw apiError(409, 'already exists');
    this.events.set(key, param.body);
    return param.body;
  }
}

const cd: InvolvedObject = { apiVersion: 'k0rdent.mirantis.com/v1beta1', kind: 'ClusterDeployment', name: 'demo', namespace: 'team-a', uid: 'uid-1' };
const mcs: InvolvedObject = { apiVersion: 'k0rdent.mirantis.com/v1beta1', kind: 'MultiClusterService', name: 'global', uid: 'uid-2' };

let api: FakeEventApi;
let log: ReturnType<typeof memoryLogger>;
const recorder = () => new EventRecorder(new KubeConfig(), log.logger, 'replica-1', api);

beforeEach(() => {
  api = new FakeEventApi();
  log = memoryLogger();
});

describe('eventName', () => {
  it('is the same for the same uid and reason, whatever else differs', () => {
    expect(eventName(cd, 'NoChain')).toBe(eventName({ ...cd }, 'NoChain'));
    expect(eventName(cd, 'NoChain')).toMatch(/^demo\.chaingate-[0-9a-f]{16}$/);
  });

  it('differs by reason and by uid (a re-created object is a new object)', () => {
    expect(eventName(cd, 'NoChain')).not.toBe(eventName(cd, 'MalformedServices'));
    expect(eventName(cd, 'NoChain')).not.toBe(eventName({ ...cd, uid: 'uid-other' }, 'NoChain'));
  });

  it('falls back to namespace and name without a uid', () => {
    const { uid: _uid, ...noUid } = cd;
    expect(eventName(noUid, 'NoChain')).toBe(eventName({ ...noUid }, 'NoChain'));
    expect(eventName(noUid, 'NoChain')).not.toBe(eventName({ ...noUid, namespace: 'team-b' }, 'NoChain'));
  });

  it('stays a valid object name length for the longest object names', () => {
    const long = { ...cd, name: 'x'.repeat(253) };
    expect(eventName(long, 'NoChain').length).toBeLessThanOrEqual(253);
  });
});

describe('EventRecorder', () => {
  it('creates one Event describing the object, in its namespace', async () => {
    await recorder().warn(cd, 'NoChain', 'service a names chain c, which does not exist');
    expect(api.creates).toBe(1);
    const event = api.events.get(`team-a/${eventName(cd, 'NoChain')}`);
    expect(event).toMatchObject({
      involvedObject: { kind: 'ClusterDeployment', name: 'demo', namespace: 'team-a', uid: 'uid-1' },
      reason: 'NoChain',
      type: 'Warning',
      message: 'service a names chain c, which does not exist',
      reportingInstance: 'replica-1',
      count: 1,
    });
  });

  it('puts the Events of cluster-scoped objects in default', async () => {
    await recorder().record(mcs, 'Normal', 'Published', 'ok');
    expect([...api.events.keys()]).toEqual([`default/${eventName(mcs, 'Published')}`]);
  });

  it('reports an object and reason once per replica', async () => {
    const r = recorder();
    await r.warn(cd, 'NoChain', 'first');
    await r.warn(cd, 'NoChain', 'second');
    expect(api.creates).toBe(1);
    await r.warn(cd, 'MalformedServices', 'other reason');
    expect(api.creates).toBe(2);
  });

  it('takes a 409 AlreadyExists as reported before, by another replica, and does not try again', async () => {
    await recorder().warn(cd, 'NoChain', 'from the old leader');
    const fresh = recorder(); // a restarted replica: nothing in memory
    await fresh.warn(cd, 'NoChain', 'again');
    expect(api.creates).toBe(2);
    expect(log.lines.filter((l) => l.level === 'warn')).toEqual([]);
    await fresh.warn(cd, 'NoChain', 'and again');
    expect(api.creates).toBe(2);
    expect(api.events.get(`team-a/${eventName(cd, 'NoChain')}`)?.message).toBe('from the old leader');
  });

  it('logs other errors instead of throwing, and tries again on the next report', async () => {
    const r = recorder();
    api.failures.push(apiError(500, 'etcd unavailable'));
    await expect(r.warn(cd, 'NoChain', 'lost')).resolves.toBeUndefined();
    expect(api.events.size).toBe(0);
    expect(log.lines).toEqual([
      expect.objectContaining({ level: 'warn', message: 'could not record event', fields: expect.objectContaining({ reason: 'NoChain', err: 'etcd unavailable' }) }),
    ]);
    await r.warn(cd, 'NoChain', 'retried');
    expect(api.creates).toBe(2);
    expect(api.events.get(`team-a/${eventName(cd, 'NoChain')}`)?.message).toBe('retried');
  });

  it('logs an error without an HTTP status too', async () => {
    api.failures.push(new Error('socket hang up'));
    await expect(recorder().warn(cd, 'NoChain', 'lost')).resolves.toBeUndefined();
    expect(log.lines.map((l) => l.fields.err)).toEqual(['socket hang up']);
  });

  it('cuts long messages to what an Event carries', async () => {
    await recorder().warn(cd, 'NoChain', 'm'.repeat(5_000));
    expect(api.events.get(`team-a/${eventName(cd, 'NoChain')}`)?.message).toHaveLength(1024);
  });
});

describe('EventRecorder at scale', () => {
  it('remembers 50,000 objects with the same problem: a second reconcile of the first sends nothing', async () => {
    const events = recorder();
    const objects = Array.from({ length: 50_000 }, (_, i): InvolvedObject => ({ ...cd, name: `cd-${i}`, uid: `uid-${i}` }));
    for (const o of objects) await events.warn(o, 'ChainNotFound', 'no such chain');
    expect(api.creates).toBe(50_000);
    for (const o of objects.slice(0, 1_000)) await events.warn(o, 'ChainNotFound', 'no such chain');
    // Forgetting them (as the 10,000-pair memory did) would cost a create and a 409 for each.
    expect(api.creates).toBe(50_000);
  });
});
