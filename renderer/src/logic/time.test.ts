import { describe, expect, it } from 'vitest';
import { ageOf, formatAge, serverNow, toLocal, wallClock } from './time.js';

const M = 60_000;
const H = 60 * M;

describe('formatAge', () => {
  it.each([
    [0, 'just now'],
    [59_999, 'just now'],
    [M, '1 min ago'],
    [59 * M + 59_000, '59 min ago'],
    [H, '1 h ago'],
    [H + 5 * M, '1 h 05 min ago'],
    [9 * H + 59 * M, '9 h 59 min ago'],
    [10 * H + 30 * M, '10 h ago'],
    [23 * H + 59 * M, '23 h ago'],
    [24 * H, '1 d ago'],
    [3 * 24 * H + 5 * H, '3 d ago'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });

  it('says "just now" for a time a little in the future (clocks differ) and for nonsense', () => {
    expect(formatAge(-30_000)).toBe('just now');
    expect(formatAge(Number.NaN)).toBe('just now');
  });

  it('measures from the server time, so a skewed local clock does not age requests', () => {
    const created = '2026-01-05T10:00:00.000Z';
    const local = Date.UTC(2026, 0, 5, 10, 0, 0) - 10 * M; // this laptop is 10 min slow
    expect(ageOf(created, serverNow({ now: local + 3 * M, serverOffsetMs: 10 * M }))).toBe('3 min ago');
  });
});

describe('wallClock', () => {
  const clock = wallClock('en-GB', 'UTC');
  const now = Date.UTC(2026, 0, 5, 10, 0, 0); // Monday

  it('shows only the time for today, the weekday within the week, the date beyond', () => {
    expect(clock.when(Date.UTC(2026, 0, 5, 14, 32), now)).toBe('14:32');
    expect(clock.when(Date.UTC(2026, 0, 6, 9, 5), now)).toBe('Tue 09:05');
    expect(clock.when(Date.UTC(2026, 0, 20, 9, 5), now)).toMatch(/^20 Jan,? 09:05$/);
    expect(clock.time(Date.UTC(2026, 0, 5, 14, 32, 7))).toBe('14:32:07');
  });

  it('writes hours the way the locale does', () => {
    expect(wallClock('en-US', 'UTC').when(Date.UTC(2026, 0, 5, 9, 47), now)).toBe('9:47 AM');
  });

  it('turns a server time into the local wall clock with the offset', () => {
    // The server is 2 min ahead of this machine: its 10:00 is 09:58 here.
    expect(clock.when(toLocal('2026-01-05T10:00:00Z', 2 * M), now)).toBe('09:58');
  });

  it('shows a dash for an unreadable time', () => {
    expect(clock.when(Number.NaN, now)).toBe('—');
  });
});
