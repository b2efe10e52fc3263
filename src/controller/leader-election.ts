// Lease-based leader election (coordination.k8s.io/v1), following client-go's
// leaderelection: expiry is judged by when this replica last saw the lease change, not by
// the timestamps in it, so clock skew between nodes cannot create two leaders.
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { statusCode } from '../kube/errors.ts';
import { unlessNotFound } from '../kube/not-found.ts';
import { withTimeout } from '../kube/timeouts.ts';

/** The Lease calls the elector makes (tests pass an in-memory one). */
export type LeaseApi = Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;

export interface LeaderElectionOptions {
  kc: KubeConfig;
  /** Instead of the Lease API reached through `kc`. */
  api?: LeaseApi;
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export class LeaderElector {
  private readonly api: LeaseApi;
  private readonly options: LeaderElectionOptions;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private leader = false;
  private lastRenew = 0;
  private observed = '';
  private observedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  /** The round now running: stop() waits for it, since its write may still win the lease. */
  private round: Promise<void> = Promise.resolve();
  /** A round that finished after stop() won the lease: stop() gives it back. */
  private wonWhileStopping = false;

  constructor(options: LeaderElectionOptions) {
    this.options = options;
    this.api = options.api ?? options.kc.makeApiClient(CoordinationV1Api);
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    this.stopped = false;
    this.wonWhileStopping = false;
    this.round = this.tick();
  }

  /** Stops campaigning; a leader releases the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.round;
    if (!this.leader && !this.wonWhileStopping) return;
    this.wonWhileStopping = false;
    if (this.leader) this.setLeader(false);
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity === this.options.identity) {
        lease.spec.holderIdentity = '';
        lease.spec.leaseDurationSeconds = 1;
        await this.call(this.api.replaceNamespacedLease({ name: this.options.name, namespace: this.options.namespace, body: lease }));
      }
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'could not release the leader lease');
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      const acquired = await this.tryAcquireOrRenew();
      // Stopped meanwhile: no new leadership, and stop() releases what this round won.
      if (this.stopped) {
        this.wonWhileStopping = acquired;
        return;
      }
      if (acquired) this.lastRenew = Date.now();
      if (acquired && !this.leader) this.setLeader(true);
      if (!acquired && this.leader) this.setLeader(false);
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'leader election: lease update failed');
      // Keep leading only while the last successful renewal is within the renew deadline.
      if (this.leader && Date.now() - this.lastRenew > this.renewDeadlineMs) this.setLeader(false);
    }
    if (!this.stopped) {
      this.timer = setTimeout(() => {
        this.round = this.tick();
      }, this.retryPeriodMs);
      this.timer.unref();
    }
  }

  private setLeader(leader: boolean): void {
    this.leader = leader;
    this.options.logger.info({ identity: this.options.identity, lease: `${this.options.namespace}/${this.options.name}` }, leader ? 'became leader' : 'stopped leading');
    if (leader) this.options.onStartedLeading();
    else this.options.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { identity, namespace, name } = this.options;
    // Lease times are MicroTime: a plain Date serialises with milliseconds, which the API rejects.
    const now = new V1MicroTime();
    const lease = await this.read();
    const durationSeconds = Math.ceil(this.leaseDurationMs / 1000);
    if (!lease) {
      await this.call(
        this.api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
          },
        }),
      );
      return true;
    }
    const spec = (lease.spec ??= {});
    // The resourceVersion changes with every write, so every renewal counts as one even when
    // its renewTime reads the same (its string form has whole seconds only).
    const record = `${spec.holderIdentity ?? ''}|${lease.metadata?.resourceVersion ?? ''}|${String(spec.renewTime ?? '')}`;
    if (record !== this.observed) {
      this.observed = record;
      this.observedAt = Date.now();
    }
    const holder = spec.holderIdentity ?? '';
    const leaseMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (holder !== identity && holder !== '' && Date.now() < this.observedAt + leaseMs) return false;
    if (holder !== identity) {
      spec.acquireTime = now;
      spec.leaseTransitions = (spec.leaseTransitions ?? 0) + 1;
    }
    spec.holderIdentity = identity;
    spec.leaseDurationSeconds = durationSeconds;
    spec.renewTime = now;
    // The resourceVersion read above makes this a compare-and-swap: two candidates cannot both win.
    try {
      await this.call(this.api.replaceNamespacedLease({ name, namespace, body: lease }));
    } catch (err) {
      if (statusCode(err) === 409) return false;
      throw err;
    }
    return true;
  }

  private async read(): Promise<V1Lease | undefined> {
    return unlessNotFound(this.call(this.api.readNamespacedLease({ name: this.options.name, namespace: this.options.namespace })));
  }

  private call<T>(promise: Promise<T>): Promise<T> {
    return withTimeout(promise, Math.min(this.renewDeadlineMs, 5_000), 'lease request');
  }
}
