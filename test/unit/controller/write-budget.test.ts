// The write budget on its own: the token bucket's arithmetic and the FIFO waiting on top of it,
// driven by a clock the test moves (no real time passes, nothing is timed).
import { describe, expect, it } from 'vitest';
import { TokenBucket, WriteBudget, type BudgetClock } from '../../../src/controller/write-budget.ts';

/** A clock that only moves when told to, firing the timers that fall due. */
class ManualClock implements BudgetClock {
  time = 1_000_000;
  private timers: Array<{ at: number; callback: () => void }> = [];
  now(): number {
    return this.time;
  }
  setTimer(ms: number, callback: () => void): () => void {
    const timer = { at: this.time + ms, callback };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }
  get scheduled(): number {
    return this.timers.length;
  }
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = Math.max(this.time, due.at);
      due.callback();
      await flush();
    }
    this.time = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('TokenBucket', () => {
  it('starts full, gives `burst` tokens at once, then refuses', () => {
    const bucket = new TokenBucket(10, 3, 0);
    expect([bucket.tryTake(0), bucket.tryTake(0), bucket.tryTake(0), bucket.tryTake(0)]).toEqual([true, true, true, false]);
  });

  it('refills at `rate` per second, never above `burst`', () => {
    const bucket = new TokenBucket(10, 2, 0);
    bucket.tryTake(0);
    bucket.tryTake(0);
    expect(bucket.tryTake(99)).toBe(false); // 0.99 of a token
    expect(bucket.tryTake(100)).toBe(true);
    // An hour idle saves up two tokens, not 36,000.
    expect([bucket.tryTake(3_600_100), bucket.tryTake(3_600_100), bucket.tryTake(3_600_100)]).toEqual([true, true, false]);
  });

  it('says how long until the next token', () => {
    const bucket = new TokenBucket(4, 1, 0);
    expect(bucket.waitMs(0)).toBe(0);
    bucket.tryTake(0);
    expect(bucket.waitMs(0)).toBe(250);
    expect(bucket.waitMs(100)).toBe(150);
    expect(bucket.waitMs(250)).toBe(0);
  });

  it('a clock that goes backwards takes nothing away and gives nothing', () => {
    const bucket = new TokenBucket(1, 1, 1000);
    bucket.tryTake(1000);
    expect(bucket.tryTake(0)).toBe(false);
    expect(bucket.tryTake(1999)).toBe(false);
    expect(bucket.tryTake(2000)).toBe(true);
  });

  it('refuses a rate of 0 and a burst below 1', () => {
    expect(() => new TokenBucket(0, 1, 0)).toThrow(RangeError);
    expect(() => new TokenBucket(1, 0, 0)).toThrow(RangeError);
  });
});

describe('WriteBudget', () => {
  it('0 is unlimited: every take resolves at once, nothing waits', async () => {
    const clock = new ManualClock();
    const budget = new WriteBudget(0, { clock });
    expect(budget.unlimited).toBe(true);
    const granted = await Promise.all(Array.from({ length: 1000 }, () => budget.take()));
    expect(granted.every(Boolean)).toBe(true);
    expect(budget.pending).toBe(0);
    expect(clock.scheduled).toBe(0);
  });

  it('lets one second of writes through at once, then `perSecond` a second, first come first served', async () => {
    const clock = new ManualClock();
    const budget = new WriteBudget(5, { clock });
    const order: number[] = [];
    for (let i = 0; i < 12; i++) void budget.take().then((ok) => ok && order.push(i));
    await flush();
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(budget.pending).toBe(7);
    await clock.advance(199);
    expect(order.length).toBe(5);
    await clock.advance(1);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    await clock.advance(1000);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await clock.advance(200);
    expect(order).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(budget.pending).toBe(0);
    expect(clock.scheduled).toBe(0);
  });

  it('a newcomer never overtakes a waiter, even when a token has just come back', async () => {
    const clock = new ManualClock();
    const budget = new WriteBudget(1, { clock });
    const order: string[] = [];
    void budget.take().then(() => order.push('a'));
    void budget.take().then(() => order.push('b'));
    await flush();
    await clock.advance(500);
    void budget.take().then(() => order.push('c'));
    await clock.advance(500);
    expect(order).toEqual(['a', 'b']);
    await clock.advance(1000);
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('over a long run, grants what the rate allows and no more', async () => {
    const clock = new ManualClock();
    const budget = new WriteBudget(50, { clock });
    let granted = 0;
    for (let i = 0; i < 2000; i++) void budget.take().then((ok) => ok && granted++);
    await flush();
    await clock.advance(10_000);
    // The first second's 50 at once, then 50 for each of the 10 s.
    expect(granted).toBe(550);
    expect(budget.pending).toBe(1450);
    budget.close();
  });

  it('close releases every waiter with false, and later takes too', async () => {
    const clock = new ManualClock();
    const budget = new WriteBudget(1, { clock });
    const results: boolean[] = [];
    for (let i = 0; i < 3; i++) void budget.take().then((ok) => results.push(ok));
    await flush();
    budget.close();
    await flush();
    expect(results).toEqual([true, false, false]);
    expect(budget.pending).toBe(0);
    expect(clock.scheduled).toBe(0);
    expect(await budget.take()).toBe(false);
  });
});
