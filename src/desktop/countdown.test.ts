// The agent's clockwork on a TestTime whose device timers stand still while the device sleeps.
import { describe, expect, it } from 'vitest';
import { CountdownScheduler, type DueReason } from './countdown.js';
import { TestTime } from './test-support/test-time.js';

const MIN = 60_000;

function setup(opts: { maxWaitMs?: number } = {}) {
  const time = new TestTime();
  const due: { why: DueReason; at: number }[] = [];
  const ticks: boolean[] = [];
  const s = new CountdownScheduler({ clock: time.device, onDue: (why) => due.push({ why, at: time.now() }), onTick: (visible) => ticks.push(visible), ...opts });
  s.start();
  return { time, s, due, ticks, t0: time.now() };
}

describe('the countdown scheduler', () => {
  it('keeps one timer for the next deadline, however often it is re-armed, and fires at it', () => {
    const { time, s, due, t0 } = setup();
    for (const m of [30, 10, 20]) s.setDeadline(t0 + m * MIN);
    expect(time.pendingTimers).toBe(2); // the deadline and the 1 s tick
    time.advance(20 * MIN - 1);
    expect(due).toEqual([]);
    time.advance(1);
    expect(due).toEqual([{ why: 'deadline', at: t0 + 20 * MIN }]);
    s.setDeadline(null);
    time.advance(60 * MIN);
    expect(due).toHaveLength(1);
  });

  it('arms a very long wait in steps and fires once, at the deadline', () => {
    const { time, s, due, t0 } = setup({ maxWaitMs: 10 * MIN });
    s.setDeadline(t0 + 3 * 3_600_000);
    time.advance(3 * 3_600_000);
    expect(due).toEqual([{ why: 'deadline', at: t0 + 3 * 3_600_000 }]);
  });

  it('notices a sleep within about a second of waking, resume event or not (B27)', () => {
    const { time, s, due, t0 } = setup();
    s.setDeadline(t0 + 40 * MIN);
    time.sleepDevice(2 * 60 * MIN);
    // The deadline timer would fire 40 min after waking; the tick sees the jump first.
    time.advance(1_000);
    expect(due).toEqual([{ why: 'clock_jump', at: t0 + 2 * 60 * MIN + 1_000 }]);
    expect(s.jumps).toBe(1);
  });

  it('resume() evaluates at once', () => {
    const { time, s, due, t0 } = setup();
    time.sleepDevice(30 * MIN);
    s.resume();
    expect(due).toEqual([{ why: 'resume', at: t0 + 30 * MIN }]);
    // ...and the next tick does not count the sleep again.
    time.advance(1_000);
    expect(due).toHaveLength(1);
  });

  it('notices the clock set back, and ignores drift under 5 s', () => {
    const { time, due } = setup();
    time.sleepDevice(4_000);
    time.advance(1_000);
    expect(due).toEqual([]);
    // A wall clock set back by a minute (TestTime cannot go back: simulate with a clock of our own).
    const now = { t: 1_000_000 };
    const timers: (() => void)[] = [];
    const back: DueReason[] = [];
    const s = new CountdownScheduler({ clock: { now: () => now.t, setTimer: (fn) => (timers.push(fn), {}), clearTimer: () => undefined }, onDue: (why) => back.push(why), onTick: () => undefined });
    s.start();
    now.t -= 60_000;
    timers.shift()!();
    expect(back).toEqual(['clock_jump']);
  });

  it('ticks every second; says whether the window shows', () => {
    const { time, s, ticks } = setup();
    time.advance(3_000);
    s.setVisible(true);
    time.advance(2_000);
    expect(ticks).toEqual([false, false, false, true, true]);
    s.stop();
    time.advance(5_000);
    expect(ticks).toHaveLength(5);
    expect(time.pendingTimers).toBe(0);
  });
});
