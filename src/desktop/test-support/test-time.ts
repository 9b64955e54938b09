/**
 * Time for agent tests, moved by hand, that can model a laptop's sleep (FIELD-CASES B27).
 *
 * Two clocks read the same wall time. The server's timers are due at a wall time. The device's
 * timers run on a monotonic clock, as Node's and Electron's do: while the device sleeps the wall
 * clock moves on and they do not — a timer armed at 10:20 for 11:00 fires at 13:00 after sleeping
 * from 10:20 to 12:20. `advance` moves both (timers fire in time order on the way, as in
 * ManualClock); `sleepDevice` moves the wall clock only, firing the server's timers (the server
 * stays awake) and none of the device's.
 */
import type { Clock, TimerHandle } from '../../shared/clock.js';

interface Pending {
  id: number;
  axis: 'wall' | 'mono';
  at: number;
  fn: () => void;
}

export class TestTime {
  private wall: number;
  private mono = 0;
  private seq = 0;
  private timers: Pending[] = [];
  /** Timers due at wall times (the approval server). */
  readonly server: Clock;
  /** Timers on the monotonic clock (the desktop agent, its client and event stream). */
  readonly device: Clock;

  constructor(start: number | Date = Date.UTC(2026, 0, 5, 10, 0, 0)) {
    this.wall = typeof start === 'number' ? start : start.getTime();
    this.server = this.clockOn('wall');
    this.device = this.clockOn('mono');
  }

  now(): number {
    return this.wall;
  }

  /** Both clocks move by `ms`; every timer due on the way fires, in time order. */
  advance(ms: number): void {
    const end = this.wall + ms;
    for (;;) {
      const next = this.earliest((p) => this.wallTimeOf(p), end);
      if (!next) break;
      const step = Math.max(0, this.wallTimeOf(next) - this.wall);
      this.wall += step;
      this.mono += step;
      this.fire(next);
    }
    this.mono += end - this.wall;
    this.wall = end;
  }

  /** The device sleeps for `ms`: the wall clock (and the server) moves on, the device's timers stand still. */
  sleepDevice(ms: number): void {
    const end = this.wall + ms;
    for (;;) {
      const next = this.earliest((p) => (p.axis === 'wall' ? p.at : Infinity), end);
      if (!next) break;
      this.wall = Math.max(this.wall, next.at);
      this.fire(next);
    }
    this.wall = end;
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  private clockOn(axis: 'wall' | 'mono'): Clock {
    return {
      now: () => this.wall,
      setTimer: (fn, ms) => {
        const handle = { id: ++this.seq };
        this.timers.push({ id: handle.id, axis, at: (axis === 'wall' ? this.wall : this.mono) + Math.max(0, ms), fn });
        return handle;
      },
      clearTimer: (handle: TimerHandle) => {
        const id = (handle as { id?: number }).id;
        this.timers = this.timers.filter((p) => p.id !== id);
      },
    };
  }

  private wallTimeOf(p: Pending): number {
    return p.axis === 'wall' ? p.at : p.at + (this.wall - this.mono);
  }

  private earliest(due: (p: Pending) => number, end: number): Pending | undefined {
    let best: Pending | undefined;
    for (const p of this.timers) {
      const at = due(p);
      if (at > end) continue;
      if (!best || at < due(best) || (at === due(best) && p.id < best.id)) best = p;
    }
    return best;
  }

  private fire(p: Pending): void {
    this.timers = this.timers.filter((x) => x !== p);
    p.fn();
  }
}
