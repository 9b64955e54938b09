/**
 * The desktop agent's clockwork (DESIGN.md "Desktop agent", FIELD-CASES B27, B28): ONE timer for
 * the next deadline (an expiry warning or an expiry), and a 1 s wall-clock tick.
 *
 * - The deadline timer is armed for the time the agent computed from the server's `expiresAt` and
 *   the clock offset — never a count of ticks. A wait longer than `maxWaitMs` is armed in steps.
 * - Timers run on a monotonic clock that stands still while the machine sleeps: a timer armed at
 *   10:20 for 11:00 fires at 13:00 after a two-hour sleep, and some machines never report the
 *   resume. So the tick compares the wall clock with the last tick; a jump of more than `jumpMs`
 *   means the machine slept (or the clock was set), and the agent re-evaluates at once — within
 *   about a second of waking, resume event or not. `resume()` does the same when the OS reports it.
 * - The tick also lets the tray redraw when a remaining time it shows changes, and, only while the
 *   window is visible, pushes a snapshot every second so the renderer needs no timer (B28).
 */
import { MAX_TIMER_MS, type Clock, type TimerHandle } from '../shared/clock.js';

export const TICK_MS = 1_000;
export const JUMP_MS = 5_000;
/** Long waits are armed in steps: the wall clock is checked again at least this often. */
export const MAX_WAIT_MS = 3_600_000;

export interface CountdownSchedulerOptions {
  clock: Clock;
  /** A deadline came, the wall clock jumped, or the OS reported a resume: evaluate now. */
  onDue(why: DueReason): void;
  /** Each tick; `visible`: the window shows. */
  onTick(visible: boolean): void;
  tickMs?: number;
  jumpMs?: number;
  maxWaitMs?: number;
}

export type DueReason = 'deadline' | 'clock_jump' | 'resume';

export class CountdownScheduler {
  private readonly clock: Clock;
  private readonly tickMs: number;
  private readonly jumpMs: number;
  private readonly maxWaitMs: number;
  private running = false;
  private visible = false;
  private lastTickAt = 0;
  private tickTimer: TimerHandle | null = null;
  private deadlineTimer: TimerHandle | null = null;
  private deadlineAt: number | null = null;
  /** Wall-clock jumps seen (tests, logs). */
  jumps = 0;

  constructor(private readonly opts: CountdownSchedulerOptions) {
    this.clock = opts.clock;
    this.tickMs = opts.tickMs ?? TICK_MS;
    this.jumpMs = opts.jumpMs ?? JUMP_MS;
    this.maxWaitMs = Math.min(opts.maxWaitMs ?? MAX_WAIT_MS, MAX_TIMER_MS);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastTickAt = this.clock.now();
    this.armTick();
    this.arm();
  }

  stop(): void {
    this.running = false;
    if (this.tickTimer !== null) this.clock.clearTimer(this.tickTimer);
    if (this.deadlineTimer !== null) this.clock.clearTimer(this.deadlineTimer);
    this.tickTimer = null;
    this.deadlineTimer = null;
  }

  /** The next deadline, local wall-clock ms (server time minus the offset); null for none. Re-arms the one timer. */
  setDeadline(localAt: number | null): void {
    this.deadlineAt = localAt;
    this.arm();
  }

  get deadline(): number | null {
    return this.deadlineAt;
  }

  /** Whether the window shows: while it does, each tick says so (for the 1 s snapshot). */
  setVisible(visible: boolean): void {
    this.visible = visible;
  }

  get isVisible(): boolean {
    return this.visible;
  }

  /** The OS reported a resume or an unlock: evaluate now rather than at the next tick. */
  resume(): void {
    if (!this.running) return;
    this.lastTickAt = this.clock.now();
    this.opts.onDue('resume');
  }

  private arm(): void {
    if (this.deadlineTimer !== null) this.clock.clearTimer(this.deadlineTimer);
    this.deadlineTimer = null;
    const at = this.deadlineAt;
    if (!this.running || at === null) return;
    const wait = Math.max(0, at - this.clock.now());
    this.deadlineTimer = this.clock.setTimer(() => {
      this.deadlineTimer = null;
      // An early step of a long wait only re-arms; the deadline itself evaluates.
      if (this.clock.now() >= at) this.opts.onDue('deadline');
      else if (this.deadlineAt === at) this.arm();
    }, Math.min(wait, this.maxWaitMs));
  }

  private armTick(): void {
    this.tickTimer = this.clock.setTimer(() => this.tick(), this.tickMs);
  }

  private tick(): void {
    this.tickTimer = null;
    if (!this.running) return;
    const now = this.clock.now();
    const gap = now - this.lastTickAt;
    this.lastTickAt = now;
    this.armTick();
    if (gap > this.tickMs + this.jumpMs || gap < -this.jumpMs) {
      this.jumps++;
      this.opts.onDue('clock_jump');
    }
    this.opts.onTick(this.visible);
  }
}
