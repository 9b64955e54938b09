/**
 * Time is a dependency (STYLE.md §6): code reads the time and arms timers through a Clock, and
 * tests move a ManualClock instead of sleeping.
 */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}
export type TimerHandle = { readonly id: number } | object;

/** setTimeout caps at 2^31-1 ms (about 24.8 days); longer waits are armed in steps. */
export const MAX_TIMER_MS = 2_147_483_647;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.max(0, Math.min(ms, MAX_TIMER_MS)));
    (t as { unref?: () => void }).unref?.();
    return t as unknown as TimerHandle;
  },
  clearTimer(handle) {
    clearTimeout(handle as Parameters<typeof clearTimeout>[0]);
  },
};

interface Pending { id: number; at: number; fn: () => void }

/** A clock that only moves when told to; `advance` fires due timers in time order. */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Pending[] = [];

  constructor(start: number | Date = Date.UTC(2026, 0, 1, 9, 0, 0)) {
    this.t = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const handle = { id: ++this.seq };
    this.timers.push({ id: handle.id, at: this.t + Math.max(0, ms), fn });
    return handle;
  }

  clearTimer(handle: TimerHandle): void {
    const id = (handle as { id?: number }).id;
    this.timers = this.timers.filter((p) => p.id !== id);
  }

  /** Moves time forward by `ms`, firing each timer that comes due on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.timers = this.timers.filter((p) => p !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }

  /** Sets the wall clock (a jump, as after sleep), firing timers now due. */
  set(at: number | Date): void {
    const target = typeof at === 'number' ? at : at.getTime();
    if (target >= this.t) this.advance(target - this.t);
    else this.t = target;
  }

  get pendingTimers(): number {
    return this.timers.length;
  }
}
