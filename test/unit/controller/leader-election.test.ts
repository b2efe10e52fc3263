// LeaderElector against an in-memory Lease API that behaves like the API server's: 404 for
// a missing lease, 409 when a create finds one or a replace carries a stale resourceVersion.
// Other replicas are played by the test writing the stored lease directly. The clock is
// vitest's fake one, so lease expiry and renew deadlines are exact.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { LeaderElector, type LeaseApi, type LeaderElectionOptions } from '../../../src/controller/leader-election.ts';
import { apiError, deferred, memoryLogger } from './fakes.ts';

type Method = 'read' | 'create' | 'replace';

class FakeLeaseApi implements LeaseApi {
  lease: V1Lease | undefined;
  private revision = 1;
  readonly calls: Method[] = [];
  /** What the next call of a method does instead of (or before) its normal work. */
  private readonly next: Array<{ method: Method; effect: () => Promise<void> }> = [];

  /** The next call of `method` fails with `err`. */
  failNext(method: Method, err: Error): void {
    this.next.push({ method, effect: () => Promise.reject(err) });
  }

  /** The next call of `method` never answers. */
  hangNext(method: Method): void {
    this.next.push({ method, effect: () => new Promise<void>(() => undefined) });
  }

  /** The next call of `method` waits for the returned release before doing its work. */
  holdNext(method: Method): () => void {
    const gate = deferred();
    this.next.push({ method, effect: () => gate.promise });
    return () => gate.resolve();
  }

  /** Another replica writes the lease (a holder taking it or renewing it). */
  writeAsOther(spec: NonNullable<V1Lease['spec']>): void {
    this.lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'chaingate', namespace: 'kcm-system', resourceVersion: String(++this.revision) },
      spec: { ...this.lease?.spec, ...spec },
    };
  }

  get holder(): string | undefined {
    return this.lease?.spec?.holderIdentity;
  }

  private async enter(method: Method): Promise<void> {
    this.calls.push(method);
    const index = this.next.findIndex((n) => n.method === method);
    if (index >= 0) await this.next.splice(index, 1)[0]!.effect();
  }

  async readNamespacedLease(): Promise<V1Lease> {
    await this.enter('read');
    if (!this.lease) throw apiError(404, 'not found');
    return structuredClone(this.lease);
  }

  async createNamespacedLease(param: { body: V1Lease }): Promise<V1Lease> {
    await this.enter('create');
    if (this.lease) throw apiError(409, 'already exists');
    this.lease = { ...structuredClone(param.body), metadata: { ...param.body.metadata, resourceVersion: String(++this.revision) } };
    return structuredClone(this.lease);
  }

  async replaceNamespacedLease(param: { body: V1Lease }): Promise<V1Lease> {
    await this.enter('replace');
    if (!this.lease) throw apiError(404, 'not found');
    if (param.body.metadata?.resourceVersion !== this.lease.metadata?.resourceVersion) throw apiError(409, 'the object has been modified');
    this.lease = { ...structuredClone(param.body), metadata: { ...param.body.metadata, resourceVersion: String(++this.revision) } };
    return structuredClone(this.lease);
  }
}

// The defaults, spelled out so the timings below read against them.
const LEASE_MS = 15_000;
const RENEW_DEADLINE_MS = 10_000;
const RETRY_MS = 2_000;

let api: FakeLeaseApi;
let log: ReturnType<typeof memoryLogger>;
const electors: LeaderElector[] = [];

function elector(identity = 'me', overrides: Partial<LeaderElectionOptions> = {}) {
  const started = vi.fn();
  const stopped = vi.fn();
  const e = new LeaderElector({
    kc: new KubeConfig(), // never used: the fake API stands in for it
    api,
    namespace: 'kcm-system',
    name: 'chaingate',
    identity,
    logger: log.logger,
    leaseDurationMs: LEASE_MS,
    renewDeadlineMs: RENEW_DEADLINE_MS,
    retryPeriodMs: RETRY_MS,
    onStartedLeading: started,
    onStoppedLeading: stopped,
    ...overrides,
  });
  electors.push(e);
  return { e, started, stopped };
}

/** Lets pending promise chains run without moving the clock. */
const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers();
  api = new FakeLeaseApi();
  log = memoryLogger();
});

afterEach(async () => {
  for (const e of electors.splice(0)) await e.stop();
  vi.useRealTimers();
});

describe('LeaderElector', () => {
  it('creates and holds a lease that does not exist yet, renewing it every retry period', async () => {
    const { e, started, stopped } = elector();
    e.start();
    await settle();
    expect(e.isLeader).toBe(true);
    expect(started).toHaveBeenCalledTimes(1);
    expect(api.lease?.spec).toMatchObject({ holderIdentity: 'me', leaseDurationSeconds: LEASE_MS / 1000, leaseTransitions: 0 });
    const version = api.lease?.metadata?.resourceVersion;
    await vi.advanceTimersByTimeAsync(RETRY_MS);
    expect(api.lease?.metadata?.resourceVersion).not.toBe(version); // renewed
    expect(api.holder).toBe('me');
    await vi.advanceTimersByTimeAsync(10 * RETRY_MS);
    expect(started).toHaveBeenCalledTimes(1);
    expect(stopped).not.toHaveBeenCalled();
  });

  it('takes a released lease (no holder) at once, counting the transition', async () => {
    api.writeAsOther({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 3, renewTime: new Date() });
    const { e } = elector();
    e.start();
    await settle();
    expect(e.isLeader).toBe(true);
    expect(api.lease?.spec).toMatchObject({ holderIdentity: 'me', leaseTransitions: 4 });
  });

  it('does not take a lease another replica holds and renews', async () => {
    api.writeAsOther({ holderIdentity: 'other', leaseDurationSeconds: LEASE_MS / 1000, renewTime: new Date() });
    const { e, started } = elector();
    e.start();
    for (let t = 0; t < 4 * LEASE_MS; t += RETRY_MS) {
      await vi.advanceTimersByTimeAsync(RETRY_MS);
      api.writeAsOther({ renewTime: new Date(Date.now()) });
    }
    expect(e.isLeader).toBe(false);
    expect(started).not.toHaveBeenCalled();
    expect(api.holder).toBe('other');
    expect(api.calls).not.toContain('replace');
  });

  it('counts a renewal that leaves renewTime reading the same (whole seconds) as a renewal', async () => {
    const renewTime = new Date();
    api.writeAsOther({ holderIdentity: 'other', leaseDurationSeconds: LEASE_MS / 1000, renewTime });
    const { e } = elector();
    e.start();
    for (let t = 0; t < 4 * LEASE_MS; t += RETRY_MS) {
      await vi.advanceTimersByTimeAsync(RETRY_MS);
      api.writeAsOther({ renewTime }); // a new resourceVersion, the same renewTime
    }
    expect(e.isLeader).toBe(false);
  });

  it('takes over a lease not renewed for a lease duration of its own observation', async () => {
    api.writeAsOther({ holderIdentity: 'other', leaseDurationSeconds: LEASE_MS / 1000, leaseTransitions: 0, renewTime: new Date() });
    const { e, started } = elector();
    e.start();
    // Rounds run at every retry period; the last one before expiry still finds it held.
    await vi.advanceTimersByTimeAsync(LEASE_MS - 1);
    expect(e.isLeader).toBe(false);
    await vi.advanceTimersByTimeAsync(RETRY_MS);
    expect(e.isLeader).toBe(true);
    expect(started).toHaveBeenCalledTimes(1);
    expect(api.lease?.spec).toMatchObject({ holderIdentity: 'me', leaseTransitions: 1 });
  });

  describe('clock skew: expiry is judged by when this replica saw the lease change, not by renewTime', () => {
    it('a renewTime far in the future does not keep a dead holder in office', async () => {
      api.writeAsOther({ holderIdentity: 'other', leaseDurationSeconds: LEASE_MS / 1000, renewTime: new Date('2999-01-01T00:00:00Z') });
      const { e } = elector();
      e.start();
      await vi.advanceTimersByTimeAsync(LEASE_MS - 1);
      expect(e.isLeader).toBe(false);
      await vi.advanceTimersByTimeAsync(RETRY_MS);
      expect(e.isLeader).toBe(true);
    });

    it('a renewTime far in the past is not taken as expired while it keeps changing', async () => {
      const behind = 3_600_000; // the other node's clock runs an hour late
      api.writeAsOther({ holderIdentity: 'other', leaseDurationSeconds: LEASE_MS / 1000, renewTime: new Date(Date.now() - behind) });
      const { e } = elector();
      e.start();
      for (let t = 0; t < 3 * LEASE_MS; t += RETRY_MS) {
        await vi.advanceTimersByTimeAsync(RETRY_MS);
        api.writeAsOther({ renewTime: new Date(Date.now() - behind) });
      }
      expect(e.isLeader).toBe(false);
      expect(api.holder).toBe('other');
    });

    it('a renewTime already older than the lease duration still waits a full lease duration', async () => {
      api.writeAsOther({ holderIdentity: 'other', leaseDurationSeconds: LEASE_MS / 1000, renewTime: new Date(Date.now() - 10 * LEASE_MS) });
      const { e } = elector();
      e.start();
      await settle();
      expect(e.isLeader).toBe(false);
      await vi.advanceTimersByTimeAsync(LEASE_MS - 1);
      expect(e.isLeader).toBe(false);
      await vi.advanceTimersByTimeAsync(RETRY_MS);
      expect(e.isLeader).toBe(true);
    });
  });

  it('stops leading when another replica has taken the lease', async () => {
    const { e, started, stopped } = elector();
    e.start();
    await settle();
    expect(e.isLeader).toBe(true);
    api.writeAsOther({ holderIdentity: 'other', renewTime: new Date() });
    await vi.advanceTimersByTimeAsync(RETRY_MS);
    expect(e.isLeader).toBe(false);
    expect(stopped).toHaveBeenCalledTimes(1);
    expect(api.holder).toBe('other');
    expect(started).toHaveBeenCalledTimes(1);
  });

  it('keeps leading through failed renewals until the renew deadline, then stops; leads again once the API answers', async () => {
    const { e, stopped, started } = elector();
    e.start();
    await settle();
    expect(e.isLeader).toBe(true);
    for (let i = 0; i < 20; i++) api.failNext('read', apiError(500, 'etcd unavailable'));
    await vi.advanceTimersByTimeAsync(RENEW_DEADLINE_MS);
    expect(e.isLeader).toBe(true); // the last renewal is exactly at the deadline, not past it
    expect(stopped).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(RETRY_MS);
    expect(e.isLeader).toBe(false);
    expect(stopped).toHaveBeenCalledTimes(1);
    expect(log.lines.filter((l) => l.message === 'leader election: lease update failed').length).toBeGreaterThan(0);
    // The failures run out: the lease is still ours, and the next round renews it.
    await vi.advanceTimersByTimeAsync(20 * RETRY_MS);
    expect(e.isLeader).toBe(true);
    expect(started).toHaveBeenCalledTimes(2);
  });

  it('gives up on a request that does not answer and tries again on the next round', async () => {
    api.hangNext('read');
    const { e } = elector();
    e.start();
    const callTimeout = Math.min(RENEW_DEADLINE_MS, 5_000);
    await vi.advanceTimersByTimeAsync(callTimeout - 1);
    expect(log.lines.some((l) => l.level === 'warn')).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(log.lines.find((l) => l.message === 'leader election: lease update failed')?.fields.err).toMatch(/took longer than/);
    expect(e.isLeader).toBe(false);
    await vi.advanceTimersByTimeAsync(RETRY_MS);
    expect(e.isLeader).toBe(true);
  });

  it('loses a create race (409) without crashing, and then waits for the winner like any holder', async () => {
    const { e } = elector();
    // Another candidate creates the lease between our read (404) and our create.
    const release = api.holdNext('create');
    e.start();
    await settle();
    api.writeAsOther({ holderIdentity: 'other', leaseDurationSeconds: LEASE_MS / 1000, renewTime: new Date() });
    release();
    await settle();
    expect(e.isLeader).toBe(false);
    expect(api.holder).toBe('other');
    await vi.advanceTimersByTimeAsync(RETRY_MS);
    expect(e.isLeader).toBe(false);
    expect(api.calls.filter((c) => c === 'read').length).toBe(2); // retried
  });

  it('a 409 on taking a free lease is retried on the next round', async () => {
    api.writeAsOther({ holderIdentity: '', leaseDurationSeconds: 1, renewTime: new Date() });
    api.failNext('replace', apiError(409, 'the object has been modified'));
    const { e } = elector();
    e.start();
    await settle();
    expect(e.isLeader).toBe(false);
    await vi.advanceTimersByTimeAsync(RETRY_MS);
    expect(e.isLeader).toBe(true);
  });

  it('a 409 on renewal steps down at once (it may mean another holder) and the next round takes the lease back', async () => {
    const { e, started, stopped } = elector();
    e.start();
    await settle();
    api.failNext('replace', apiError(409, 'the object has been modified'));
    await vi.advanceTimersByTimeAsync(RETRY_MS);
    expect(e.isLeader).toBe(false);
    expect(stopped).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(RETRY_MS);
    expect(e.isLeader).toBe(true);
    expect(started).toHaveBeenCalledTimes(2);
  });

  it('of two candidates on one lease only one leads', async () => {
    const a = elector('a');
    const b = elector('b');
    a.e.start();
    b.e.start();
    for (let i = 0; i < 20; i++) {
      await vi.advanceTimersByTimeAsync(RETRY_MS / 2);
      expect([a.e.isLeader, b.e.isLeader].filter(Boolean).length).toBeLessThanOrEqual(1);
    }
    expect(a.e.isLeader || b.e.isLeader).toBe(true);
  });

  it('stop() releases a held lease, so that another replica takes it at once', async () => {
    const { e, stopped } = elector('a');
    e.start();
    await settle();
    const other = elector('b');
    other.e.start();
    await settle();
    expect(other.e.isLeader).toBe(false);
    await e.stop();
    expect(e.isLeader).toBe(false);
    expect(stopped).toHaveBeenCalledTimes(1);
    expect(api.lease?.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
    await vi.advanceTimersByTimeAsync(RETRY_MS);
    expect(other.e.isLeader).toBe(true);
    // The stopped one campaigns no more.
    const calls = api.calls.length;
    await other.e.stop();
    await vi.advanceTimersByTimeAsync(10 * RETRY_MS);
    expect(api.calls.length).toBe(calls + 2); // b's release: one read, one replace
  });

  it('stop() of a replica that does not lead writes nothing', async () => {
    api.writeAsOther({ holderIdentity: 'other', leaseDurationSeconds: LEASE_MS / 1000, renewTime: new Date() });
    const { e, stopped } = elector();
    e.start();
    await settle();
    const calls = api.calls.length;
    await e.stop();
    expect(api.calls.length).toBe(calls);
    expect(stopped).not.toHaveBeenCalled();
    expect(api.holder).toBe('other');
  });

  it('a round in flight when stop() is called does not start leading afterwards', async () => {
    const { e, started } = elector();
    const release = api.holdNext('read');
    e.start();
    await settle();
    const stopping = e.stop();
    release();
    await settle();
    await stopping;
    expect(e.isLeader).toBe(false);
    expect(started).not.toHaveBeenCalled();
    // Whatever that round won is given back.
    expect(api.holder ?? '').toBe('');
  });
});
