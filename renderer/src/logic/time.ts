/**
 * How times read in the window. Everything is computed from the snapshot's `now` (local ms) and
 * `serverOffsetMs`, never from a timer of the renderer's own (the agent pushes a fresh snapshot
 * every second while the window is visible). Server times (`expiresAt`, `createdAt`…) are turned
 * into local wall-clock times by subtracting the offset, so a laptop whose clock is off shows the
 * right "ends at".
 */
import { toMs } from '../../../src/shared/countdown.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The server's time at the snapshot: what grant and request times are compared with. */
export function serverNow(s: { now: number; serverOffsetMs: number }): number {
  return s.now + s.serverOffsetMs;
}

/** `3 min ago`, `1 h 05 min ago`, `2 d ago`; `just now` under a minute; never in the future. */
export function formatAge(ms: number): string {
  const m = Number.isFinite(ms) ? Math.floor(Math.max(0, ms) / MINUTE) : 0;
  if (m < 1) return 'just now';
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 10) return m % 60 === 0 ? `${h} h ago` : `${h} h ${String(m % 60).padStart(2, '0')} min ago`;
  if (h < 24) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

/** The age of something created at server time `createdAt`, seen at server time `at`. */
export function ageOf(createdAt: string, at: number): string {
  return formatAge(at - toMs(createdAt));
}

export interface WallClock {
  /** `14:32` today, `Tue 14:32` within the week ahead or behind, `5 Jan, 14:32` further. */
  when(localMs: number, localNow: number): string;
  /** `14:32:05`, for "as of" and "since" where seconds matter. */
  time(localMs: number): string;
}

/** Formats in the person's locale; `timeZone` only for tests. */
export function wallClock(locale?: string, timeZone?: string): WallClock {
  const tz = timeZone === undefined ? {} : { timeZone };
  // `09:05` where the locale counts 24 hours, `9:05 PM` (not `09:05 PM`) where it counts 12.
  const cycle = new Intl.DateTimeFormat(locale, { hour: 'numeric', ...tz }).resolvedOptions().hourCycle;
  const hour = cycle === 'h11' || cycle === 'h12' ? 'numeric' : '2-digit';
  const hm = new Intl.DateTimeFormat(locale, { hour, minute: '2-digit', ...tz });
  const hms = new Intl.DateTimeFormat(locale, { hour, minute: '2-digit', second: '2-digit', ...tz });
  const weekday = new Intl.DateTimeFormat(locale, { weekday: 'short', hour, minute: '2-digit', ...tz });
  const date = new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'short', hour, minute: '2-digit', ...tz });
  const day = new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit', ...tz });
  return {
    when(localMs, localNow) {
      if (!Number.isFinite(localMs)) return '—';
      if (day.format(localMs) === day.format(localNow)) return hm.format(localMs);
      if (Math.abs(localMs - localNow) < 6 * DAY) return weekday.format(localMs);
      return date.format(localMs);
    },
    time(localMs) {
      return Number.isFinite(localMs) ? hms.format(localMs) : '—';
    },
  };
}

/** The local wall-clock ms of a server time (ISO-8601), for `WallClock`. */
export function toLocal(serverIso: string, serverOffsetMs: number): number {
  return toMs(serverIso) - serverOffsetMs;
}
