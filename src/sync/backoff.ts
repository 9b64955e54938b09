/** Capped exponential backoff with jitter, waited out on the injected clock (STYLE.md §6). */
import type { Clock } from '../shared/clock.js';

export interface Backoff {
  /** The ceiling of the first wait; each further attempt doubles it. */
  firstMs: number;
  maxMs: number;
}

/**
 * The wait before retry number `attempt` (0-based): between half and all of
 * min(maxMs, firstMs · 2^attempt), so clients that failed together do not come back together.
 */
export function backoffDelay(attempt: number, b: Backoff, random: () => number = Math.random): number {
  const ceiling = Math.min(b.maxMs, b.firstMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * (0.5 + random() / 2));
}

export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(resolve, ms));
}
