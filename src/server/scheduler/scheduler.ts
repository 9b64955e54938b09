/**
 * One timer, armed for the next due item (no polling). Any change re-arms it; on start every
 * overdue item is handled first, so a grant whose end passed while the server was down is revoked
 * at start (FIELD-CASES B11).
 */
import type { Logger } from 'pino';
import { MAX_TIMER_MS, type Clock, type TimerHandle } from '../../shared/clock.js';

export interface DueWork {
  nextDueAt(): Promise<number | null>;
  runDue(): Promise<number>;
}

export class Scheduler {
  private timer: TimerHandle | null = null;
  private armedFor: number | null = null;
  private running = false;
  private dirty = false;
  private stopped = true;
  /** Resolves when the current sweep (if any) ends. */
  private sweep: Promise<void> = Promise.resolve();
  /** Sweeps run so far (tests and metrics). */
  sweeps = 0;

  constructor(
    private readonly work: DueWork,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Handles everything overdue, then arms the timer. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.tick();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.disarm();
    return this.sweep;
  }

  /** Something changed: re-arm for the (possibly earlier) next due item. */
  poke(): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    void this.arm();
  }

  /**
   * Something is already overdue (a request met it before the timer fired, e.g. after the clock
   * jumped): run due work now. A timer armed for that same moment would not be re-armed by poke.
   */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    void this.tick();
  }

  /** Whether the scheduler is started (and not stopped): what /readyz reports. */
  get started(): boolean {
    return !this.stopped;
  }

  get nextAt(): number | null {
    return this.armedFor;
  }

  private disarm(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.armedFor = null;
  }

  private async arm(minDelayMs = 0): Promise<void> {
    let due: number | null;
    try {
      due = await this.work.nextDueAt();
    } catch (err) {
      this.log.error({ err }, 'scheduler could not read the next due time; retrying in 5 s');
      due = this.clock.now() + 5000;
    }
    if (this.stopped || this.running) return;
    if (due === null) return this.disarm();
    if (this.armedFor === due && this.timer !== null) return;
    this.disarm();
    const delay = Math.max(minDelayMs, due - this.clock.now());
    this.armedFor = due;
    // Waits longer than setTimeout allows are armed in steps; the step just re-arms.
    this.timer = this.clock.setTimer(() => void this.tick(), Math.min(delay, MAX_TIMER_MS));
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.running) return;
    this.disarm();
    this.running = true;
    let failed = false;
    let release!: () => void;
    this.sweep = new Promise((r) => (release = r));
    try {
      do {
        this.dirty = false;
        await this.work.runDue();
        this.sweeps++;
      } while (this.dirty && !this.stopped && (await this.work.nextDueAt() ?? Infinity) <= this.clock.now());
    } catch (err) {
      failed = true;
      this.log.error({ err }, 'scheduled work failed; retrying in 1 s');
    } finally {
      this.running = false;
      release();
    }
    if (!this.stopped) await this.arm(failed ? 1000 : 0);
  }
}
