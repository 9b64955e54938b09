/**
 * Countdown math (DESIGN.md "Desktop agent", FIELD-CASES B27): the time left on a grant is always
 * derived from the server's `expiresAt` and the measured server clock offset — never from counting
 * ticks, which stop while a laptop sleeps and fire late or in bursts when it wakes:
 *
 *     remaining = expiresAt − (now + serverOffset)
 *
 * where `now` is the local wall clock and `serverOffset` is server time minus local time. Pure and
 * environment-free: the agent, the tray and the renderer all count down with these functions.
 */

/** A grant's countdown at one moment. `expired` once no time is left (never a negative time). */
export type Countdown =
  | { state: 'running'; remainingMs: number; /** `0:42:10`, `1d 02:03:04` */ text: string }
  | { state: 'expired'; remainingMs: 0; text: typeof EXPIRED_TEXT };

export const EXPIRED_TEXT = 'Expired';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Milliseconds since the epoch of an ISO-8601 time or a number; NaN when it is neither. */
export function toMs(at: string | number): number {
  return typeof at === 'number' ? at : Date.parse(at);
}

/** `expiresAt − (now + serverOffsetMs)`; negative once past, NaN for an unreadable `expiresAt`. */
export function remainingMs(expiresAt: string | number, now: number, serverOffsetMs: number): number {
  return toMs(expiresAt) - (now + serverOffsetMs);
}

/** The countdown of something ending at `expiresAt` (server time), seen at local time `now`. */
export function countdown(expiresAt: string | number, now: number, serverOffsetMs: number): Countdown {
  const left = remainingMs(expiresAt, now, serverOffsetMs);
  // `!(left > 0)` also catches NaN: a grant whose end cannot be read is not shown as running.
  if (!(left > 0)) return { state: 'expired', remainingMs: 0, text: EXPIRED_TEXT };
  return { state: 'running', remainingMs: left, text: formatCountdown(left) };
}

/**
 * Fixed-width `h:mm:ss` (minutes and seconds always two digits, so the text does not jitter as it
 * counts), with days past 24 h: `0:04:59`, `23:59:59`, `1d 02:03:04`. Whole seconds rounded up, so
 * `0:00:01` shows until the last millisecond and `0:00:00` only at the end; never negative.
 */
export function formatCountdown(ms: number): string {
  const total = Number.isFinite(ms) ? Math.max(0, Math.ceil(ms / SECOND)) : 0;
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const h = Math.floor(total / 3600) % 24;
  const d = Math.floor(total / 86_400);
  const mmss = `${pad2(m)}:${pad2(s)}`;
  return d > 0 ? `${d}d ${pad2(h)}:${mmss}` : `${h}:${mmss}`;
}

/**
 * Minute-resolution remaining time for places that are not redrawn every second (the tray menu,
 * tooltips): `42m`, `1h 05m`, `2d 3h`. Rounded up, so `1m` is shown for the last minute; `0m` only
 * at the end.
 */
export function formatRemainingCoarse(ms: number): string {
  const minutes = Number.isFinite(ms) ? Math.max(0, Math.ceil(ms / MINUTE)) : 0;
  if (minutes < 60) return `${minutes}m`;
  if (minutes < (DAY / MINUTE)) return `${Math.floor(minutes / 60)}h ${pad2(minutes % 60)}m`;
  return `${Math.floor(minutes / (DAY / MINUTE))}d ${Math.floor((minutes % (DAY / MINUTE)) / 60)}h`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
