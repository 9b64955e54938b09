import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS, ManualClock, type Clock, type TimerHandle } from '../../shared/clock.js';
import { Scheduler, type DueWork } from './scheduler.js';

const log = pino({ level: 'silent' });
const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const T0 = Date.UTC(2026, 0, 1, 9, 0, 0);

/** A due-work list: items are due times; running removes the due ones and records when. */
class FakeWork implements DueWork {
  items: number[] = [];
  ran: { at: number; items: number[] }[] = [];
  runCalls = 0;
  nextDueCalls = 0;
  failNext = 0;
  constructor(private readonly clock: Clock) {}
  async nextDueAt(): Promise<number | null> {
    this.nextDueCalls++;
    return this.items.length === 0 ? null : Math.min(...this.items);
  }
  async runDue(): Promise<number> {
    this.runCalls++;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('store unavailable');
    }
    const now = this.clock.now();
    const due = this.items.filter((t) => t <= now);
    this.items = this.items.filter((t) => t > now);
    if (due.length > 0) this.ran.push({ at: now, items: due });
    return due.length;
  }
}

/** A ManualClock that also records the delay of every timer armed on it. */
class RecordingClock extends ManualClock {
  armed: number[] = [];
  override setTimer(fn: () => void, ms: number): TimerHandle {
    this.armed.push(ms);
    return super.setTimer(fn, ms);
  }
}

/** Lets the scheduler's promise chains (arm after a sweep, etc.) finish. */
const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

function setup(items: number[] = []) {
  const clock = new RecordingClock(T0);
  const work = new FakeWork(clock);
  work.items = [...items];
  const scheduler = new Scheduler(work, clock, log);
  return { clock, work, scheduler };
}

describe('Scheduler', () => {
  it('arms one timer for the next due item and runs it exactly when due', async () => {
    const { clock, work, scheduler } = setup([T0 + 30 * MIN, T0 + 10 * MIN, T0 + 20 * MIN]);
    await scheduler.start();
    await flush();
    expect(clock.pendingTimers).toBe(1);
    expect(scheduler.nextAt).toBe(T0 + 10 * MIN);

    clock.advance(10 * MIN - 1);
    await flush();
    expect(work.ran).toEqual([]);

    clock.advance(1);
    await flush();
    expect(work.ran).toEqual([{ at: T0 + 10 * MIN, items: [T0 + 10 * MIN] }]);
    expect(clock.pendingTimers).toBe(1);
    expect(scheduler.nextAt).toBe(T0 + 20 * MIN);

    clock.advance(10 * MIN);
    await flush();
    clock.advance(10 * MIN);
    await flush();
    expect(work.ran).toEqual([
      { at: T0 + 10 * MIN, items: [T0 + 10 * MIN] },
      { at: T0 + 20 * MIN, items: [T0 + 20 * MIN] },
      { at: T0 + 30 * MIN, items: [T0 + 30 * MIN] },
    ]);
    expect(clock.pendingTimers).toBe(0);
    await scheduler.stop();
  });

  it('does not poll: with nothing due no timer is armed and nothing runs however long we wait', async () => {
    const { clock, work, scheduler } = setup();
    await scheduler.start();
    await flush();
    expect(clock.pendingTimers).toBe(0);
    const calls = work.runCalls;
    clock.advance(365 * DAY);
    await flush();
    expect(work.runCalls).toBe(calls);
    await scheduler.stop();
  });

  it('never holds more than one timer, however often it is poked', async () => {
    const { clock, work, scheduler } = setup([T0 + 60 * MIN]);
    await scheduler.start();
    for (let i = 0; i < 50; i++) {
      work.items.push(T0 + (60 - i) * MIN);
      scheduler.poke();
      expect(clock.pendingTimers).toBeLessThanOrEqual(1);
    }
    await flush();
    expect(clock.pendingTimers).toBe(1);
    expect(scheduler.nextAt).toBe(T0 + 11 * MIN);
    await scheduler.stop();
  });

  it('a poke re-arms for an earlier item', async () => {
    const { clock, work, scheduler } = setup([T0 + 60 * MIN]);
    await scheduler.start();
    await flush();
    expect(scheduler.nextAt).toBe(T0 + 60 * MIN);

    work.items.push(T0 + 5 * MIN);
    scheduler.poke();
    await flush();
    expect(clock.pendingTimers).toBe(1);
    expect(scheduler.nextAt).toBe(T0 + 5 * MIN);

    clock.advance(5 * MIN);
    await flush();
    expect(work.ran).toEqual([{ at: T0 + 5 * MIN, items: [T0 + 5 * MIN] }]);
    expect(scheduler.nextAt).toBe(T0 + 60 * MIN);
    await scheduler.stop();
  });

  it('a poke after the last item is gone disarms', async () => {
    const { clock, work, scheduler } = setup([T0 + 60 * MIN]);
    await scheduler.start();
    await flush();
    work.items = [];
    scheduler.poke();
    await flush();
    expect(clock.pendingTimers).toBe(0);
    expect(scheduler.nextAt).toBeNull();
    await scheduler.stop();
  });

  it('runs every overdue item at start, before any time passes (B11)', async () => {
    const { clock, work, scheduler } = setup([T0 - 10 * MIN, T0 - DAY, T0 + 5 * MIN]);
    await scheduler.start();
    expect(work.ran).toEqual([{ at: T0, items: [T0 - 10 * MIN, T0 - DAY] }]);
    await flush();
    expect(scheduler.nextAt).toBe(T0 + 5 * MIN);
    expect(clock.pendingTimers).toBe(1);
    await scheduler.stop();
  });

  it('arms a long wait in steps no longer than setTimeout allows, and runs it on time', async () => {
    const due = T0 + 60 * DAY;
    const { clock, work, scheduler } = setup([due]);
    await scheduler.start();
    await flush();
    expect(clock.pendingTimers).toBe(1);
    expect(clock.armed.at(-1)).toBe(MAX_TIMER_MS);

    // Step by step: each step only re-arms, until the remainder fits in one timer.
    while (due - clock.now() > MAX_TIMER_MS) {
      clock.advance(MAX_TIMER_MS);
      await flush();
      expect(work.ran).toEqual([]);
      expect(clock.pendingTimers).toBe(1);
      expect(scheduler.nextAt).toBe(due);
    }
    clock.advance(due - clock.now() - 1);
    await flush();
    expect(work.ran).toEqual([]);
    clock.advance(1);
    await flush();
    expect(work.ran).toEqual([{ at: due, items: [due] }]);
    for (const ms of clock.armed) expect(ms).toBeLessThanOrEqual(MAX_TIMER_MS);
    // Steps, not polling: 60 days is three timers of at most 24.8 days.
    expect(clock.armed).toHaveLength(3);
    expect(clock.pendingTimers).toBe(0);
    await scheduler.stop();
  });

  it('stop disarms and nothing runs afterwards', async () => {
    const { clock, work, scheduler } = setup([T0 + 5 * MIN]);
    await scheduler.start();
    await flush();
    await scheduler.stop();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(10 * MIN);
    scheduler.poke();
    await flush();
    expect(work.ran).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a failed sweep is retried after a second, not dropped', async () => {
    const { clock, work, scheduler } = setup([T0 - MIN]);
    work.failNext = 1;
    await scheduler.start();
    await flush();
    expect(work.ran).toEqual([]);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(999);
    await flush();
    expect(work.ran).toEqual([]);
    clock.advance(1);
    await flush();
    expect(work.ran).toEqual([{ at: T0 + 1000, items: [T0 - MIN] }]);
    await scheduler.stop();
  });

  it('work that becomes due while a sweep runs is handled in the same sweep', async () => {
    const clock = new ManualClock(T0);
    const work = new FakeWork(clock);
    const scheduler = new Scheduler(work, clock, log);
    work.items = [T0 - MIN];
    const run = work.runDue.bind(work);
    let first = true;
    work.runDue = async () => {
      const n = await run();
      if (first) {
        first = false;
        work.items.push(T0); // due now, added mid-sweep
        scheduler.poke();
      }
      return n;
    };
    await scheduler.start();
    expect(work.ran.map((r) => r.items)).toEqual([[T0 - MIN], [T0]]);
    await scheduler.stop();
  });
});
