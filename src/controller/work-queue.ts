// A de-duplicating work queue with per-key retry backoff, in the spirit of client-go's
// workqueue: a key added while queued is queued once; a key added while being processed is
// processed again afterwards; a failing key waits longer each time.
import { backoffDelay } from '../runtime/backoff.ts';
export interface WorkQueueOptions {
  workers: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly options: Required<WorkQueueOptions>;
  private handler: ((key: string) => Promise<void>) | undefined;
  private active = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(options: WorkQueueOptions) {
    this.options = { initialBackoffMs: 200, maxBackoffMs: 30_000, ...options };
  }

  get depth(): number {
    return this.queue.length;
  }

  start(handler: (key: string) => Promise<void>): void {
    this.handler = handler;
    this.stopped = false;
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Resolves when nothing is queued, running or waiting to retry (for tests and benchmarks). */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.active === 0 && this.timers.size === 0;
  }

  private pump(): void {
    while (!this.stopped && this.handler && this.active < this.options.workers && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      this.active++;
      void this.run(key);
    }
    if (this.isIdle()) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private async run(key: string): Promise<void> {
    let failed = false;
    try {
      await this.handler!(key);
      this.failures.delete(key);
    } catch {
      failed = true;
    }
    this.processing.delete(key);
    this.active--;
    if (failed) this.retryLater(key);
    else if (this.dirty.delete(key)) this.add(key);
    this.pump();
  }

  private retryLater(key: string): void {
    this.dirty.delete(key);
    const attempts = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, attempts);
    const delay = backoffDelay(attempts - 1, this.options.initialBackoffMs, this.options.maxBackoffMs);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.add(key);
      this.pump();
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }
}
