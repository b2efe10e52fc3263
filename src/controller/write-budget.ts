// The status controller's write budget: a token bucket that its writes (status and annotation
// patches together) wait on, so that publishing after one chain change on 50,000 objects is a
// steady trickle the API server can absorb, not a burst. Reconciles that write nothing never
// wait. The bucket is pure arithmetic over an injected clock; WriteBudget adds the waiting.
//
// Why 50 writes per second by default (--status-write-budget, set in src/config/serve-config.ts):
// - kube-apiserver admits --max-mutating-requests-inflight=200 mutating requests at once by
//   default (with API Priority and Fairness, the default since 1.20, the 200 + 400 seats are
//   shared by priority levels; a controller's service account lands in `workload-low`). A patch
//   of one status field takes a few milliseconds, so 50/s keeps about 0.5 of those 200 seats
//   busy: chaingate can never crowd out kcm, users or the other controllers.
// - client-go's own default client-side limit is 5 QPS with a burst of 10 (rest.DefaultQPS,
//   rest.DefaultBurst). kcm v1.11.4 builds its manager with controller-runtime's
//   ctrl.GetConfigOrDie(), which turns that limit off (QPS -1) and relies on APF instead, with
//   10 concurrent reconciles per controller. 50/s is ten times client-go's default: a chain
//   change on 5,000 objects is published in under two minutes, 50,000 in under 17.
// 0 means unlimited (the behaviour before the budget existed).

/** The arithmetic of a token bucket: `rate` tokens per second, at most `burst` saved up. */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  private tokens: number;
  private last: number;

  constructor(rate: number, burst: number, now: number) {
    if (!(rate > 0)) throw new RangeError('rate must be above 0');
    if (!(burst >= 1)) throw new RangeError('burst must be at least 1');
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
      this.last = now;
    }
  }

  /** Takes one token if there is one (true), else leaves the bucket as it is (false). */
  tryTake(now: number): boolean {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Milliseconds from `now` until a token is there (0 if one is there now). */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.rate);
  }
}

export interface BudgetClock {
  now(): number;
  /** Calls `callback` after `ms`; returns a function that cancels it. */
  setTimer(ms: number, callback: () => void): () => void;
}

export const SYSTEM_CLOCK: BudgetClock = {
  now: () => Date.now(),
  setTimer(ms, callback) {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/**
 * Writes wait here, first come first served, until the bucket has a token for them.
 * `perSecond` 0 is unlimited: take() resolves at once.
 */
export class WriteBudget {
  private readonly bucket: TokenBucket | undefined;
  private readonly clock: BudgetClock;
  private readonly waiters: Array<(granted: boolean) => void> = [];
  private cancelTimer: (() => void) | undefined;
  private closed = false;

  constructor(perSecond: number, options: { burst?: number; clock?: BudgetClock } = {}) {
    this.clock = options.clock ?? SYSTEM_CLOCK;
    // One second's worth saved up at most: an idle controller may write that many at once.
    this.bucket = perSecond > 0 ? new TokenBucket(perSecond, options.burst ?? Math.max(1, Math.floor(perSecond)), this.clock.now()) : undefined;
  }

  /** Writes waiting for a token now. */
  get pending(): number {
    return this.waiters.length;
  }

  get unlimited(): boolean {
    return this.bucket === undefined;
  }

  /** Resolves true when the write may go, or false if the budget was closed meanwhile (stop). */
  take(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (!this.bucket) return Promise.resolve(true);
    if (this.waiters.length === 0 && this.bucket.tryTake(this.clock.now())) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.schedule();
    });
  }

  /** Releases every waiter with false; later take() calls resolve false at once. */
  close(): void {
    this.closed = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    for (const resolve of this.waiters.splice(0)) resolve(false);
  }

  private schedule(): void {
    if (this.cancelTimer || this.waiters.length === 0 || !this.bucket) return;
    const wait = this.bucket.waitMs(this.clock.now());
    this.cancelTimer = this.clock.setTimer(wait, () => {
      this.cancelTimer = undefined;
      this.release();
    });
  }

  private release(): void {
    const bucket = this.bucket!;
    while (this.waiters.length > 0 && bucket.tryTake(this.clock.now())) this.waiters.shift()!(true);
    this.schedule();
  }
}
