// WorkQueue: de-duplication, re-runs of keys added while running, capped exponential retry
// backoff, the worker bound, stop() and whenIdle(). Time is vitest's fake clock throughout.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue } from '../../../src/controller/work-queue.ts';
import { deferred } from './fakes.ts';

/** Lets the queue's promise chains settle without moving the clock. */
const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('WorkQueue', () => {
  it('runs a key added several times while queued once', async () => {
    const queue = new WorkQueue({ workers: 1 });
    const runs: string[] = [];
    queue.add('a');
    queue.add('a');
    queue.add('b');
    queue.add('a');
    expect(queue.depth).toBe(2);
    queue.start(async (key) => {
      runs.push(key);
    });
    await queue.whenIdle();
    expect(runs).toEqual(['a', 'b']);
    expect(queue.depth).toBe(0);
  });

  it('runs a key added while it runs once more afterwards, never twice at once', async () => {
    const queue = new WorkQueue({ workers: 4 });
    const gates = [deferred(), deferred()];
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    queue.start(async () => {
      const gate = gates[runs++]!;
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gate.promise;
      running--;
    });
    queue.add('a');
    await settle();
    expect(runs).toBe(1);
    // Added twice while running: one more run, and only after the first has finished.
    queue.add('a');
    queue.add('a');
    await settle();
    expect(runs).toBe(1);
    gates[0]!.resolve();
    await settle();
    expect(runs).toBe(2);
    gates[1]!.resolve();
    await queue.whenIdle();
    expect(runs).toBe(2);
    expect(maxRunning).toBe(1);
  });

  it('retries a failing key with doubling delays up to the cap', async () => {
    const queue = new WorkQueue({ workers: 1, initialBackoffMs: 100, maxBackoffMs: 500 });
    const at: number[] = [];
    const start = Date.now();
    queue.start(async () => {
      at.push(Date.now() - start);
      throw new Error('always fails');
    });
    queue.add('a');
    await settle();
    expect(at).toEqual([0]);
    await vi.advanceTimersByTimeAsync(99);
    expect(at).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(at).toEqual([0, 100]);
    await vi.advanceTimersByTimeAsync(2_100);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(gaps).toEqual([100, 200, 400, 500, 500, 500]);
    queue.stop();
  });

  it('starts the backoff again once a key has succeeded', async () => {
    const queue = new WorkQueue({ workers: 1, initialBackoffMs: 100, maxBackoffMs: 10_000 });
    const at: number[] = [];
    const outcomes = [false, false, true, false, false];
    const start = Date.now();
    queue.start(async () => {
      at.push(Date.now() - start);
      if (!outcomes[at.length - 1]) throw new Error('fails');
    });
    queue.add('a');
    await vi.advanceTimersByTimeAsync(300);
    expect(at).toEqual([0, 100, 300]); // failed, failed, succeeded
    queue.add('a');
    await vi.advanceTimersByTimeAsync(100);
    // The failure after the success waits the initial delay, not the next doubling.
    expect(at).toEqual([0, 100, 300, 300, 400]);
    queue.stop();
  });

  it('does not hold back other keys while one waits to retry', async () => {
    const queue = new WorkQueue({ workers: 1, initialBackoffMs: 1_000 });
    const runs: string[] = [];
    queue.start(async (key) => {
      runs.push(key);
      if (key === 'bad') throw new Error('fails');
    });
    queue.add('bad');
    queue.add('good');
    await settle();
    expect(runs).toEqual(['bad', 'good']);
    queue.stop();
  });

  it('a key that fails while re-added waits for its retry instead of running at once', async () => {
    const queue = new WorkQueue({ workers: 1, initialBackoffMs: 100 });
    const gate = deferred();
    const at: number[] = [];
    const start = Date.now();
    queue.start(async () => {
      at.push(Date.now() - start);
      if (at.length === 1) await gate.promise;
    });
    queue.add('a');
    await settle();
    queue.add('a');
    gate.reject(new Error('fails'));
    await settle();
    expect(at).toEqual([0]);
    await vi.advanceTimersByTimeAsync(100);
    expect(at).toEqual([0, 100]);
    await queue.whenIdle();
    expect(at).toEqual([0, 100]);
  });

  it('never runs more handlers at once than it has workers', async () => {
    const queue = new WorkQueue({ workers: 3 });
    const gates = new Map<string, ReturnType<typeof deferred<void>>>();
    let running = 0;
    let maxRunning = 0;
    const started: string[] = [];
    queue.start(async (key) => {
      const gate = deferred();
      gates.set(key, gate);
      started.push(key);
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gate.promise;
      running--;
    });
    for (let i = 0; i < 10; i++) queue.add(`k${i}`);
    await settle();
    expect(started).toEqual(['k0', 'k1', 'k2']);
    expect(queue.depth).toBe(7);
    // A finished worker takes the next key.
    gates.get('k1')!.resolve();
    await settle();
    expect(started).toEqual(['k0', 'k1', 'k2', 'k3']);
    while (started.length < 10 || running > 0) {
      for (const gate of gates.values()) gate.resolve();
      await settle();
    }
    await queue.whenIdle();
    expect(maxRunning).toBe(3);
    expect(new Set(started).size).toBe(10);
  });

  it('whenIdle waits for running handlers and for retries', async () => {
    const queue = new WorkQueue({ workers: 1, initialBackoffMs: 1_000 });
    await expect(queue.whenIdle()).resolves.toBeUndefined(); // nothing to do
    let calls = 0;
    queue.start(async () => {
      calls++;
      if (calls === 1) throw new Error('first attempt fails');
    });
    queue.add('a');
    let idle = false;
    void queue.whenIdle().then(() => {
      idle = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toBe(1);
    expect(idle).toBe(false); // a retry is still waiting
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    expect(idle).toBe(true);
  });

  it('whenIdle waits for keys added before start', async () => {
    const queue = new WorkQueue({ workers: 1 });
    queue.add('a');
    let idle = false;
    void queue.whenIdle().then(() => {
      idle = true;
    });
    await settle();
    expect(idle).toBe(false);
    const runs: string[] = [];
    queue.start(async (key) => {
      runs.push(key);
    });
    await settle();
    expect(runs).toEqual(['a']);
    expect(idle).toBe(true);
  });

  it('stop cancels waiting retries, ignores new keys and starts nothing new', async () => {
    const queue = new WorkQueue({ workers: 1, initialBackoffMs: 100 });
    const gate = deferred();
    const runs: string[] = [];
    queue.start(async (key) => {
      runs.push(key);
      if (key === 'fails') throw new Error('fails');
      if (key === 'slow') await gate.promise;
    });
    queue.add('fails');
    await settle();
    queue.add('slow');
    queue.add('queued');
    await settle();
    expect(runs).toEqual(['fails', 'slow']);
    queue.stop();
    queue.add('after-stop');
    gate.resolve();
    await vi.advanceTimersByTimeAsync(10_000);
    // The running handler finished; nothing else ran, not even the retry.
    expect(runs).toEqual(['fails', 'slow']);
    expect(vi.getTimerCount()).toBe(0);
    // A key queued before stop is still there for the next start; the one added after is not.
    queue.start(async (key) => {
      runs.push(key);
    });
    await queue.whenIdle();
    expect(runs).toEqual(['fails', 'slow', 'queued']);
  });
});
