import { afterEach, describe, expect, it } from 'vitest';
import { MAX_TIMER_MS, ManualClock, systemClock, type TimerHandle } from './clock.js';

describe('ManualClock', () => {
  it('starts where told and only moves when told', () => {
    const start = Date.UTC(2026, 2, 1, 9, 0, 0);
    const clock = new ManualClock(start);
    expect(clock.now()).toBe(start);
    expect(new ManualClock(new Date(start)).now()).toBe(start);
    clock.advance(1500);
    expect(clock.now()).toBe(start + 1500);
  });

  it('fires timers in time order, each seeing its own due time', () => {
    const clock = new ManualClock(0);
    const fired: [string, number][] = [];
    clock.setTimer(() => fired.push(['b', clock.now()]), 200);
    clock.setTimer(() => fired.push(['a', clock.now()]), 100);
    clock.setTimer(() => fired.push(['c', clock.now()]), 300);
    clock.advance(250);
    expect(fired).toEqual([['a', 100], ['b', 200]]);
    expect(clock.now()).toBe(250);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(50);
    expect(fired.at(-1)).toEqual(['c', 300]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('fires timers with the same due time in the order they were set', () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    for (const n of [1, 2, 3]) clock.setTimer(() => fired.push(n), 10);
    clock.advance(10);
    expect(fired).toEqual([1, 2, 3]);
  });

  it('fires a timer armed by a firing timer when it falls due within the same advance', () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.setTimer(() => {
      fired.push(clock.now());
      clock.setTimer(() => fired.push(clock.now()), 100);
    }, 100);
    clock.advance(1000);
    expect(fired).toEqual([100, 200]);
  });

  it('cleared timers never fire', () => {
    const clock = new ManualClock(0);
    let fired = false;
    const handle: TimerHandle = clock.setTimer(() => (fired = true), 10);
    clock.clearTimer(handle);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(100);
    expect(fired).toBe(false);
  });

  it('a zero or negative delay fires on the next advance, even advance(0)', () => {
    const clock = new ManualClock(0);
    let n = 0;
    clock.setTimer(() => n++, 0);
    clock.setTimer(() => n++, -50);
    clock.advance(0);
    expect(n).toBe(2);
  });

  it('set() jumps forward firing due timers, and back without firing any', () => {
    const clock = new ManualClock(1000);
    const fired: number[] = [];
    clock.setTimer(() => fired.push(clock.now()), 500);
    clock.set(500);
    expect(clock.now()).toBe(500);
    expect(fired).toEqual([]);
    clock.set(new Date(5000));
    expect(fired).toEqual([1500]);
    expect(clock.now()).toBe(5000);
  });
});

describe('systemClock', () => {
  let handle: TimerHandle | null = null;
  afterEach(() => {
    if (handle) systemClock.clearTimer(handle);
    handle = null;
  });

  it('reads the wall clock', () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  it('fires a short timer', async () => {
    await new Promise<void>((resolve) => (handle = systemClock.setTimer(resolve, 5)));
  });

  it('caps waits longer than setTimeout allows instead of firing at once', async () => {
    // Node fires a setTimeout above 2^31-1 ms after 1 ms; a capped timer must not fire.
    let fired = false;
    handle = systemClock.setTimer(() => (fired = true), MAX_TIMER_MS + 10_000);
    await new Promise((r) => setTimeout(r, 30));
    expect(fired).toBe(false);
  });
});
